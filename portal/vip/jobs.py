"""The VIP service's part of the nightly run (integration.jobs): importing this module
registers its jobs, in the order they must run (after the workbench's customer metrics)."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from integration.jobs import NightlyJob, register_nightly


# The tier engine: add the business date to the monthly AUM aggregates (after the
# customer metrics, order 10, which it reads), then, once the business date is in a new
# month, evaluate the month before it.
def add_business_date(session: Session, business_date: date) -> dict[str, Any]:
    from portal.vip.aum import add_day

    return add_day(session, business_date, _margins())


def evaluate_previous_month(session: Session, business_date: date) -> dict[str, Any]:
    from portal.vip.evaluation import evaluate_due

    return evaluate_due(session, business_date)


def _margins() -> Any:
    """The configured interest margins (the app's, when the job runs inside one)."""
    from flask import current_app, has_app_context

    from config import BaseConfig
    from portal.vip.aum import Margins

    return Margins.from_config(current_app.config if has_app_context()
                               else {"DEPOSIT_MARGIN": BaseConfig.DEPOSIT_MARGIN,
                                     "LOAN_MARGIN": BaseConfig.LOAN_MARGIN})


register_nightly(NightlyJob("tier_aum", add_business_date, order=40))
register_nightly(NightlyJob("tier_evaluation", evaluate_previous_month, order=45))


# What follows the month's evaluation, for the latest evaluated month: retention tasks (every
# night: a fall in today's AUM can still raise one) and RM notifications, then the value
# pyramid (recomputed only after a new evaluation). Both are idempotent.
def tier_followups(session: Session, business_date: date) -> dict[str, Any]:
    from portal.vip.followups import run_followups

    return run_followups(session, business_date)


def value_pyramid(session: Session, business_date: date) -> dict[str, Any]:
    from portal.vip.pyramid import refresh_pyramid

    return refresh_pyramid(session, business_date)


register_nightly(NightlyJob("tier_followups", tier_followups, order=80))
register_nightly(NightlyJob("value_pyramid", value_pyramid, order=81))
