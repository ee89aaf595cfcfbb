"""Fixtures for HTTP tests: a small bank loaded through the real pipeline, users of every
role, and helpers to sign in (session) or get a bearer token (API)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable

import pytest
from sqlalchemy import select

from integration import models as m
from integration.pipeline import import_file
from tests.feeds import BDATE, LI, ZHANG, resident_id, txn, write

PASSWORD = "correct horse battery"
WANG = resident_id("44030419900303789")


def bank_feed(feed):  # type: ignore[no-untyped-def]
    """Head office HO; branch B01 with sub-branches S011, S012; branch B02 with S021."""
    feed.rate("USD", "7.1000")
    feed.branch("HO", "总行", "杭州")
    feed.branch("B01", "城东分行", "杭州", parent="HO")
    feed.branch("S011", "凤起路支行", "杭州", parent="B01")
    feed.branch("S012", "庆春路支行", "杭州", parent="B01")
    feed.branch("B02", "宁波分行", "宁波", parent="HO")
    feed.branch("S021", "海曙支行", "宁波", parent="B02")
    feed.product("SAV", "活期储蓄", "DEPOSIT", "R1", "CNY", "0")
    feed.product("USDSAV", "美元活期", "DEPOSIT", "R1", "USD", "0")
    feed.product("TD1Y", "一年定期", "TIME_DEPOSIT", "R1", "CNY", "50", term_days=365)
    feed.product("FUND1", "稳健债券基金", "FUND", "R2", "CNY", "1000")
    feed.product("LOAN1", "个人住房贷款", "LOAN", "R1", "CNY", "0")
    # RM0001 at S011 has 张三 and the <script> customer; RM0002 at S012 has 李四;
    # RM0003 at S021 (another branch) has 王五.
    feed.customer("C1", "张三", gender="M", birth_date=date(1980, 1, 1),
                  id_doc=("RESIDENT_ID", ZHANG, date(2030, 1, 1)), mobile="13812345678",
                  branch="S011", manager="RM0001", status="ACTIVE")
    feed.customer("C2", "李四", id_doc=("RESIDENT_ID", LI, None), mobile="13987654321",
                  branch="S012", manager="RM0002")
    feed.customer("C3", "王五", id_doc=("RESIDENT_ID", WANG, None), mobile="13500001111",
                  branch="S021", manager="RM0003")
    feed.customer("C4", "<script>alert(1)</script>", branch="S011", manager="RM0001")
    feed.account("A1", "C1", product="SAV", type="SAVINGS", currency="CNY", balance="150000.00",
                  branch="S011")
    feed.account("A1U", "C1", product="USDSAV", type="CURRENT", currency="USD",
                  balance="1000.00", branch="S011")
    feed.account("A1L", "C1", product="LOAN1", type="LOAN", currency="CNY", balance="300000.00",
                  branch="S011")
    feed.account("A2", "C2", product="TD1Y", type="TIME_DEPOSIT", currency="CNY",
                  balance="50000", maturity_date=BDATE + timedelta(days=20), branch="S012")
    feed.account("A3", "C3", product="SAV", type="SAVINGS", currency="CNY", balance="8000",
                  branch="S021")
    feed.holding("H1", "C1", product="FUND1", units="1000", market_value="10500.00",
                 currency="CNY", cost="10000")
    for month in range(12):
        day = BDATE - timedelta(days=30 * month)
        txn(feed, f"SAL{month}", "A1", "20000.00", day=day)
        txn(feed, f"PAY{month}", "A1", "-3500.50", day=day, type="PAYMENT")
    txn(feed, "CASH1", "A1", "-60000.00", type="CASH_WITHDRAWAL", channel="COUNTER")
    txn(feed, "T-A2", "A2", "50000", type="CASH_DEPOSIT", channel="COUNTER")
    txn(feed, "T-A3", "A3", "-100", type="PAYMENT")


@dataclass
class Bank:
    ids: dict[str, int]  # source id (C1…) → golden customer id


@pytest.fixture
def bank(engine, tmp_path) -> Bank:  # type: ignore[no-untyped-def]
    path = write(tmp_path / "bank.xml", bank_feed)
    result = import_file(engine, path, max_bytes=10**8, chunk=50)
    assert result.status == "applied", result.reason
    with engine.connect() as conn:
        rows = conn.execute(select(m.CustomerSource.source_id, m.CustomerSource.customer_id))
        return Bank(ids={source_id: cid for source_id, cid in rows})


USERS = {
    # username: (role, branch, staff id)
    "rm1": ("rm", "S011", "RM0001"),
    "rm2": ("rm", "S012", "RM0002"),
    "rm3": ("rm", "S021", "RM0003"),
    "adv1": ("advisor", "S011", "AD0001"),
    "bm_b01": ("branch_manager", "B01", None),
    "bm_b02": ("branch_manager", "B02", None),
    "analyst": ("analyst", "HO", None),
    "admin": ("admin", "HO", None),
}


@pytest.fixture
def users(app, bank) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """One user of every role (password PASSWORD); returns username → user id."""
    from portal.extensions import db
    from portal.users import create_user

    ids = {}
    with app.app_context():
        session = db.sessions()
        for username, (role, branch, staff) in USERS.items():
            user = create_user(session, username, role, branch, PASSWORD,
                               app.config["PASSWORD_METHOD"], staff)
            ids[username] = user.id
        session.commit()
        session.close()
    return ids


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def csrf_app(app):  # type: ignore[no-untyped-def]
    """The app with CSRF checks on (they are on in every profile; this names the intent)."""
    assert app.config.get("WTF_CSRF_ENABLED", True)
    return app


def csrf_token(client, path: str = "/login") -> str:  # type: ignore[no-untyped-def]
    """The CSRF token of a form page, as a browser would read it."""
    import re

    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or \
        re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def login(client) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    def sign_in(username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
        token = csrf_token(client, "/login")
        return client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": token})
    return sign_in


@pytest.fixture
def token(client) -> Callable[[str], str]:  # type: ignore[no-untyped-def]
    def get(username: str, password: str = PASSWORD) -> str:
        response = client.post("/api/v1/auth/token",
                               json={"username": username, "password": password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["access_token"]
    return get


@pytest.fixture
def api(client, token) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    """api("rm1", "get", "/api/v1/customers?q=张") with that user's bearer token."""
    tokens: dict[str, str] = {}

    def call(username: str, method: str, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        if username not in tokens:
            tokens[username] = token(username)
        headers = {"Authorization": f"Bearer {tokens[username]}", **kwargs.pop("headers", {})}
        return getattr(client, method)(path, headers=headers, **kwargs)
    return call
