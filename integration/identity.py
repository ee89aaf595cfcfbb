"""Identity documents: normalisation, the resident-ID checksum, the key sources merge on."""
from __future__ import annotations

from dataclasses import dataclass

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


@dataclass(frozen=True)
class IdentityDocument:
    type: str
    number: str          # normalised
    valid: bool          # False: keep it, warn, but never merge on it
    warning: str | None = None

    @property
    def key(self) -> str | None:
        """The merge key, or None when the document is not trustworthy enough."""
        return f"{self.type}:{self.number}" if self.valid else None


def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of a resident ID."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS))
    return _CHECK[total % 11]


def normalise(doc_type: str, number: str) -> IdentityDocument:
    """Normalise a document number; resident IDs are checksum-checked."""
    cleaned = "".join(number.split()).replace("-", "").upper()
    if doc_type != "RESIDENT_ID":
        return IdentityDocument(doc_type, cleaned, valid=bool(cleaned))
    if len(cleaned) == 15 and cleaned.isdigit():
        # First-generation IDs: 2-digit year, no check character.
        body = cleaned[:6] + "19" + cleaned[6:]
        return IdentityDocument(doc_type, body + resident_id_check_char(body), valid=True)
    if len(cleaned) != 18 or not cleaned[:17].isdigit() or not (
        cleaned[17].isdigit() or cleaned[17] == "X"
    ):
        return IdentityDocument(
            doc_type, cleaned, valid=False,
            warning=f"resident ID {mask(cleaned)} is not 18 characters of digits (and X)",
        )
    if resident_id_check_char(cleaned[:17]) != cleaned[17]:
        return IdentityDocument(
            doc_type, cleaned, valid=False,
            warning=f"resident ID {mask(cleaned)} fails its checksum; not merged with other sources",
        )
    return IdentityDocument(doc_type, cleaned, valid=True)


def mask(number: str) -> str:
    """Keep the first 3 and last 4 characters: 110***********0011."""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]
