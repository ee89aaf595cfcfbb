"""Tier rules administration (admins): versions, thresholds, evaluation on demand."""
from __future__ import annotations

from flask import Blueprint


blueprint = Blueprint("vip_rules", __name__)

# SKELETON: the helper that owns this module replaces these placeholder routes.


@blueprint.get("/admin/tiers")
def rules():  # type: ignore[no-untyped-def]
    return "not yet", 501
