"""Tier rules, evaluation and customer tiers as JSON under /api/v1."""
from __future__ import annotations

from flask import Blueprint

from portal.extensions import csrf

blueprint = Blueprint("tiers_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies

# SKELETON: the helper that owns this module replaces these placeholder routes.
