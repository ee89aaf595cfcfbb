"""What every feed adapter yields: one header, then records, in document order."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterator, Protocol


class FeedRejected(Exception):
    """The whole file is refused; nothing of it may be applied."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RecordInvalid(Exception):
    """One record breaks the format; it is quarantined with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class FeedHeader:
    source: str
    business_date: date
    sequence: int | None  # None for formats without one (camt)
    generated: str | None = None
    adapter: str = "cbs"


@dataclass
class Record:
    """One record of a feed.

    ``kind`` is one of rate, branch, product, customer, account, holding, transaction,
    balance.  ``values`` holds typed values (str, Decimal, date, int) when the record is
    valid; ``error`` holds the reason when it is not (``values`` is then empty).  ``raw``
    is the record's XML, kept so a quarantined record can be shown and re-read.
    """

    kind: str
    key: str
    op: str = "upsert"
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    raw: bytes | None = None


@dataclass
class FeedSummary:
    """What the adapter learnt by the end of the file (checked before commit)."""

    delivery_key: str  # duplicate-delivery key, e.g. the sequence, or camt MsgId + Stmt ids
    records: int
    warnings: list[str] = field(default_factory=list)


class Adapter(Protocol):
    name: str

    def header(self) -> FeedHeader: ...

    def records(self) -> Iterator[Record]: ...

    def summary(self) -> FeedSummary: ...
