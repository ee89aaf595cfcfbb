"""Masking of personal identifiers: one rule for pages, API and exports."""
from __future__ import annotations

from integration.identity import mask

MASKED_FIELDS = ("id_number", "mobile")


def mask_value(value: str | None) -> str | None:
    """110***********0011 for an ID number, 138****5678 for a mobile."""
    return mask(value) if value else value
