"""Contact log pages and the contact policy (admins)."""
from __future__ import annotations

from flask import Blueprint


blueprint = Blueprint("contacts", __name__)

# SKELETON: the helper that owns this module replaces these placeholder routes.


@blueprint.get("/admin/contact-policy")
def policy():  # type: ignore[no-untyped-def]
    return "not yet", 501
