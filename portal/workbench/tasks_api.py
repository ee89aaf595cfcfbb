"""Tasks as JSON under /api/v1 (bearer tokens), scoped like the pages."""
from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, jsonify, request

from portal.api.auth import api_user, token_required
from portal.api.openapi import PAGE_PARAMETERS, _error_responses, _page_of, register_path
from portal.customers.services import parse_int
from portal.errors import Invalid
from portal.extensions import csrf, db
from portal.models import User
from portal.scope import scope_for
from portal.workbench import reasons, tasks
from portal.workbench.models import PRIORITIES, RECURRENCES, TASK_KINDS, TASK_STATUSES, Task

blueprint = Blueprint("tasks_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies

DEFAULT_PER_PAGE = 20
CREATE_FIELDS = {"title", "customer_id", "assignee", "due_date", "priority", "note",
                 "recurrence"}
CHANGE_FIELDS = {"status", "outcome", "due_date", "priority", "assignee"}


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")


def _string(body: dict[str, Any], name: str, choices: tuple[str, ...] | None = None
            ) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string")
    if choices is not None and value not in choices:
        raise Invalid(f"{name} must be one of {', '.join(choices)}")
    return value


def _date(body: dict[str, Any], name: str) -> date | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a date (YYYY-MM-DD)")
    return tasks.parse_day(value, name)


def _customer_id(body: dict[str, Any]) -> int | None:
    value = body.get("customer_id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**31:
        raise Invalid("customer_id must be a customer id (a positive integer)")
    return value


def task_json(task: Task, customer_name: str | None = None,
              assignee_name: str | None = None) -> dict[str, Any]:
    """A task as the API answers it: the reason as data and worded in the caller's
    language."""
    return {
        "id": task.id, "kind": task.kind, "title": task.title, "status": task.status,
        "priority": task.priority, "due_date": task.due_date.isoformat(),
        "customer_id": task.customer_id, "customer_name": customer_name,
        "assignee": task.assignee_staff_id, "assignee_name": assignee_name,
        "branch": task.branch_code, "note": task.note, "recurrence": task.recurrence,
        "reason": task.reason, "why": reasons.describe(task.reason),
        "outcome": task.outcome,
        "created_at": task.created_at.isoformat() if task.created_at else None,
        "completed_at": task.completed_at.isoformat() if task.completed_at else None,
    }


def _row_json(row: tasks.TaskRow) -> dict[str, Any]:
    return task_json(row.task, row.customer_name, row.assignee_name)


def _one(user: User, task_id: int, status: int = 200, **extra: Any) -> Any:
    row = tasks.task_row(db.session, scope_for(db.session, user), task_id)
    response = jsonify(_row_json(row) | extra)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/tasks")
@token_required
def index():  # type: ignore[no-untyped-def]
    page = parse_int(request.args.get("page"), "page", 1)
    per_page = parse_int(request.args.get("per_page"), "per_page", DEFAULT_PER_PAGE)
    result = tasks.list_tasks(db.session, scope_for(db.session, api_user()),
                              tasks.TaskFilter.parse(request.args), page, per_page)
    response = jsonify(items=[_row_json(row) for row in result.items], total=result.total,
                       page=result.page, per_page=result.per_page)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/tasks")
@token_required
def create():  # type: ignore[no-untyped-def]
    body = _body()
    _only(body, CREATE_FIELDS)
    user = api_user()
    due_date = _date(body, "due_date")
    if due_date is None:
        raise Invalid("due_date is required")
    task = tasks.create_task(
        db.session, scope_for(db.session, user), user, title=body.get("title"),
        due_date=due_date, day=tasks.today(), customer_id=_customer_id(body),
        assignee=_string(body, "assignee"),
        priority=_string(body, "priority", PRIORITIES) or "normal", note=body.get("note"),
        recurrence=_string(body, "recurrence", RECURRENCES))
    return _one(user, task.id, 201)


@blueprint.get("/tasks/<int:task_id>")
@token_required
def show(task_id: int):  # type: ignore[no-untyped-def]
    return _one(api_user(), task_id)


@blueprint.patch("/tasks/<int:task_id>")
@token_required
def change(task_id: int):  # type: ignore[no-untyped-def]
    body = _body()
    _only(body, CHANGE_FIELDS)
    if not body:
        raise Invalid("nothing to change")
    user = api_user()
    scope = scope_for(db.session, user)
    status = _string(body, "status", ("done", "cancelled"))
    extra: dict[str, Any] = {}
    if status is not None:
        others = sorted(set(body) - {"status", "outcome"})
        if others:
            raise Invalid(f"change {others[0]} and the status in separate requests")
        if status == "done":
            done = tasks.complete_task(db.session, scope, user, task_id, body.get("outcome"))
            extra["next_task_id"] = done.next_task.id if done.next_task else None
        else:
            tasks.cancel_task(db.session, scope, user, task_id, body.get("outcome"))
    else:
        if "outcome" in body:
            raise Invalid("an outcome goes with status done or cancelled")
        tasks.update_task(db.session, scope, user, task_id, day=tasks.today(),
                          due_date=_date(body, "due_date"),
                          priority=_string(body, "priority", PRIORITIES),
                          assignee=_string(body, "assignee"))
    return _one(user, task_id, **extra)


# -- OpenAPI ---------------------------------------------------------------------------

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_DATE = {"type": "string", "format": "date"}
_TASK_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}

TASK_SCHEMA = {
    "type": "object",
    "required": ["id", "kind", "title", "status", "priority", "due_date", "customer_id",
                 "assignee", "reason", "why"],
    "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string", "enum": list(TASK_KINDS)},
        "title": _STRING, "status": {"type": "string", "enum": list(TASK_STATUSES)},
        "priority": {"type": "string", "enum": list(PRIORITIES)}, "due_date": _DATE,
        "customer_id": {"type": ["integer", "null"]}, "customer_name": _NULLABLE_STRING,
        "assignee": {**_STRING, "description": "The assignee's staff id"},
        "assignee_name": _NULLABLE_STRING, "branch": _NULLABLE_STRING,
        "note": _NULLABLE_STRING,
        "recurrence": {"type": ["string", "null"], "enum": [*RECURRENCES, None]},
        "reason": {"type": ["object", "null"], "additionalProperties": True,
                   "description": "Why the task exists: {\"rule\": kind, …figures}"},
        "why": {**_STRING, "description": "The reason worded in the caller's language "
                                          "(Accept-Language: zh-CN or en)"},
        "outcome": _NULLABLE_STRING,
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "completed_at": {"type": ["string", "null"], "format": "date-time"},
        "next_task_id": {"type": ["integer", "null"],
                         "description": "After completing a recurring task: its next "
                                        "occurrence"},
    },
}

