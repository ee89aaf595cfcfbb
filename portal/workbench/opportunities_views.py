"""The opportunity pipeline: list, board, forecast."""
from __future__ import annotations

from flask import Blueprint


blueprint = Blueprint("pipeline", __name__)

# SKELETON: the helper that owns this module replaces these placeholder routes.


@blueprint.get("/pipeline/board")
def board():  # type: ignore[no-untyped-def]
    return "not yet", 501
