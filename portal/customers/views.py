"""Customer pages: search, the customer 360 view, and revealing a masked identifier."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, g, make_response, render_template, request
from flask_babel import format_date
from flask_login import login_required

from integration.adapters.cbs import TRANSACTION_TYPES
from portal.customers import services
from portal.customers.charts import flow_chart
from portal.extensions import db
from portal.pages import money
from portal.web import actor, current_scope
from portal.vip.panel import customer_tier_panel
from portal.workbench.panels import customer_panels

# Its own stylesheet, served by the app (no CDN), under a path of its own.
blueprint = Blueprint("customers", __name__, static_folder="static",
                      static_url_path="/customers/static")
SEARCH_PER_PAGE = 20
TRANSACTIONS_PER_PAGE = 20
FILTER_ARGS = ("date_from", "date_to", "direction", "type", "min_amount")


@blueprint.context_processor
def formatting() -> dict[str, Any]:
    return {"amount": amount, "month_label": month_label}


def amount(value: Decimal | None) -> str:
    """Money on these pages: rounded by the one helper, then formatted for the locale."""
    return money(services.round_money(value)) if value is not None else "—"


def month_label(month: date) -> str:
    return format_date(month, format="MMM yy")


def no_store(page: str) -> Any:
    """Pages with personal data are not kept by browsers or proxies."""
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/")
@login_required
def search():  # type: ignore[no-untyped-def]
    q = (request.args.get("q") or "").strip()
    page = services.parse_int(request.args.get("page"), "page", 1)
    rows: list[services.SearchRow] = []
    total = 0
    if q:
        rows, total = services.search_customers(db.session, current_scope(), q, page,
                                                SEARCH_PER_PAGE)
    pages = max(1, -(-total // SEARCH_PER_PAGE))
    return render_template("customers/search.html", q=q, rows=rows, total=total, page=page,
                           pages=pages)


@blueprint.get("/customers/<int:customer_id>")
@login_required
def show(customer_id: int):  # type: ignore[no-untyped-def]
    scope = current_scope()
    view = services.view_customer(
        db.session, scope, actor(), customer_id, channel="page",
        as_of=services.parse_date(request.args.get("as_of") or None, "as_of"),
        filters=services.TransactionFilter.parse(request.args),
        page=services.parse_int(request.args.get("page"), "page", 1),
        per_page=TRANSACTIONS_PER_PAGE)
    filter_args = {k: request.args[k] for k in FILTER_ARGS if request.args.get(k)}
    return no_store(render_template(
        "customers/show.html", view=view, chart=flow_chart(view.flows),
        can_reveal=scope.can_reveal, transaction_types=sorted(TRANSACTION_TYPES),
        filter_args=filter_args, panels=customer_panels(db.session, view.id),
        tier=customer_tier_panel(db.session, view.id),
        works_with_customers=scope.kind in ("book", "branches")))


@blueprint.post("/customers/<int:customer_id>/reveal/<any(id_number, mobile):field>")
@login_required
def reveal(customer_id: int, field: str):  # type: ignore[no-untyped-def]
    g.commit_on_error = True  # a refused reveal stays in the audit log
    value = services.reveal_identifier(db.session, current_scope(), actor(), customer_id,
                                       field, channel="page")
    return no_store(render_template("customers/reveal.html", customer_id=customer_id,
                                    field=field, value=value))