_FILTERS = [
    {"name": "status", "in": "query",
     "schema": {"type": "string", "enum": list(tasks.STATUS_FILTERS), "default": "open"}},
    {"name": "kind", "in": "query", "schema": {"type": "string", "enum": list(TASK_KINDS)}},
    {"name": "due_from", "in": "query", "schema": _DATE},
    {"name": "due_to", "in": "query", "schema": _DATE},
    {"name": "customer", "in": "query", "schema": {"type": "integer"},
     "description": "Customer id"},
    {"name": "assignee", "in": "query", "schema": _STRING,
     "description": "Assignee's staff id (branch managers)"},
]

register_path("/tasks", {
    "get": {
        "summary": "Tasks in your scope",
        "description": "An RM's or adviser's own tasks; a branch manager's those of their "
                       "branches; none for analysts and admins. Soonest due first.",
        "parameters": [*_FILTERS, *PAGE_PARAMETERS],
        "responses": {"200": {"description": "A page of tasks", "content": {
            "application/json": {"schema": _page_of(TASK_SCHEMA)}}},
            **_error_responses(400, 401)}},
    "post": {
        "summary": "Create a task",
        "description": "For a customer in your scope (or none). An RM assigns to "
                       "themself; a branch manager to an active RM or adviser of their "
                       "branches, who is notified.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["title", "due_date"],
            "additionalProperties": False,
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": tasks.MAX_TITLE},
                "customer_id": {"type": ["integer", "null"]},
                "assignee": {**_NULLABLE_STRING,
                             "description": "Staff id (default: yourself)"},
                "due_date": {**_DATE, "description": "Today or later"},
                "priority": {"type": "string", "enum": list(PRIORITIES),
                             "default": "normal"},
                "note": {"type": ["string", "null"], "maxLength": tasks.MAX_NOTE},
                "recurrence": {"type": ["string", "null"], "enum": [*RECURRENCES, None]},
            }}}}},
        "responses": {"201": {"description": "The task", "content": {
            "application/json": {"schema": TASK_SCHEMA}}},
            **_error_responses(400, 401, 403, 404)}},
})

register_path("/tasks/{id}", {
    "get": {
        "summary": "One task",
        "parameters": [_TASK_ID],
        "responses": {"200": {"description": "The task", "content": {
            "application/json": {"schema": TASK_SCHEMA}}},
            **_error_responses(401, 404)}},
    "patch": {
        "summary": "Complete, cancel or change an open task",
        "description": "Either {\"status\": \"done\", \"outcome\": …} (outcome required; a "
                       "recurring task gets its next occurrence on the series' schedule, "
                       "skipping occurrences already past), or {\"status\": \"cancelled\", \"outcome\": optional reason}, "
                       "or any of due_date, priority and assignee (branch managers). A task "
                       "that is no longer open answers 409.",
        "parameters": [_TASK_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": {
                "status": {"type": "string", "enum": ["done", "cancelled"]},
                "outcome": {"type": "string", "maxLength": tasks.MAX_OUTCOME},
                "due_date": _DATE,
                "priority": {"type": "string", "enum": list(PRIORITIES)},
                "assignee": {**_STRING, "description": "Staff id (branch managers)"},
            }}}}},
        "responses": {"200": {"description": "The task after the change", "content": {
            "application/json": {"schema": TASK_SCHEMA}}},
            **_error_responses(400, 401, 403, 404, 409)}},
})
