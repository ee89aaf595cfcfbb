"""The opportunity pipeline's pages: the list, the board (drag a card to move it; every
card also has a plain form), a new opportunity from the customer 360 page, one
opportunity (edit, move, history) and the forecast."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import wraps
from typing import Any, Callable

from babel.dates import format_skeleton

from flask import (
    Blueprint,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from integration.bank_calendar import bank_today
from portal.api.errors import json_error
from portal.customers.services import parse_int, round_money
from portal.errors import DomainError, Forbidden
from portal.extensions import db
from portal.labels import label
from portal.models import User
from portal.pages import money
from portal.pages import say as pages_say
from portal.scope import Scope, customer_in_scope
from portal.web import current_scope
from portal.workbench import forecast as forecasting
from portal.workbench import opportunities as pipeline
from portal.workbench.models import LOST_REASONS, OPEN_STAGES, STAGES

blueprint = Blueprint("pipeline", __name__)
PER_PAGE = 20


def user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined, no-any-return]


def works_pipeline(view: Callable[..., Any]) -> Callable[..., Any]:
    """Signed in as an RM, adviser or branch manager; the view gets the scope."""
    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scope = current_scope()
        if scope.kind not in pipeline.WORKING_SCOPES:
            raise Forbidden(_("Only relationship managers, advisers and branch managers work "
                              "with opportunities."))
        return view(scope, *args, **kwargs)
    return wrapper


def message(exc: DomainError) -> str:
    """A service's refusal in the reader's language (its messages are in the catalogue)."""
    return pages_say(exc)


def no_store(body: str, status: int = 200) -> Any:
    """Pages with customers' names are not kept by browsers or proxies."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def amount(value: Any) -> str:
    return money(round_money(value)) if value is not None else "—"


def month_label(first_day: date) -> str:
    return format_skeleton("yMMM", first_day, locale=get_locale())


def percent(value: Decimal) -> str:
    return f"{int(value * 100)}%"


def when(value: datetime) -> str:
    """A moment in the bank's time zone, in the reader's format."""
    return format_datetime(value, "short")


def plain_amount(value: Decimal) -> str:
    """An amount as an input field shows it: 2 decimals, no grouping."""
    return str(round_money(value))


@blueprint.context_processor
def formatting() -> dict[str, Any]:
    return {"amount": amount, "month_label": month_label, "percent": percent, "when": when,
            "plain_amount": plain_amount,
            "stages": STAGES, "open_stages": OPEN_STAGES, "lost_reasons": LOST_REASONS,
            "probability": pipeline.PROBABILITY, "allowed_moves": pipeline.allowed_moves}


def _back(default: str) -> str:
    """Where a form came from, if it is one of the pipeline's own pages."""
    target = request.form.get("next") or ""
    if target.startswith("/pipeline") and not target.startswith("//"):
        return target
    return default


# -- list and board ----------------------------------------------------------------------

def _filter_choices(scope: Scope) -> dict[str, Any]:
    return {"products": pipeline.products_on_offer(db.session),
            "owners": pipeline.owners_in_scope(db.session, scope)
            if scope.kind == "branches" else []}


@blueprint.get("/pipeline")
@works_pipeline
def index(scope: Scope):  # type: ignore[no-untyped-def]
    filters = pipeline.OpportunityFilter.parse(request.args)
    result = pipeline.search(db.session, scope, filters,
                             parse_int(request.args.get("page"), "page", 1), PER_PAGE)
    return no_store(render_template("workbench/pipeline_list.html", result=result,
                                    filters=filters, **_filter_choices(scope)))


@blueprint.get("/pipeline/board")
@works_pipeline
def board(scope: Scope):  # type: ignore[no-untyped-def]
    filters = pipeline.OpportunityFilter.parse(request.args)
    columns = pipeline.board(db.session, scope, filters)
    return no_store(render_template("workbench/pipeline_board.html", columns=columns,
                                    filters=filters, closed_days=pipeline.BOARD_CLOSED_DAYS,
                                    **_filter_choices(scope)))


# -- one opportunity ---------------------------------------------------------------------

@blueprint.route("/pipeline/new", methods=["GET", "POST"])
@works_pipeline
def new(scope: Scope):  # type: ignore[no-untyped-def]
    source = request.form if request.method == "POST" else request.args
    raw_customer = source.get("customer_id") or ""
    customer = None
    if raw_customer:
        customer = customer_in_scope(db.session, scope,
                                     parse_int(raw_customer, "customer_id", 0))
    error, status = None, 200
    if request.method == "POST" and customer is not None:
        try:
            created = pipeline.create_opportunity(
                db.session, scope, user(), customer_id=customer.id,
                product_code=request.form.get("product"), amount=request.form.get("amount"),
                expected_close=request.form.get("expected_close"),
                note=request.form.get("note"), owner_staff_id=request.form.get("owner"))
        except DomainError as exc:
            db.session.rollback()
            error, status = message(exc), exc.status
        else:
            flash(_("Opportunity created."), "info")
            return redirect(url_for("pipeline.show", opportunity_id=created.id))
    elif request.method == "POST":
        error, status = _("Open the customer first, then choose New opportunity."), 400
    return no_store(render_template(
        "workbench/pipeline_new.html", customer=customer, error=error, form=source,
        today=bank_today(), **_filter_choices(scope)), status)


