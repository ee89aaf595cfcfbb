"""The bell: notifications page, mark as read."""
from __future__ import annotations

from flask import Blueprint


blueprint = Blueprint("notifications", __name__)

# SKELETON: the helper that owns this module replaces these placeholder routes.


@blueprint.get("/notifications")
def index():  # type: ignore[no-untyped-def]
    return "not yet", 501
