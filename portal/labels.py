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
}


def label(code: str | None) -> str:
    """The translated name of a code; an unknown code is shown as it is."""
    if not code:
        return "—"
    found = LABELS.get(code)
    return str(found) if found is not None else code
