"""Service requests (RMs, branch managers) and entitlements administration (admins)."""
from __future__ import annotations

from flask import Blueprint


blueprint = Blueprint("service", __name__)

# SKELETON: the helper that owns this module replaces these placeholder routes.


@blueprint.get("/service-requests")
def index():  # type: ignore[no-untyped-def]
    return "not yet", 501


@blueprint.get("/admin/entitlements")
def entitlements():  # type: ignore[no-untyped-def]
    return "not yet", 501
