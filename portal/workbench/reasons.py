"""Why a task exists, in the reader's language.

A task's ``reason`` is {"rule": code, …figures}; it is stored as data and worded only when
shown (pages and API alike), so each reader sees it in their own locale. A rule this module
does not know is shown as its code; a reason with unexpected figures falls back to the
rule's label rather than failing the page."""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Callable


def _day(value: Any) -> str:
    from portal.pages import day

    return day(date.fromisoformat(value))


def _money(value: Any) -> str:
    from portal.customers.services import round_money
    from portal.pages import money

    return money(round_money(Decimal(str(value))))


def _is_past(value: Any) -> bool:
    from flask_babel import get_timezone

    from portal.workbench.tasks import today

    return date.fromisoformat(value) < today(get_timezone())


def _td_maturity(r: dict[str, Any], _: Callable[..., str]) -> str:
    return _("Time deposit %(account)s of %(currency)s %(balance)s matures on %(date)s",
             account=r["account"], currency=r["currency"], balance=_money(r["balance"]),
             date=_day(r["maturity"]))


def _birthday(r: dict[str, Any], _: Callable[..., str]) -> str:
    if r.get("age") is not None:
        return _("Birthday on %(date)s (turns %(age)s)", date=_day(r["date"]), age=r["age"])
    return _("Birthday on %(date)s", date=_day(r["date"]))


def _kyc_review(r: dict[str, Any], _: Callable[..., str]) -> str:
    if _is_past(r["due"]):
        return _("KYC review was due on %(date)s", date=_day(r["due"]))
    return _("KYC review due on %(date)s", date=_day(r["due"]))


def _id_expiry(r: dict[str, Any], _: Callable[..., str]) -> str:
    if _is_past(r["expiry"]):
        return _("ID document expired on %(date)s", date=_day(r["expiry"]))
    return _("ID document expires on %(date)s", date=_day(r["expiry"]))


def _large_flow(r: dict[str, Any], _: Callable[..., str]) -> str:
    figures = {"currency": r["currency"], "amount": _money(abs(Decimal(str(r["amount"])))),
               "account": r["account"], "date": _day(r["date"])}
    text = (_("Inflow of %(currency)s %(amount)s to account %(account)s on %(date)s", **figures)
            if r["direction"] == "in" else
            _("Outflow of %(currency)s %(amount)s from account %(account)s on %(date)s",
              **figures))
    if r["currency"] != "CNY" and r.get("amount_cny") is not None:
        text += " " + _("(CNY %(amount)s)", amount=_money(abs(Decimal(str(r["amount_cny"])))))
    return text


def _dormancy(r: dict[str, Any], _: Callable[..., str]) -> str:
    if r.get("last"):
        return _("No customer-initiated transaction since %(date)s", date=_day(r["last"]))
    return _("No customer-initiated transaction since the account was opened")


def _follow_up(r: dict[str, Any], _: Callable[..., str]) -> str:
    return _("Next step agreed in a contact with the customer")


def _handover(r: dict[str, Any], _: Callable[..., str]) -> str:
    from flask_babel import ngettext

    text = (_("Handed over from %(staff)s: %(reason)s", staff=r["from"], reason=r["reason"])
            if r.get("from") else _("Handed over: %(reason)s", reason=r["reason"]))
    contacts = int(r.get("contacts") or 0)
    if contacts:
        text += " " + ngettext("(%(num)d recent contact summarised)",
                               "(%(num)d recent contacts summarised)", contacts)
    return text


def _tier_name(r: dict[str, Any]) -> str:
    """The tier's name in the reader's language (the reason carries both)."""
    from flask_babel import get_locale

    locale = get_locale()
    language = "zh" if locale is not None and locale.language == "zh" else "en"
    return str(r.get(f"tier_{language}") or r["tier"])


def _retention(r: dict[str, Any], _: Callable[..., str]) -> str:
    figures = {"adb": _money(r["adb"]), "tier": _tier_name(r),
               "threshold": _money(r["threshold"]), "month": r["month"]}
    if Decimal(str(r["adb"])) < Decimal(str(r["threshold"])):
        text = _("Average daily AUM of CNY %(adb)s (%(month)s) is below the %(tier)s "
                 "threshold of CNY %(threshold)s: the tier is held by the grace period",
                 **figures)
    else:
        text = _("Average daily AUM of CNY %(adb)s (%(month)s) is within %(margin)s%% above "
                 "the %(tier)s threshold of CNY %(threshold)s", margin=r["margin_percent"],
                 **figures)
    if r.get("aum") is not None:
        return text + "; " + _("AUM is falling, CNY %(aum)s today", aum=_money(r["aum"]))
    return text + "; " + _("AUM is falling")


RULES: dict[str, Callable[[dict[str, Any], Callable[..., str]], str]] = {
    "td_maturity": _td_maturity, "birthday": _birthday, "kyc_review": _kyc_review,
    "id_expiry": _id_expiry, "large_flow": _large_flow, "dormancy": _dormancy,
    "follow_up": _follow_up, "handover": _handover, "retention": _retention,
}


def describe(reason: dict[str, Any] | None) -> str:
    """The reason worded in the current locale ("" for a task without one)."""
    if not isinstance(reason, dict) or not reason.get("rule"):
        return ""
    from flask_babel import gettext

    rule = str(reason["rule"])
    wording = RULES.get(rule)
    if wording is None:
        return rule
    try:
        return wording(reason, gettext)
    except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError):
        from portal.labels import label

        return label(rule)
