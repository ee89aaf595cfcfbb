"""Small builders of feed files for tests."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Callable

from integration.feedwriter import FeedWriter
from integration.identity import resident_id_check_char

BDATE = date(2026, 11, 20)


def resident_id(body17: str) -> str:
    """A resident ID with a correct check character."""
    return body17 + resident_id_check_char(body17)


ZHANG = resident_id("11010519800101123")
LI = resident_id("33010219851212456")


def write(path: Path, build: Callable[[FeedWriter], None], source: str = "CBS",
          business_date: date = BDATE, sequence: int = 1, **kwargs: object) -> Path:
    with FeedWriter(path, source, business_date, sequence, **kwargs) as feed:  # type: ignore[arg-type]
        build(feed)
    return path


def reference(feed: FeedWriter) -> None:
    """A branch tree and a product catalogue most tests need."""
    feed.rate("USD", Decimal("7.1000"))
    feed.branch("HO", "总行", "杭州")
    feed.branch("B01", "城东分行", "杭州", parent="HO")
    feed.branch("S011", "凤起路支行", "杭州", parent="B01")
    feed.product("SAV", "活期储蓄", "DEPOSIT", "R1", "CNY", "0")
    feed.product("TD1Y", "一年定期", "TIME_DEPOSIT", "R1", "CNY", "50", term_days=365,
                 expected_return="1.6500")
    feed.product("FUND1", "稳健债券基金", "FUND", "R2", "CNY", "1000")


def txn(feed: FeedWriter, id: str, account: str, amount: str, day: date = BDATE,
        type: str = "TRANSFER_IN", channel: str = "MOBILE") -> None:
    feed.transaction(id, account, booking_date=day, amount=amount, currency="CNY", type=type,
                     channel=channel)
