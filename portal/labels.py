"""Readable, translated names for the feed's codes (RESIDENT_ID, SAVINGS, CARD_SPEND, …)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

LABELS = {
    # genders
    "M": _l("Male"), "F": _l("Female"), "U": _l("Unknown"),
    # identity documents
    "RESIDENT_ID": _l("Resident ID card"), "PASSPORT": _l("Passport"),
    "HK_MACAO_PERMIT": _l("Hong Kong/Macao permit"), "TAIWAN_PERMIT": _l("Taiwan permit"),
    "OTHER": _l("Other"),
    # statuses
    "ACTIVE": _l("Active"), "DORMANT": _l("Dormant"), "CLOSED": _l("Closed"),
    "FROZEN": _l("Frozen"),
    # account types
    "CURRENT": _l("Current"), "SAVINGS": _l("Savings"), "TIME_DEPOSIT": _l("Time deposit"),
    "LOAN": _l("Loan"), "CREDIT_CARD": _l("Credit card"),
    # product categories
    "DEPOSIT": _l("Deposit"), "CARD": _l("Card"), "FUND": _l("Fund"), "WEALTH": _l("Wealth product"),
    "INSURANCE": _l("Insurance"), "BOND": _l("Bond"),
    # transaction types
    "CASH_DEPOSIT": _l("Cash deposit"), "CASH_WITHDRAWAL": _l("Cash withdrawal"),
    "TRANSFER_IN": _l("Transfer in"), "TRANSFER_OUT": _l("Transfer out"),
    "PAYMENT": _l("Payment"), "PURCHASE": _l("Purchase"), "REDEMPTION": _l("Redemption"),
    "INTEREST": _l("Interest"), "FEE": _l("Fee"), "LOAN_REPAYMENT": _l("Loan repayment"),
    "CARD_SPEND": _l("Card spending"),
    # channels
    "COUNTER": _l("Counter"), "ATM": _l("ATM"), "MOBILE": _l("Mobile banking"),
    "ONLINE": _l("Online banking"), "POS": _l("POS"), "AUTO": _l("Automatic"),
    # workbench: task kinds, statuses, priorities, recurrences
    "manual": _l("Task"), "follow_up": _l("Follow-up"), "handover": _l("Hand-over"),
    "td_maturity": _l("Time deposit maturing"), "birthday": _l("Birthday"),
    "kyc_review": _l("KYC review due"), "id_expiry": _l("ID document expiring"),
    "large_flow": _l("Large inflow or outflow"), "dormancy": _l("Dormant customer"),
    "retention": _l("Retention"),
    "open": _l("Open"), "done": _l("Done"), "cancelled": _l("Cancelled"),
    "superseded": _l("No longer applies: the bank's data changed"),
    "high": _l("High"), "normal": _l("Normal"), "low": _l("Low"),
    "weekly": _l("Weekly"), "monthly": _l("Monthly"), "quarterly": _l("Quarterly"),
    "yearly": _l("Yearly"),
    # contacts: channels and purposes
    "visit": _l("Visit"), "call": _l("Call"), "meeting": _l("Meeting"), "message": _l("Message"),
    "relationship": _l("Relationship care"), "service": _l("Service"), "sales": _l("Sales"),
    "review": _l("Portfolio review"), "kyc": _l("KYC update"), "complaint": _l("Complaint"),
    "other": _l("Other"),
    # opportunity stages and reasons for losing
    "lead": _l("Lead"), "contacted": _l("Contacted"), "needs_analysis": _l("Needs analysis"),
    "proposal": _l("Proposal"), "won": _l("Won"), "lost": _l("Lost"),
    "price": _l("Price"), "competitor": _l("Went to a competitor"),
    "not_suitable": _l("Not suitable"), "no_need": _l("No need"),
    "no_response": _l("No response"),
    # VIP: entitlements, service request statuses, tier decision outcomes
    "dedicated_rm": _l("Dedicated relationship manager"), "fee_waiver": _l("Fee waivers"),
    "priority_queue": _l("Priority queue"), "airport_lounge": _l("Airport lounge visit"),
    "health_check": _l("Health check"), "birthday_gift": _l("Birthday gift"),
    "airport_transfer": _l("Airport transfer"),
    "in_progress": _l("In progress"), "fulfilled": _l("Fulfilled"), "rejected": _l("Rejected"),
    "new": _l("New"), "upgrade": _l("Upgrade"), "downgrade": _l("Downgrade"),
    "held": _l("Held"), "unchanged": _l("Unchanged"), "pinned": _l("Pinned"),
    "pin_expired": _l("Pin expired"),
}


def label(code: str | None) -> str:
    """The translated name of a code; an unknown code is shown as it is."""
    if not code:
        return "—"
    found = LABELS.get(code)
    return str(found) if found is not None else code
