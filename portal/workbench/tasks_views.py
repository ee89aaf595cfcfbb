"""Task pages: the day's agenda, the task list, new task, completing a task."""
from __future__ import annotations

from flask import Blueprint


blueprint = Blueprint("tasks", __name__)

# SKELETON: the helper that owns this module replaces these placeholder routes.


@blueprint.get("/agenda")
def agenda():  # type: ignore[no-untyped-def]
    return "not yet", 501


@blueprint.get("/tasks")
def index():  # type: ignore[no-untyped-def]
    return "not yet", 501