def _show(scope: Scope, opportunity_id: int, error: str | None = None,
          status: int = 200) -> Any:
    row = pipeline.row(db.session, scope, opportunity_id)
    return no_store(render_template(
        "workbench/pipeline_show.html", o=row, error=error,
        history=pipeline.history(db.session, opportunity_id),
        form=request.form if error else None, today=bank_today(),
        **_filter_choices(scope)), status)


@blueprint.get("/pipeline/<int:opportunity_id>")
@works_pipeline
def show(scope: Scope, opportunity_id: int):  # type: ignore[no-untyped-def]
    return _show(scope, opportunity_id)


@blueprint.post("/pipeline/<int:opportunity_id>")
@works_pipeline
def edit(scope: Scope, opportunity_id: int):  # type: ignore[no-untyped-def]
    form = request.form
    changes: dict[str, Any] = {"note": form.get("note", "")}
    current = pipeline.get_opportunity(db.session, scope, opportunity_id)
    if current.stage in OPEN_STAGES:
        changes.update(amount=form.get("amount"), expected_close=form.get("expected_close"))
        if scope.kind == "branches" and form.get("owner"):
            changes["owner_staff_id"] = form.get("owner")
    try:
        pipeline.edit_opportunity(db.session, scope, user(), opportunity_id, **changes)
    except DomainError as exc:
        db.session.rollback()
        return _show(scope, opportunity_id, message(exc), exc.status)
    flash(_("Opportunity saved."), "info")
    return redirect(url_for("pipeline.show", opportunity_id=opportunity_id))


def _columns_json(scope: Scope, filters: pipeline.OpportunityFilter) -> dict[str, Any]:
    totals = pipeline.board_totals(db.session, scope, filters)
    return {stage: {"count": totals.get(stage, (0, 0))[0],
                    "amount": amount(totals.get(stage, (0, pipeline.ZERO))[1])}
            for stage in STAGES}


@blueprint.post("/pipeline/<int:opportunity_id>/stage")
@works_pipeline
def move(scope: Scope, opportunity_id: int):  # type: ignore[no-untyped-def]
    """Move to another stage: a JSON body from the board's script (answered in JSON), or
    a plain form (answered with a redirect back)."""
    wants_json = request.is_json
    data = request.get_json(silent=True) if wants_json else request.form
    if not isinstance(data, dict) and not hasattr(data, "get"):
        data = {}
    try:
        # The board's filters (in the query string) decide the columns' new totals.
        filters = pipeline.OpportunityFilter.parse(request.args)
        moved = pipeline.move_stage(db.session, scope, user(), opportunity_id,
                                    data.get("stage"), lost_reason=data.get("lost_reason") or None,
                                    lost_note=data.get("lost_note") or None)
    except DomainError as exc:
        db.session.rollback()
        if wants_json:
            return json_error(exc.status, exc.code, message(exc))
        if exc.status == 404:
            raise
        flash(message(exc), "error")
        return redirect(_back(url_for("pipeline.board")))
    if wants_json:
        row = pipeline.row(db.session, scope, moved.id)
        card = render_template("workbench/pipeline_card.html", o=row,
                               next_url=url_for("pipeline.board", **filters.args()))
        response = jsonify(id=moved.id, stage=moved.stage, confirmed=moved.confirmed_at
                           is not None, card=card, columns=_columns_json(scope, filters))
        response.headers["Cache-Control"] = "no-store"
        return response
    if moved.stage == "won" and moved.confirmed_at is not None:
        flash(_("Marked as won; the feeds already confirm it."), "info")
    elif moved.stage == "won":
        flash(_("Marked as won; awaiting confirmation from the feeds."), "info")
    else:
        flash(_("Opportunity moved."), "info")
    return redirect(_back(url_for("pipeline.board")))


# -- forecast ----------------------------------------------------------------------------

@blueprint.get("/pipeline/forecast")
@works_pipeline
def forecast(scope: Scope):  # type: ignore[no-untyped-def]
    result = forecasting.forecast(db.session, scope)
    stages = ", ".join(f"{label(s)} {percent(pipeline.PROBABILITY[s])}" for s in OPEN_STAGES)
    return no_store(render_template("workbench/pipeline_forecast.html", f=result,
                                    is_manager=scope.kind == "branches",
                                    forecast_stages=stages))
