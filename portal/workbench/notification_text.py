"""What a notification says, in the reader's language, and which page it opens.

A notification stores its kind and parameters (portal.workbench.notifications); it is
worded here, when shown, so the same row reads in Chinese or English."""
from __future__ import annotations

from typing import Any, Callable

from flask import url_for
from flask_babel import gettext as _
from flask_babel import get_locale, ngettext

from portal.workbench.models import Notification


def _number(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _count(params: dict[str, Any]) -> int:
    return _number(params.get("count"))


def _text(value: Any, default: str = "—") -> str:
    return str(value) if value not in (None, "") else default


def _assigned(p: dict[str, Any]) -> str:
    count, by, reason = _count(p), _text(p.get("by")), _text(p.get("reason"))
    if count == 1 and p.get("customer"):
        return _("%(by)s assigned %(customer)s to you (reason: %(reason)s). A hand-over task "
                 "is on your list.", by=by, customer=p["customer"], reason=reason)
    return ngettext("%(by)s assigned %(num)d customer to you (reason: %(reason)s). A "
                    "hand-over task is on your list.",
                    "%(by)s assigned %(num)d customers to you (reason: %(reason)s). Their "
                    "hand-over tasks are on your list.", count, by=by, reason=reason)


def _reassigned_away(p: dict[str, Any]) -> str:
    count, by, reason = _count(p), _text(p.get("by")), _text(p.get("reason"))
    to = _text(p.get("to"))
    if count == 1 and p.get("customer"):
        return _("%(by)s moved %(customer)s to %(to)s (reason: %(reason)s). Their open "
                 "tasks and opportunities went along.", by=by, customer=p["customer"], to=to,
                 reason=reason)
    return ngettext("%(by)s moved %(num)d of your customers to %(to)s (reason: %(reason)s).",
                    "%(by)s moved %(num)d of your customers to %(to)s (reason: %(reason)s).",
                    count, by=by, to=to, reason=reason)


def _tasks_generated(p: dict[str, Any]) -> str:
    return ngettext("%(num)d new task was generated for you from the overnight data.",
                    "%(num)d new tasks were generated for you from the overnight data.",
                    _count(p))


def _task_assigned(p: dict[str, Any]) -> str:
    return _("%(by)s gave you a task: %(title)s", by=_text(p.get("by")),
             title=_text(p.get("title")))


def _book_joined(p: dict[str, Any]) -> str:
    if _count(p) == 1 and p.get("customer"):
        return _("The bank's records now name you as the RM of %(customer)s; their open "
                 "work is yours.", customer=p["customer"])
    return ngettext("The bank's records now name you as the RM of %(num)d customer; their "
                    "open work is yours.",
                    "The bank's records now name you as the RM of %(num)d customers; their "
                    "open work is yours.", _count(p))


def _book_left(p: dict[str, Any]) -> str:
    if _count(p) == 1 and p.get("customer"):
        return _("The bank's records name another RM for %(customer)s; their open work "
                 "went along.", customer=p["customer"])
    return ngettext("The bank's records name another RM for %(num)d of your customers; "
                    "their open work went along.",
                    "The bank's records name another RM for %(num)d of your customers; "
                    "their open work went along.", _count(p))


def _opportunity_confirmed(p: dict[str, Any]) -> str:
    return _("The feeds confirm the win of %(product)s for %(customer)s.",
             product=_text(p.get("product")), customer=_text(p.get("customer")))


def _tier_name(p: dict[str, Any], which: str) -> str | None:
    """A tier's name in the reader's language (the notification carries both)."""
    locale = get_locale()
    language = "zh" if locale is not None and locale.language == "zh" else "en"
    return p.get(f"{which}_{language}") or p.get(which)


def _tier_changed(p: dict[str, Any]) -> str:
    if p.get("customer"):
        old, new = _tier_name(p, "from"), _text(_tier_name(p, "to"))
        if not old:
            return _("%(customer)s entered tier %(new)s.", customer=p["customer"], new=new)
        return _("%(customer)s moved from tier %(old)s to tier %(new)s.",
                 customer=p["customer"], old=old, new=new)
    return _("Tier changes of %(month)s among your customers: %(up)d up, %(down)d down.",
             month=_text(p.get("month")), up=_number(p.get("upgrades")),
             down=_number(p.get("downgrades")))


WORDING: dict[str, Callable[[dict[str, Any]], str]] = {
    "assigned": _assigned, "reassigned_away": _reassigned_away,
    "book_joined": _book_joined, "book_left": _book_left,
    "tasks_generated": _tasks_generated, "task_assigned": _task_assigned,
    "opportunity_confirmed": _opportunity_confirmed,
    "tier_changed": _tier_changed,
}


def describe(notification: Notification) -> str:
    """The notification as a sentence in the current locale."""
    wording = WORDING.get(notification.kind)
    if wording is None:
        return _("Notification: %(kind)s", kind=notification.kind)
    return wording(notification.params or {})


def link(notification: Notification) -> str:
    """The page the notification is about: a task, a customer, or the day's agenda."""
    params = notification.params or {}
    task_id = notification.task_id if notification.task_id is not None else params.get("task_id")
    if task_id is not None:
        return url_for("tasks.show", task_id=task_id)
    # A customer moved away is no longer in the reader's scope: a 404 helps no one.
    if notification.customer_id is not None and notification.kind not in ("reassigned_away",
                                                                          "book_left"):
        return url_for("customers.show", customer_id=notification.customer_id)
    if notification.kind == "opportunity_confirmed":
        return url_for("pipeline.board")
    return url_for("tasks.agenda")
