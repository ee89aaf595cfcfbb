"""Tier reports: distribution per branch, migration matrix, value pyramid, drill-down."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, make_response, render_template, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from portal.customers.services import parse_int, round_money
from portal.errors import Invalid
from portal.extensions import db
from portal.pages import money
from portal.vip import pyramid, reports
from portal.vip.reports_charts import MEASURES, heatmap, pyramid_chart, stacked_bars
from portal.web import current_scope

blueprint = Blueprint("vip", __name__)
PER_PAGE = 20

LAYER_NAMES = {"platinum": _l("Platinum customers"), "gold": _l("Gold customers"),
               "iron": _l("Iron customers"), "lead": _l("Lead customers")}
NO_TIER_NAME = _l("No tier before")


@blueprint.context_processor
def formatting() -> dict[str, Any]:
    return {"amount": amount, "layer_name": layer_name, "month_text": reports.month_text,
            "NO_TIER": reports.NO_TIER}


def amount(value: Decimal | None) -> str:
    """Money on these pages: rounded by the one helper, then formatted for the locale."""
    return money(round_money(value)) if value is not None else "—"


def layer_name(code: str) -> str:
    return str(LAYER_NAMES.get(code, code))


def no_store(page: str) -> Any:
    """Pages that list customers are not kept by browsers or proxies."""
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/vip")
@login_required
def overview():  # type: ignore[no-untyped-def]
    scope = current_scope()
    measure = request.args.get("measure") or MEASURES[0]
    if measure not in MEASURES:
        raise Invalid(f"measure must be one of {', '.join(MEASURES)}")
    month = reports.parse_month(request.args.get("month"))
    distribution = reports.distribution(db.session, scope)
    migration = reports.migration(db.session, scope, month)
    value_pyramid = pyramid.pyramid(db.session, scope)
    locale = str(get_locale())
    tier_names = {t.code: t.name(locale) for t in distribution.tiers + migration.tiers}
    tier_names[reports.NO_TIER] = str(NO_TIER_NAME)
    return render_template(
        "vip/reports_overview.html", distribution=distribution, migration=migration,
        tier_names=tier_names,
        pyramid=value_pyramid, bars=stacked_bars(distribution, measure), measure=measure,
        heat=heatmap(migration), pyramid_chart=pyramid_chart(value_pyramid))


@blueprint.get("/vip/customers")
@login_required
def customers():  # type: ignore[no-untyped-def]
    scope = current_scope()
    drill = reports.Drill.parse(request.args)
    page = parse_int(request.args.get("page"), "page", 1)
    result = reports.drill_down(db.session, scope, drill, page, PER_PAGE)
    codes = {code for row in result.items for code in (row.tier, row.from_tier, row.to_tier)}
    codes |= {drill.tier, drill.from_tier, drill.to_tier}
    tiers = {t.code: t for t in reports.tier_catalogue(db.session, codes - {reports.NO_TIER})}
    return no_store(render_template("vip/reports_customers.html", result=result, drill=drill,
                                    tiers=tiers, no_tier_name=NO_TIER_NAME))
