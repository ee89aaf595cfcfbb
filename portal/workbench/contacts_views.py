"""Contact log pages (log a contact from the 360 page, the log itself) and the contact
policy (admins)."""
from __future__ import annotations

from datetime import tzinfo
from functools import wraps
from typing import Any, Callable
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Optional

from integration.db import utcnow
from portal.pages import say
from portal.errors import DomainError, Forbidden
from portal.extensions import db
from portal.labels import label
from portal.models import User
from portal.scope import customer_in_scope
from portal.web import actor, current_scope
from portal.workbench import contact_policy, contacts
from portal.workbench.models import CONTACT_CHANNELS, CONTACT_PURPOSES

blueprint = Blueprint("contacts", __name__)
PER_PAGE = 20

# The services' rules, worded for people (the API answers with the services' own text).
CONTACT_MESSAGES = {
    "future": ("contacted_at", _l("The contact cannot be in the future.")),
    "too_old": ("contacted_at", _l("The contact cannot be more than one year ago.")),
    "channel": ("channel", _l("Choose a channel.")),
    "purpose": ("purpose", _l("Choose a purpose.")),
    "outcome_required": ("outcome", _l("Describe the outcome of the contact.")),
    "outcome_too_long": ("outcome", _l("The outcome may have at most %(num)d characters.",
                                       num=contacts.MAX_OUTCOME)),
    "next_step_too_long": ("next_step", _l("The next step may have at most %(num)d characters.",
                                           num=contacts.MAX_NEXT_STEP)),
    "follow_up_due": ("follow_up_due",
                      _l("The follow-up cannot be due before the date of the contact.")),
    "follow_up_past": ("follow_up_due", _l("The follow-up cannot be due in the past.")),
    "follow_up_title_required": ("follow_up_title",
                                 _l("Give the follow-up task a title, or write a next step.")),
    "follow_up_title_too_long": ("follow_up_title",
                                 _l("The title may have at most %(num)d characters.", num=200)),
    "follow_up_no_assignee": ("follow_up", _l(
        "The customer has no active RM or adviser in your branches to give the follow-up "
        "task to.")),
}
POLICY_MESSAGES = {
    "min_aum": _l("The minimum AUM must be an amount of at least 0 with at most 2 decimal "
                  "places."),
    "interval_days": _l("The interval must be a whole number of days from 1 to %(max)d.",
                        max=contact_policy.MAX_INTERVAL_DAYS),
    "duplicate": _l("A band with this minimum AUM already exists."),
}


def bank_zone() -> tzinfo:
    """The bank's time zone (BABEL_DEFAULT_TIMEZONE), as zoneinfo: pytz zones must not be
    attached with replace()."""
    return ZoneInfo(str(get_timezone()))


def no_store(body: str, status: int = 200) -> Any:
    """Pages with personal data are not kept by browsers or proxies."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined, no-any-return]


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user.role != "admin":
            raise Forbidden(_("Only administrators manage the contact policy."))
        return view(*args, **kwargs)
    return wrapper


# -- logging a contact -----------------------------------------------------------------

class ContactForm(FlaskForm):
    contacted_at = DateTimeLocalField(
        _l("Date and time"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[InputRequired(message=_l("Enter the date and time of the contact."))])
    channel = SelectField(_l("Channel"), validate_choice=False)
    purpose = SelectField(_l("Purpose"), validate_choice=False)
    outcome = TextAreaField(_l("Outcome"))
    next_step = TextAreaField(_l("Next step"))
    follow_up = BooleanField(_l("Create a follow-up task"))
    follow_up_due = DateField(_l("Follow-up due on"), validators=[Optional()])
    follow_up_title = StringField(_l("Follow-up title"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel.choices = [(c, label(c)) for c in CONTACT_CHANNELS]
        self.purpose.choices = [(p, label(p)) for p in CONTACT_PURPOSES]

    def new_contact(self, customer_id: int) -> contacts.NewContact:
        follow_up = None
        if self.follow_up.data:
            assert self.follow_up_due.data is not None
            follow_up = contacts.FollowUp(self.follow_up_due.data, self.follow_up_title.data)
        return contacts.NewContact(
            customer_id=customer_id, contacted_at=self.contacted_at.data, channel=self.channel.data,
            purpose=self.purpose.data, outcome=self.outcome.data or "",
            next_step=self.next_step.data, follow_up=follow_up)

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if self.follow_up.data and self.follow_up_due.data is None \
                and not self.follow_up_due.errors:
            self.follow_up_due.errors.append(_("Enter the date the follow-up is due."))
            valid = False
        return valid

    def refuse(self, exc: contacts.ContactInvalid) -> None:
        """Show a service's refusal next to its field."""
        field, message = CONTACT_MESSAGES.get(exc.reason, ("outcome", say(exc)))
        errors = self[field].errors
        if isinstance(errors, tuple):  # a field that was not validated
            self[field].errors = errors = list(errors)
        errors.append(str(message))


