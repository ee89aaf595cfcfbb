"""Identity documents: normalisation, the resident-ID checksum, the key sources merge on."""
from __future__ import annotations

import re
from dataclasses import dataclass

_FIRST_GENERATION = re.compile(r"[0-9]{15}\Z")
_SECOND_GENERATION = re.compile(r"[0-9]{17}[0-9X]\Z")  # ASCII only: not str.isdigit()
_FULL_WIDTH = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20}
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
    # Full-width digits and letters are common in keyed-in Chinese data: read them as ASCII.
    cleaned = "".join(number.translate(_FULL_WIDTH).split()).replace("-", "").upper()
    if doc_type != "RESIDENT_ID":
        return IdentityDocument(doc_type, cleaned, valid=bool(cleaned))
    if _FIRST_GENERATION.match(cleaned):
        # First-generation IDs: 2-digit year, no check character.
        body = cleaned[:6] + "19" + cleaned[6:]
        return IdentityDocument(doc_type, body + resident_id_check_char(body), valid=True)
    if not _SECOND_GENERATION.match(cleaned):
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
