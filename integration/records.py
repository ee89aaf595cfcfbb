"""Typed record values to and from JSON, for quarantined records that wait to be applied."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

DATE_FIELDS = frozenset({
    "birth_date", "id_expiry", "open_date", "kyc_review_due", "maturity_date",
    "valuation_date", "booking_date", "value_date", "date",
})
DECIMAL_FIELDS = frozenset({
    "to_cny", "min_amount", "expected_return", "annual_income", "balance", "interest_rate",
    "credit_limit", "units", "market_value", "cost", "amount",
})


def dumps(values: dict[str, Any]) -> str:
    def encode(value: Any) -> Any:
        if isinstance(value, (date, Decimal)):
            return str(value)
        raise TypeError(f"cannot store {type(value).__name__} in a quarantined record")

    return json.dumps(values, default=encode, ensure_ascii=False, sort_keys=True)


def loads(text: str) -> dict[str, Any]:
    values: dict[str, Any] = json.loads(text)
    for name, value in values.items():
        if value is None:
            continue
        if name in DATE_FIELDS:
            values[name] = date.fromisoformat(value)
        elif name in DECIMAL_FIELDS:
            values[name] = Decimal(value)
    return values
