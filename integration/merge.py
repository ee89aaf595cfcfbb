"""Survivorship for the golden record: which source's value wins, and where it came from."""
from __future__ import annotations

from datetime import date
from typing import Any

from integration.identity import IdentityDocument

PREFERRED_SOURCE = "CBS"  # wins ties on business date

# Golden-record column ← record value name.
SIMPLE_FIELDS = {
    "name": "name", "gender": "gender", "birth_date": "birth_date", "mobile": "mobile",
    "email": "email", "address": "address", "occupation": "occupation",
    "annual_income": "annual_income", "branch_code": "branch",
    "manager_staff_id": "manager", "open_date": "open_date", "status": "status",
    "kyc_review_due": "kyc_review_due",
}
DOCUMENT_FIELDS = ("id_type", "id_number", "id_expiry")
CUSTOMER_FIELDS = (*SIMPLE_FIELDS, *DOCUMENT_FIELDS)


def newer(current: list[Any] | None, source: str, business_date: str) -> bool:
    """Does a value from ``source`` dated ``business_date`` replace the current one?

    The most recently business-dated value wins; on the same date CBS wins, and a source
    replaces its own earlier value."""
    if current is None:
        return True
    held_source, _batch, held_date = current
    if business_date != held_date:
        return business_date > held_date
    return source == held_source or source == PREFERRED_SOURCE


def merge_customer(record: dict[str, Any], values: dict[str, Any],
                   doc: IdentityDocument | None, source: str, batch_id: int,
                   business_date: date) -> None:
    """Fold one source record into the golden ``record`` in place, keeping provenance."""
    provenance = dict(record.get("provenance") or {})
    stamp = [source, batch_id, business_date.isoformat()]
    for column, name in SIMPLE_FIELDS.items():
        value = values.get(name)
        if value is None:
            continue  # a source that does not know a value does not erase it
        if newer(provenance.get(column), source, stamp[2]):
            record[column] = value
            provenance[column] = stamp
    if doc is not None and newer(provenance.get("id_document"), source, stamp[2]):
        record["id_type"] = doc.type
        record["id_number"] = doc.number
        record["id_expiry"] = values.get("id_expiry")
        provenance["id_document"] = stamp
        warnings = [w for w in record.get("dq_warnings") or [] if not w.startswith("resident ID")]
        if doc.warning:
            warnings.append(doc.warning)
        record["dq_warnings"] = warnings
    record["provenance"] = provenance
