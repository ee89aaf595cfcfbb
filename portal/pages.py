"""Page-side helpers: error pages from one handler, formatting for templates."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import Flask, render_template, request
from flask_babel import format_date, format_decimal, get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal.api.errors import json_error
from portal.auth.forms import EmptyForm
from portal.errors import DomainError
from portal.identifiers import mask_value
from portal.labels import label


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def register(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):  # type: ignore[no-untyped-def]
        if _wants_json():
            return json_error(exc.status, exc.code, exc.message)
        return render_template("error.html", status=exc.status, message=say(exc)), exc.status

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):  # type: ignore[no-untyped-def]
        message = _("The form expired or did not come from this site. Please try again.")
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        if _wants_json():
            return json_error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"),
                              exc.description or exc.name or "")
        return render_template("error.html", status=exc.code, message=exc.description), exc.code


def say(exc: DomainError) -> str:
    """A service's refusal in the reader's language (its English text where the catalogue
    has no translation)."""
    try:
        return _(exc.template, **exc.params) if exc.params else _(exc.template)
    except (KeyError, TypeError, ValueError):  # a translation that lost a placeholder
        return exc.message


def money(value: Decimal | int | float | None, digits: int = 2) -> str:
    """Amounts formatted for the page's locale, always with their decimals."""
    if value is None:
        return "—"
    return format_decimal(Decimal(value).quantize(Decimal(1).scaleb(-digits)),
                          format="#,##0." + "0" * digits)


def day(value: date | None) -> str:
    return format_date(value, format="medium") if value else "—"


def unread_notifications() -> int:
    """The bell's count for the signed-in user (one indexed count, only when shown)."""
    from flask_login import current_user

    from portal.extensions import db
    from portal.workbench.notifications import unread_count

    if not current_user.is_authenticated:
        return 0
    return unread_count(db.session, current_user.id)


def template_helpers() -> dict[str, Any]:
    return {"money": money, "day": day, "mask": mask_value, "locale": str(get_locale()),
            "empty_form": EmptyForm, "label": label,
            "unread_notifications": unread_notifications}
