"""Tier rules administration (admins): the rules in force with the history of versions,
editing them (each save writes a new version), evaluating a month on demand; and the
branch managers' pin form for a customer's tier."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from functools import wraps
from typing import Any, Callable

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField
from wtforms import TextAreaField
from wtforms.validators import InputRequired, NumberRange

from integration.bank_calendar import add_months, bank_today
from integration.queries import latest_business_date
from portal.pages import say
from portal.auth.forms import EmptyForm
from portal.errors import Conflict, Forbidden
from portal.extensions import db
from portal.labels import label
from portal.vip import evaluation, explain, pins, rules
from portal.web import actor, current_scope

blueprint = Blueprint("vip_rules", __name__)
FORM_MONTHS = 12

# The services' rules, worded for people (the API answers with the services' own text).
RULE_MESSAGES = {
    "window": _l("The window must be from 1 to 12 months."),
    "grace": _l("The grace period must be from 0 to 12 months."),
    "note": _l("The note may have at most 500 characters."),
    "code": _l("A tier code is 2 to 20 lower-case letters, digits or underscores."),
    "name": _l("Every tier needs an English and a Chinese name of at most 60 characters."),
    "combine": _l("Choose whether all conditions or any one of them must be met."),
    "contribution": _l("A minimum contribution must be above 0, or left empty."),
    "products": _l("A minimum product count must be from 1 to 100, or left empty."),
    "duplicate_rank": _l("Tier ranks must be unique."),
    "base": _l("The base tier has no minimum: average daily AUM 0 and no other condition."),
    "increasing": _l("Each tier's minimum average daily AUM must be above the one of the "
                     "tier below it."),
    "unchanged": _l("Nothing was changed, so no new version was written."),
    "amount": _l("Amounts are numbers with at most 4 decimals."),
    "amount_required": _l("Enter the minimum average daily AUM of every tier."),
    "amount_range": _l("Amounts must be from 0 to 1,000,000,000,000."),
    "number": _l("Product counts and ranks are whole numbers."),
    "duplicate_code": _l("Each tier needs a code of its own."),
    "too_many": _l("There can be at most %(num)d tiers.", num=rules.MAX_TIERS),
}
PIN_MESSAGES = {
    "tier": _l("Choose a tier of the current rules."),
    "reason_required": _l("Give the reason for the pin."),
    "reason_too_long": _l("The reason may have at most 500 characters."),
    "expires_required": _l("Enter the date the pin expires."),
    "expires_past": _l("The pin must expire after today."),
    "expires_far": _l("A pin lasts at most 12 months."),
}


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user.role != "admin":
            raise Forbidden(_("Only administrators manage the tier rules."))
        return view(*args, **kwargs)
    return wrapper


def branch_manager_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user.role != "branch_manager":
            raise Forbidden(_("Only branch managers pin tiers."))
        return view(*args, **kwargs)
    return wrapper


# -- the rules (admins) ---------------------------------------------------------------------

class RulesForm(FlaskForm):
    based_on = HiddenField()
    window_months = IntegerField(_l("Window (months)"), validators=[
        InputRequired(message=_l("Enter the window in months.")), NumberRange(1, 12)])
    grace_months = IntegerField(_l("Grace period (months)"), validators=[
        InputRequired(message=_l("Enter the grace period in months.")), NumberRange(0, 12)])
    note = StringField(_l("Note"))


class EvaluateForm(FlaskForm):
    month = SelectField(_l("Month"), validate_choice=False)


NEW = "new"  # the field prefix of the row that adds a tier
NEW_FIELDS = ("code", "name_en", "name_zh", "min_adb", "min_contribution", "min_products")


def _tier_from_form(prefix: str, code: str, rank: int) -> rules.TierSpec:
    form = request.form
    field = f"{prefix}-"
    min_adb = rules.amount(form.get(field + "min_adb"), "min_adb", code)
    assert min_adb is not None
    return rules.TierSpec(
        code=code, rank=rank,
        name_en=form.get(field + "name_en", ""), name_zh=form.get(field + "name_zh", ""),
        min_adb=min_adb,
        min_contribution=rules.amount(form.get(field + "min_contribution"),
                                      "min_contribution", code, optional=True),
        min_products=rules.whole(form.get(field + "min_products"), "min_products", code,
                                 optional=True),
        combine=form.get(field + "combine", "all"))


def _tiers_from_form(current: rules.RuleSet) -> list[rules.TierSpec]:
    """The tiers as edited on the page: a row of fields per tier of the current rules
    (less those marked to retire), and the row that adds one, placed among them by its
    minimum average daily AUM; ranks follow the order (the service checks the rest)."""
    form = request.form
    tiers = [_tier_from_form(t.code, t.code, t.rank) for t in current.tiers
             if t.is_base or not form.get(f"{t.code}-retire")]
    if any((form.get(f"{NEW}-{name}") or "").strip() for name in NEW_FIELDS):
        code = (form.get(f"{NEW}-code") or "").strip()
        new = _tier_from_form(NEW, code, len(tiers))
        place = next((i for i, t in enumerate(tiers) if i and t.min_adb >= new.min_adb),
                     len(tiers))
        tiers.insert(place, new)
    return [replace(t, rank=rank) for rank, t in enumerate(tiers)]


def _months(today: date) -> list[date]:
    """Months an admin may evaluate: complete months, not before the latest evaluated."""
    last = evaluation.default_month(today)
    latest = evaluation.latest_evaluated(db.session)
    months = [add_months(last, -k) for k in range(FORM_MONTHS)]
    return [m for m in months if latest is None or m >= latest]


def _rules_page(form: RulesForm | None = None, error: str | None = None,
                failed_tier: str | None = None, status: int = 200) -> Any:
    current = rules.current(db.session)
    today = latest_business_date(db.session)
    months = _months(today)
    evaluate_form = EvaluateForm(formdata=None)
    evaluate_form.month.choices = [(m.strftime("%Y-%m"), m.strftime("%Y-%m")) for m in months]
    latest = evaluation.latest_evaluated(db.session)
    if form is None:
        form = RulesForm(formdata=None, based_on=current.id,
                         window_months=current.version.window_months,
                         grace_months=current.version.grace_months)
    return make_response(render_template(
        "vip/rules_index.html", current=current, versions=rules.versions(db.session),
        form=form, values=request.form if error else None, error=error,
        failed_tier=failed_tier, evaluate_form=evaluate_form, business_date=today,
        latest=latest, summary=evaluation.summary(db.session, latest) if latest else None,
        tier_name=_tier_name, plain=_plain), status)


def _plain(value: Any) -> str:
    """An amount for an input field: 50000, 1234.5 (no exponent, no trailing zeros)."""
    return "" if value is None else format(value.normalize(), "f")


def _tier_name(tier: rules.TierSpec) -> str:
    return tier.name_zh if explain._chinese() else tier.name_en


def _refusal(exc: rules.RulesInvalid) -> str:
    text = str(RULE_MESSAGES.get(exc.reason, say(exc)))
    return f"{text} ({exc.tier})" if exc.tier and exc.reason in RULE_MESSAGES else text


@blueprint.get("/admin/tiers", endpoint="rules")  # (the function's name is the module's)
@admin_required
def rules_page():  # type: ignore[no-untyped-def]
    return _rules_page()


@blueprint.post("/admin/tiers")
@admin_required
def save_rules():  # type: ignore[no-untyped-def]
    form = RulesForm()
    if not form.validate_on_submit():
        errors = " ".join(str(e) for messages in form.errors.values() for e in messages)
        return _rules_page(form, errors, status=400)
    current = rules.current(db.session)
    try:
        proposal = rules.Proposal(_tiers_from_form(current), form.window_months.data,
                                  form.grace_months.data, form.note.data)
        based_on = int(form.based_on.data) if (form.based_on.data or "").isdigit() else None
        created = rules.create_version(db.session, actor(), proposal, based_on)
    except rules.RulesInvalid as exc:
        return _rules_page(form, _refusal(exc), exc.tier, status=400)
    except Conflict as exc:  # a tier customers hold, or another admin saved meanwhile
        return _rules_page(form, say(exc), status=409)
    flash(_("Rules version %(version)s saved. Evaluate a month to apply it.",
            version=created.id), "info")
    return redirect(url_for("vip_rules.rules"))


@blueprint.post("/admin/tiers/evaluate")
@admin_required
def evaluate():  # type: ignore[no-untyped-def]
    form = EvaluateForm()
    if not form.validate_on_submit():
        return _rules_page(error=_("The form expired. Please try again."), status=400)
    month = evaluation.parse_month(form.month.data)
    today = latest_business_date(db.session)
    result = evaluation.evaluate(db.session, month or evaluation.default_month(today),
                                 business_date=today, actor=actor())
    changes = sum(result.counts.get(o, 0) for o in ("upgrade", "downgrade"))
    flash(ngettext("%(month)s evaluated under rules version %(version)s: %(num)d customer, "
                   "%(changes)s tier changes.",
                   "%(month)s evaluated under rules version %(version)s: %(num)d customers, "
                   "%(changes)s tier changes.", result.customers,
                   month=result.month.strftime("%Y-%m"), version=result.version,
                   changes=changes), "info")
    return redirect(url_for("vip_rules.rules"))


# -- pins (branch managers) -----------------------------------------------------------------

class PinForm(FlaskForm):
    tier = SelectField(_l("Tier"), validate_choice=False)
    reason = TextAreaField(_l("Reason"), validators=[
        InputRequired(message=_l("Give the reason for the pin."))])
    expires = DateField(_l("Expires on"), validators=[
        InputRequired(message=_l("Enter the date the pin expires."))])


def _pin_page(customer_id: int, form: PinForm | None = None, error: str | None = None,
              status: int = 200) -> Any:
    view = pins.view_tier(db.session, current_scope(), actor(), customer_id, channel="page")
    current = rules.current(db.session)
    form = form or PinForm(formdata=None, tier=view.current.pinned_tier or view.current.tier_code
                           if view.current else None)
    form.tier.choices = [(t.code, _tier_name(t)) for t in reversed(current.tiers)]
    response = make_response(render_template(
        "vip/rules_pin.html", view=view, form=form, error=error,
        why=lambda decision: explain.describe(explain.of(decision)),
        tier_label=lambda code, version: explain.tier_name({"version": version}, code),
        earliest=bank_today() + timedelta(days=1),
        latest=add_months(bank_today(), pins.MAX_MONTHS),
        outcome=label), status)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/customers/<int:customer_id>/tier/pin")
@branch_manager_required
def pin_form(customer_id: int):  # type: ignore[no-untyped-def]
    return _pin_page(customer_id)


@blueprint.post("/customers/<int:customer_id>/tier/pin")
@branch_manager_required
def pin(customer_id: int):  # type: ignore[no-untyped-def]
    form = PinForm()
    if not form.validate_on_submit():
        errors = " ".join(str(e) for messages in form.errors.values() for e in messages)
        return _pin_page(customer_id, form, errors, status=400)
    try:
        pins.pin(db.session, current_scope(), actor(), customer_id, form.tier.data,
                 form.reason.data, form.expires.data, bank_today())
    except pins.PinInvalid as exc:
        return _pin_page(customer_id, form, str(PIN_MESSAGES.get(exc.reason, say(exc))),
                         status=400)
    flash(_("Tier pinned. The next evaluation keeps it until the pin expires."), "info")
    return redirect(url_for("vip_rules.pin_form", customer_id=customer_id))


@blueprint.post("/customers/<int:customer_id>/tier/unpin")
@branch_manager_required
def unpin(customer_id: int):  # type: ignore[no-untyped-def]
    if not EmptyForm().validate_on_submit():
        return _pin_page(customer_id, error=_("The form expired. Please try again."),
                         status=400)
    pins.unpin(db.session, current_scope(), actor(), customer_id)
    flash(_("Pin removed. The next evaluation applies the figures."), "info")
    return redirect(url_for("vip_rules.pin_form", customer_id=customer_id))
