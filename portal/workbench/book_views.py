"""The book of business (saved views, Excel export, bulk reassignment) and the team view."""
from __future__ import annotations

from flask import Blueprint


blueprint = Blueprint("book", __name__)

# SKELETON: the helper that owns this module replaces these placeholder routes.


@blueprint.get("/book")
def book():  # type: ignore[no-untyped-def]
    return "not yet", 501


@blueprint.get("/team")
def team():  # type: ignore[no-untyped-def]
    return "not yet", 501