@blueprint.route("/customers/<int:customer_id>/contacts/new", methods=["GET", "POST"])
@login_required
def new(customer_id: int):  # type: ignore[no-untyped-def]
    scope = current_scope()
    if scope.kind not in contacts.WORKING_SCOPES:
        raise Forbidden(_("Only relationship managers, advisers and branch managers log "
                          "contacts."))
    customer = customer_in_scope(db.session, scope, customer_id)
    form = ContactForm()
    status = 200
    if request.method == "GET":
        form.contacted_at.data = utcnow().astimezone(bank_zone()).replace(
            second=0, microsecond=0, tzinfo=None)
    elif form.validate_on_submit():
        try:
            logged = contacts.log_contact(db.session, scope, user(),
                                          form.new_contact(customer.id), zone=bank_zone())
        except contacts.ContactInvalid as exc:
            form.refuse(exc)
            status = 400
        else:
            flash(_("Contact logged; follow-up task created.") if logged.follow_up
                  else _("Contact logged."), "info")
            return redirect(url_for("customers.show", customer_id=customer.id)
                            + "#contacts")
    else:
        status = 400
    return no_store(render_template("workbench/contacts_new.html", form=form,
                                    customer=customer), status)


# -- the log ---------------------------------------------------------------------------

@blueprint.get("/contacts")
@login_required
def index():  # type: ignore[no-untyped-def]
    filters = contacts.ContactFilter.parse(request.args)
    page = contacts.search_contacts(
        db.session, current_scope(), filters,
        page=_page_number(request.args.get("page")), per_page=PER_PAGE, zone=bank_zone(),
        actor=actor())
    return no_store(render_template(
        "workbench/contacts_index.html", result=page, filters=filters,
        channels=CONTACT_CHANNELS, purposes=CONTACT_PURPOSES))


def _page_number(raw: str | None) -> int:
    from portal.customers.services import parse_int

    return parse_int(raw, "page", 1)


# -- the contact policy (admins) -------------------------------------------------------

class BandForm(FlaskForm):
    min_aum = DecimalField(_l("Minimum AUM (CNY)"), places=None, validators=[
        InputRequired(message=_l("Enter the minimum AUM."))])
    interval_days = IntegerField(_l("Contact every (days)"), validators=[
        InputRequired(message=_l("Enter the interval in days."))])


class IntervalForm(FlaskForm):
    interval_days = IntegerField(_l("Contact every (days)"), validators=[
        InputRequired(message=_l("Enter the interval in days."))])


def _policy_page(add_form: BandForm | None = None, error: str | None = None,
                 failed_band: int | None = None, status: int = 200) -> Any:
    return make_response(render_template(
        "workbench/contacts_policy.html", rows=contact_policy.policy_rows(db.session),
        add_form=add_form or BandForm(formdata=None), error=error, failed_band=failed_band,
        max_interval=contact_policy.MAX_INTERVAL_DAYS), status)


def _refusal(exc: DomainError) -> str:
    reason = getattr(exc, "reason", None)
    return str(POLICY_MESSAGES[reason]) if reason in POLICY_MESSAGES else say(exc)


def _form_errors(form: FlaskForm) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@blueprint.get("/admin/contact-policy")
@admin_required
def policy():  # type: ignore[no-untyped-def]
    return _policy_page()


@blueprint.post("/admin/contact-policy")
@admin_required
def add_band():  # type: ignore[no-untyped-def]
    form = BandForm()
    if not form.validate_on_submit():
        return _policy_page(form, _form_errors(form), status=400)
    try:
        contact_policy.add_band(db.session, actor(), form.min_aum.data, form.interval_days.data)
    except (contact_policy.PolicyInvalid, contact_policy.DuplicateBand) as exc:
        return _policy_page(form, _refusal(exc), status=exc.status)
    flash(_("Band added."), "info")
    return redirect(url_for("contacts.policy"))


@blueprint.post("/admin/contact-policy/<int:band_id>")
@admin_required
def change_band(band_id: int):  # type: ignore[no-untyped-def]
    form = IntervalForm()
    if not form.validate_on_submit():
        return _policy_page(error=_form_errors(form), failed_band=band_id, status=400)
    try:
        contact_policy.change_interval(db.session, actor(), band_id, form.interval_days.data)
    except contact_policy.PolicyInvalid as exc:
        return _policy_page(error=_refusal(exc), failed_band=band_id, status=exc.status)
    flash(_("Interval changed."), "info")
    return redirect(url_for("contacts.policy"))


@blueprint.post("/admin/contact-policy/<int:band_id>/remove")
@admin_required
def remove_band(band_id: int):  # type: ignore[no-untyped-def]
    from portal.auth.forms import EmptyForm

    if not EmptyForm().validate_on_submit():
        return _policy_page(error=_("The form expired. Please try again."), status=400)
    contact_policy.remove_band(db.session, actor(), band_id)
    flash(_("Band removed."), "info")
    return redirect(url_for("contacts.policy"))
