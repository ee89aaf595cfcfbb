"""The bell: the signed-in user's notifications, opening one, marking them read."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, ngettext
from flask_login import current_user, login_required

from portal.customers.services import parse_int
from portal.errors import Invalid
from portal.extensions import db
from portal.workbench import notifications
from portal.workbench.notification_text import describe, link

blueprint = Blueprint("notifications", __name__)
PER_PAGE = 30


def _filters() -> dict[str, Any]:
    """The page and filter the list was showing (kept across a POST and its redirect)."""
    unread = request.args.get("unread") or ""
    if unread not in ("", "1"):
        raise Invalid("unread must be 1 or left out")
    return {"page": parse_int(request.args.get("page"), "page", 1),
            **({"unread": "1"} if unread else {})}


def _back() -> Any:
    return redirect(url_for("notifications.index", **_filters()))


@blueprint.get("/notifications")
@login_required
def index():  # type: ignore[no-untyped-def]
    filters = _filters()
    items, total = notifications.page_of(db.session, current_user.id, filters["page"],
                                         PER_PAGE, unread_only="unread" in filters)
    rows = [{"id": n.id, "text": describe(n), "unread": n.read_at is None,
             "created_at": n.created_at, "when": format_datetime(n.created_at, "short")}
            for n in items]
    return render_template(
        "workbench/notifications.html", rows=rows, total=total, filters=filters,
        page=filters["page"], pages=max(1, -(-total // PER_PAGE)),
        unread=notifications.unread_count(db.session, current_user.id))


@blueprint.post("/notifications/<int:notification_id>/open")
@login_required
def open_one(notification_id: int):  # type: ignore[no-untyped-def]
    found = notifications.open_one(db.session, current_user.id, notification_id)
    return redirect(link(found))


@blueprint.post("/notifications/<int:notification_id>/read")
@login_required
def mark_read(notification_id: int):  # type: ignore[no-untyped-def]
    notifications.mark_read(db.session, current_user.id, notification_id)
    return _back()


@blueprint.post("/notifications/read-all")
@login_required
def mark_all_read():  # type: ignore[no-untyped-def]
    count = notifications.mark_read(db.session, current_user.id)
    flash(ngettext("%(num)d notification marked as read.",
                   "%(num)d notifications marked as read.", count), "info")
    return _back()
