"""Tier reports: distribution per branch, migration matrix, value pyramid, drill-down."""
from __future__ import annotations

from flask import Blueprint


blueprint = Blueprint("vip", __name__)

# SKELETON: the helper that owns this module replaces these placeholder routes.


@blueprint.get("/vip")
def overview():  # type: ignore[no-untyped-def]
    return "not yet", 501
