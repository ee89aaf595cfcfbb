"""Service requests (RMs, advisers, branch managers) and entitlements administration
(admins): thin pages over ``portal.vip.service_requests`` and ``portal.vip.entitlements``."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable, Mapping

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from portal.pages import say
from portal.errors import DomainError, Forbidden, Invalid
from portal.extensions import db
from portal.labels import label
from portal.scope import customer_in_scope
from portal.vip import entitlements as ent
from portal.vip import service_requests as sr
from portal.vip.models import SERVICE_STATUSES
from portal.web import actor, current_scope

blueprint = Blueprint("service", __name__)
PER_PAGE = 20

# Domain errors worded per locale, by the rule they name (services speak English).
MESSAGES = {
    "tier": _l("Unknown tier %(tier)s."),
    "code": _l("The code must be 3 to 30 lower-case letters (a-z) or underscores."),
    "quota": _l("The yearly quota must be a whole number of at least 0, or empty for "
                "unlimited."),
    "sla": _l("The SLA must be a whole number of hours from 1 to %(maximum)s."),
    "exists": _l("The %(tier)s tier already has the entitlement %(code)s."),
    "entitlement": _l("Choose an entitlement."),
    "not_entitled": _l("Not entitled: the %(tier)s tier has no %(code)s."),
    "inactive": _l("Not entitled: %(code)s is suspended for the %(tier)s tier."),
    "quota_used_up": _l("Quota used up: all %(quota)s of %(code)s are used for %(year)s."),
    "note": _l("The note may have at most %(maximum)s characters."),
    "no_manager": _l("The customer has no relationship manager to serve the request."),
    "resolution": _l("The resolution may have at most %(maximum)s characters."),
    "reason_required": _l("A rejection needs a reason."),
    "transition": _l("A request that is %(current)s cannot become %(wanted)s."),
}


def tier_names() -> dict[str, str]:
    """Current tier code → name in the page's language (once per request)."""
    if "service_tier_names" not in g:
        g.service_tier_names = ent.tier_names(ent.current_tiers(db.session), str(get_locale()))
    return g.service_tier_names  # type: ignore[no-any-return]


def tier_name(code: str | None) -> str:
    return tier_names().get(code or "", code or "—")


def message_of(exc: DomainError) -> str:
    """The error in the page's language where its rule is known, else as raised."""
    template = MESSAGES.get(getattr(exc, "reason", ""))
    if template is None:
        return say(exc)
    params = dict(getattr(exc, "params", {}))
    if "tier" in params:
        params["tier"] = tier_name(params["tier"])
    for key in ("code", "current", "wanted"):
        if key in params:
            params[key] = label(params[key])
    return str(template) % params


@blueprint.app_template_global("service_panel")
def service_panel(customer_id: int) -> sr.ServicePanel:
    """The 360 page's service panel (included for RMs, advisers and branch managers)."""
    return sr.customer_service_panel(db.session, customer_id)


@blueprint.app_template_global("service_tier_name")
def service_tier_name(code: str | None) -> str:
    return tier_name(code)


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user.role != "admin":
            raise Forbidden(_("Entitlements are configured by administrators."))
        return view(*args, **kwargs)

    return wrapper


def _whole(raw: str | None, reason: str, blank_is_none: bool = False) -> int | None:
    """A whole number typed into a form; EntitlementInvalid naming ``reason`` if not."""
    raw = (raw or "").strip()
    if not raw and blank_is_none:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        params = {"maximum": ent.MAX_SLA_HOURS} if reason == "sla" else {}
        raise ent.EntitlementInvalid(reason, f"{reason}: not a whole number", **params)
    return int(raw)


# -- service requests ----------------------------------------------------------------

@blueprint.get("/service-requests")
@login_required
def index():  # type: ignore[no-untyped-def]
    scope = current_scope()
    sr.require_working(scope)
    filters = sr.RequestFilter.parse(request.args)
    page = _page(request.args)
    result = sr.list_requests(db.session, scope, filters, page=page, per_page=PER_PAGE)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("vip/service_index.html", result=result, filters=filters,
                           args=args, statuses=SERVICE_STATUSES, tiers=tier_names(),
                           codes=sorted({e.code for e in ent.configured(db.session)}))


def _page(args: Mapping[str, str]) -> int:
    raw = args.get("page") or "1"
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise Invalid(_("The page must be a whole number of at least 1."))
    return int(raw)


@blueprint.get("/service-requests/<int:request_id>")
@login_required
def detail(request_id: int):  # type: ignore[no-untyped-def]
    row = sr.get_request(db.session, current_scope(), request_id)
    return _detail_page(row)


def _detail_page(row: sr.RequestRow, error: str | None = None, status: int = 200,
                 resolution: str = "") -> Any:
    return render_template("vip/service_detail.html", row=row, error=error,
                           resolution=resolution,
                           next_statuses=sr.TRANSITIONS.get(row.request.status, ())), status


@blueprint.post("/service-requests/<int:request_id>/transition")
@login_required
def transition(request_id: int):  # type: ignore[no-untyped-def]
    scope = current_scope()
    wanted = request.form.get("status", "")
    resolution = request.form.get("resolution", "")
    try:
        moved = sr.transition(db.session, actor(), scope, request_id, wanted, resolution)
    except (sr.ServiceInvalid, sr.IllegalTransition) as exc:
        db.session.rollback()
        row = sr.get_request(db.session, scope, request_id)
        return _detail_page(row, message_of(exc), exc.status, resolution)
    flash(_("The request is now %(status)s.", status=label(moved.status)), "info")
    return redirect(url_for("service.detail", request_id=request_id))


