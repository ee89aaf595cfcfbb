"""Entitlements and service requests as JSON under /api/v1."""
from __future__ import annotations

from flask import Blueprint

from portal.extensions import csrf

blueprint = Blueprint("service_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies

# SKELETON: the helper that owns this module replaces these placeholder routes.
