"""Field conversions shared by every adapter: one place for what a valid value is."""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from integration.adapters.base import RecordInvalid

MAX_FRACTION_DIGITS = 4
_INTEGER = re.compile(r"-?[0-9]+\Z")  # not str.isdigit(): it accepts '²'.


def text(values: dict[str, str | None], name: str, required: bool = False,
         max_len: int = 200) -> str | None:
    value = values.get(name)
    if value is not None:
        value = value.strip()
    if not value:
        if required:
            raise RecordInvalid(f"{name} is required")
        return None
    if len(value) > max_len:
        raise RecordInvalid(f"{name} is longer than {max_len} characters")
    return value


def day(values: dict[str, str | None], name: str, required: bool = False) -> date | None:
    raw = text(values, name, required)
    if raw is None:
        return None
    if len(raw) != 10:
        raise RecordInvalid(f"{name} {raw!r} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise RecordInvalid(f"{name} {raw!r} is not a date (YYYY-MM-DD)") from None


def amount(values: dict[str, str | None], name: str, required: bool = False,
           max_fraction: int = MAX_FRACTION_DIGITS) -> Decimal | None:
    raw = text(values, name, required)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise RecordInvalid(f"{name} {raw!r} is not a decimal amount") from None
    if not value.is_finite() or "e" in raw.lower():
        raise RecordInvalid(f"{name} {raw!r} is not a decimal amount")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > max_fraction:
        raise RecordInvalid(f"{name} {raw!r} has more than {max_fraction} fraction digits")
    if abs(value) >= Decimal(10) ** 16:
        raise RecordInvalid(f"{name} {raw!r} is out of range")
    return value


def integer(values: dict[str, str | None], name: str, required: bool = False) -> int | None:
    raw = text(values, name, required)
    if raw is None:
        return None
    if not _INTEGER.match(raw) or len(raw) > 9:
        raise RecordInvalid(f"{name} {raw!r} is not an integer")
    return int(raw)


def choice(values: dict[str, str | None], name: str, allowed: frozenset[str],
           required: bool = False) -> str | None:
    raw = text(values, name, required)
    if raw is None:
        return None
    if raw not in allowed:
        raise RecordInvalid(f"{name} {raw!r} is not one of {', '.join(sorted(allowed))}")
    return raw


def currency(values: dict[str, str | None], name: str, required: bool = False) -> str | None:
    raw = text(values, name, required)
    if raw is None:
        return None
    if len(raw) != 3 or not raw.isalpha() or not raw.isupper():
        raise RecordInvalid(f"{name} {raw!r} is not an ISO 4217 currency code")
    return raw