@blueprint.get("/customers/<int:customer_id>/service-requests/new")
@login_required
def new(customer_id: int):  # type: ignore[no-untyped-def]
    return _new_page(customer_id)


def _new_page(customer_id: int, error: str | None = None, status: int = 200,
              chosen: str = "", note: str = "") -> Any:
    scope = current_scope()
    sr.require_working(scope)
    customer = customer_in_scope(db.session, scope, customer_id)
    panel = sr.customer_service_panel(db.session, customer.id)
    return render_template("vip/service_new.html", customer=customer, panel=panel,
                           choices=[e for e in panel.entitlements if e.available],
                           error=error, chosen=chosen, note=note), status


@blueprint.post("/customers/<int:customer_id>/service-requests")
@login_required
def create(customer_id: int):  # type: ignore[no-untyped-def]
    code = request.form.get("entitlement", "")
    note = request.form.get("note", "")
    try:
        raised = sr.raise_request(db.session, actor(), current_scope(), customer_id, code, note)
    except sr.ServiceInvalid as exc:
        db.session.rollback()
        return _new_page(customer_id, message_of(exc), 400, code, note)
    flash(_("Service request #%(id)s raised: %(entitlement)s, due %(due)s.", id=raised.id,
            entitlement=label(raised.entitlement_code),
            due=_format_due(raised.due_at)), "info")
    return redirect(url_for("customers.show", customer_id=customer_id) + "#service")


def _format_due(moment: Any) -> str:
    return format_datetime(moment, "short")


# -- entitlements administration -----------------------------------------------------

@blueprint.get("/admin/entitlements")
@admin_required
def entitlements():  # type: ignore[no-untyped-def]
    return _entitlements_page()


def _entitlements_page(error: str | None = None, status: int = 200,
                       form: Mapping[str, str] | None = None,
                       failed_id: int | None = None) -> Any:
    tiers = ent.current_tiers(db.session)
    by_tier: dict[str, list[Any]] = {t.code: [] for t in tiers}
    for entitlement in ent.configured(db.session):
        by_tier[entitlement.tier_code].append(entitlement)
    known = sorted({e.code for items in by_tier.values() for e in items})
    return render_template("vip/entitlements_admin.html", tiers=tiers, by_tier=by_tier,
                           names=tier_names(), known_codes=known, error=error,
                           form=form or {}, failed_id=failed_id,
                           max_sla=ent.MAX_SLA_HOURS), status


def _config_error(exc: DomainError, failed_id: int | None = None) -> Any:
    db.session.rollback()
    return _entitlements_page(message_of(exc), exc.status,
                              request.form if failed_id is None else None, failed_id)


@blueprint.post("/admin/entitlements")
@admin_required
def add_entitlement():  # type: ignore[no-untyped-def]
    form = request.form
    try:
        spec = ent.EntitlementSpec(
            tier_code=form.get("tier", ""), code=form.get("code", ""),
            yearly_quota=_whole(form.get("yearly_quota"), "quota", blank_is_none=True),
            sla_hours=_whole(form.get("sla_hours"), "sla"))  # type: ignore[arg-type]
        added = ent.add_entitlement(db.session, actor(), spec)
    except (ent.EntitlementInvalid, ent.EntitlementExists) as exc:
        return _config_error(exc)
    flash(_("%(entitlement)s added to the %(tier)s tier.", entitlement=label(added.code),
            tier=tier_name(added.tier_code)), "info")
    return redirect(url_for("service.entitlements") + f"#tier-{added.tier_code}")


@blueprint.post("/admin/entitlements/<int:entitlement_id>")
@admin_required
def update_entitlement(entitlement_id: int):  # type: ignore[no-untyped-def]
    form = request.form
    try:
        changed = ent.update_entitlement(
            db.session, actor(), entitlement_id,
            yearly_quota=_whole(form.get("yearly_quota"), "quota", blank_is_none=True),
            sla_hours=_whole(form.get("sla_hours"), "sla"))  # type: ignore[arg-type]
    except ent.EntitlementInvalid as exc:
        return _config_error(exc, entitlement_id)
    flash(_("%(entitlement)s of the %(tier)s tier saved.", entitlement=label(changed.code),
            tier=tier_name(changed.tier_code)), "info")
    return redirect(url_for("service.entitlements") + f"#tier-{changed.tier_code}")


@blueprint.post("/admin/entitlements/<int:entitlement_id>/<any(deactivate, reactivate):change>")
@admin_required
def set_active(entitlement_id: int, change: str):  # type: ignore[no-untyped-def]
    changed = ent.set_active(db.session, actor(), entitlement_id, change == "reactivate")
    message = (_("%(entitlement)s of the %(tier)s tier reactivated.") if changed.active
               else _("%(entitlement)s of the %(tier)s tier deactivated: no new requests."))
    flash(message % {"entitlement": label(changed.code), "tier": tier_name(changed.tier_code)},
          "info")
    return redirect(url_for("service.entitlements") + f"#tier-{changed.tier_code}")
