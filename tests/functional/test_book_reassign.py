"""Bulk reassignment from the book: a branch manager ticks customers (or takes all matching
the filters, up to a cap), names an RM or adviser of the subtree and a reason; all or
nothing, and every refusal says why and changes nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import AssignmentHistory, CustomerAssignment
from portal.workbench import book
from tests.functional.conftest import csrf_token
from tests.functional.test_book import BookBank, listed, load_book_bank

EN = {"Accept-Language": "en"}


@pytest.fixture
def book_bank(engine, bank, users, tmp_path) -> BookBank:  # type: ignore[no-untyped-def]
    return load_book_bank(engine, users, tmp_path)


def post(client, customers=(), **form: str):  # type: ignore[no-untyped-def]
    """POST /book/reassign as the book page's form does; returns the page it leads to."""
    token = csrf_token(client, "/book")
    data = {"csrf_token": token, "target_set": "chosen", **form}
    response = client.post("/book/reassign", data={**data, "customer_id": [
        str(c) for c in customers]}, headers=EN)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return response, client.get(response.headers["Location"], headers=EN).get_data(as_text=True)


def assignments(engine) -> dict[int, str]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return dict(session.execute(select(CustomerAssignment.customer_id,
                                           CustomerAssignment.staff_id)).all())


def history_count(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(AssignmentHistory)) or 0


def test_ticked_customers_move_to_the_chosen_rm(  # type: ignore[no-untyped-def]
        client, login, api, engine, book_bank) -> None:
    login("bm_b01")
    page = client.get("/book").get_data(as_text=True)
    assert 'id="select-page"' in page and page.count('name="customer_id"') == 6
    response, page = post(client, book_bank.id("C1", "C4"), to_staff_id="RM0002",
                          reason="rm1 on leave", status="ACTIVE", sort="aum")
    # Back to the same filters and sort.
    assert response.headers["Location"].endswith("/book?status=ACTIVE&sort=aum")
    assert "2 customers reassigned to rm2 (RM0002)." in page
    assert assignments(engine) == {book_bank.ids["C1"]: "RM0002", book_bank.ids["C4"]: "RM0002"}
    assert sorted(listed(api, book_bank, "rm2")) == ["C1", "C2", "C4", "C6"]
    assert sorted(listed(api, book_bank, "rm1")) == ["C5"]


def test_customers_already_with_the_rm_are_reported(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    login("bm_b01")
    _response, page = post(client, book_bank.id("C1", "C2"), to_staff_id="RM0002",
                           reason="consolidate")
    assert "1 customer reassigned to rm2 (RM0002)." in page
    assert "1 customer was already with rm2 (RM0002)." in page
    assert assignments(engine) == {book_bank.ids["C1"]: "RM0002"}


def test_all_matching_customers(  # type: ignore[no-untyped-def]
        client, login, api, engine, book_bank) -> None:
    login("bm_b01")
    _response, page = post(client, (), target_set="all", branch="S011", overdue="1",
                           to_staff_id="AD0001", reason="wealth review")
    assert "2 customers reassigned to adv1 (AD0001)." in page
    assert assignments(engine) == {book_bank.ids["C5"]: "AD0001",
                                   book_bank.ids["C7"]: "AD0001"}


def test_all_matching_is_capped(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank, monkeypatch) -> None:
    monkeypatch.setattr(book, "MAX_BULK", 5)
    login("bm_b01")
    _response, page = post(client, (), target_set="all", to_staff_id="RM0001",
                           reason="too many")
    assert "Nothing was reassigned: 6 customers match; at most 5 can be reassigned at " \
        "once. Narrow the filters." in page
    assert assignments(engine) == {} and history_count(engine) == 0


def test_refusals_change_nothing_and_say_why(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    login("bm_b01")
    cases = [
        ({"to_staff_id": "RM0002", "reason": "  "}, book_bank.id("C1"),
         "Give a reason for the reassignment."),
        ({"to_staff_id": "RM0003", "reason": "x"}, book_bank.id("C1"),  # another branch's RM
         "Choose an active RM or adviser of your branches."),
        ({"to_staff_id": "RM0009", "reason": "x"}, book_bank.id("C1"),  # no user account
         "Choose an active RM or adviser of your branches."),
        ({"to_staff_id": "RM0002", "reason": "x"}, (), "Choose at least one customer."),
        ({"to_staff_id": "RM0002", "reason": "x" * 501}, book_bank.id("C1"),
         "The reason may have at most 500 characters."),
        # 王五 is in another branch: nothing moves, not even 张三.
        ({"to_staff_id": "RM0002", "reason": "x"}, book_bank.id("C1", "C3"),
         "some of the chosen customers are not in your branches"),
        ({"to_staff_id": "RM0002", "reason": "x"}, [999999],
         "some of the chosen customers are not in your branches"),
    ]
    for form, customers, message in cases:
        _response, page = post(client, customers, **form)
        assert "Nothing was reassigned" in page, message
        assert message in page, message
    assert assignments(engine) == {} and history_count(engine) == 0


def test_only_branch_managers_reassign(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    login("rm1")
    token = csrf_token(client, "/book")
    response = client.post("/book/reassign", data={
        "csrf_token": token, "customer_id": str(book_bank.ids["C1"]),
        "to_staff_id": "RM0001", "reason": "mine"})
    assert response.status_code == 403
    assert client.post("/book/reassign", data={"customer_id": "1"}).status_code == 400  # CSRF
    assert assignments(engine) == {}


def test_the_page_offers_active_rms_and_advisers_of_the_subtree(  # type: ignore[no-untyped-def]
        client, login, app, book_bank) -> None:
    from portal.extensions import db
    from portal.models import User

    with app.app_context():
        session = db.sessions()
        session.get(User, book_bank.users["rm2"]).active = False
        session.commit()
        session.close()
    login("bm_b01")
    page = client.get("/book").get_data(as_text=True)
    start = page.index('id="to-staff"')
    targets = page[start:page.index("</select>", start)]
    assert 'value="RM0001"' in targets and 'value="AD0001"' in targets
    assert 'value="RM0002"' not in targets and 'value="RM0003"' not in targets
