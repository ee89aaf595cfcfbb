"""Saved views of the book: save the filters and sort under a name (per user, unique, at most
20), list them, apply them, delete them; a view whose filters no longer apply says so."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal.workbench.models import ContactPolicy, SavedView
from portal.workbench.saved_views import MAX_VIEWS
from tests.functional.conftest import csrf_token
from tests.functional.test_book import BookBank, load_book_bank

EN = {"Accept-Language": "en"}


@pytest.fixture
def book_bank(engine, bank, users, tmp_path) -> BookBank:  # type: ignore[no-untyped-def]
    return load_book_bank(engine, users, tmp_path)


def save(client, name: str, **params: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/book")
    return client.post("/book/views", data={"csrf_token": token, "name": name, **params},
                       headers=EN)


def views(engine, user_id: int) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return {v.name: v.params for v in session.scalars(
            select(SavedView).where(SavedView.user_id == user_id))}


def test_save_list_apply_and_delete_a_view(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    login("bm_b01")
    response = save(client, "  Overdue   big ones ", overdue="1", band="500000", sort="aum",
                    dir="desc")
    assert response.status_code == 303
    stored = views(engine, book_bank.users["bm_b01"])
    assert stored == {"Overdue big ones": {"overdue": "1", "band": "500000", "sort": "aum",
                                           "dir": "desc"}}
    view_url = response.headers["Location"]
    assert re.search(r"/book\?view=\d+$", view_url)

    page = client.get(view_url, headers=EN).get_data(as_text=True)
    assert "View “Overdue big ones” saved." in page
    assert "Overdue big ones" in page
    assert "孙八" in page  # C7: 500k band, never contacted
    assert "张三" not in page and "钱七" not in page and "赵六" not in page
    assert "1 customer" in page

    # Listed on the book page, linking to the view; another user does not see it.
    assert client.get("/book").get_data(as_text=True).count('class="saved-view"') == 1
    view_id = int(view_url.rsplit("=", 1)[1])
    token = csrf_token(client, "/book")
    response = client.post(f"/book/views/{view_id}/delete", data={"csrf_token": token},
                           headers=EN)
    assert response.status_code == 303
    assert views(engine, book_bank.users["bm_b01"]) == {}


def test_names_are_unique_per_user_and_required(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    login("rm1")
    assert save(client, "Mine", status="ACTIVE").status_code == 303
    response = save(client, "Mine", status="DORMANT")
    assert response.status_code == 303
    page = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "You already have a view named “Mine”." in page
    assert views(engine, book_bank.users["rm1"]) == {"Mine": {"status": "ACTIVE"}}
    response = save(client, "   ")
    page = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Give the view a name." in page
    save(client, "x" * 61)
    assert len(views(engine, book_bank.users["rm1"])) == 1
    # Another user may use the same name.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/book")})
    login("rm2")
    assert save(client, "Mine").status_code == 303
    assert views(engine, book_bank.users["rm2"]) == {"Mine": {}}


def test_at_most_twenty_views_each(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    login("rm1")
    for n in range(MAX_VIEWS):
        assert save(client, f"view {n}").status_code == 303
    response = save(client, "one too many")
    page = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert f"You have {MAX_VIEWS} saved views already; delete one first." in page
    assert len(views(engine, book_bank.users["rm1"])) == MAX_VIEWS


def test_a_view_with_a_filter_that_does_not_apply_is_not_saved(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    login("bm_b01")
    response = save(client, "elsewhere", branch="S021")
    page = client.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Branch S021 is not one of your branches." in page
    assert views(engine, book_bank.users["bm_b01"]) == {}


def test_a_stale_view_says_what_no_longer_applies(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    login("bm_b01")
    with Session(engine) as session, session.begin():
        for name, params in (("gone band", {"band": "500000", "status": "ACTIVE"}),
                             ("moved branch", {"branch": "S021"}),
                             ("garbage", {"sort": "shoe size", "colour": "red",
                                          "overdue": "1"})):
            session.add(SavedView(user_id=book_bank.users["bm_b01"], name=name,
                                  params=params))
        session.execute(delete(ContactPolicy).where(ContactPolicy.min_aum == 500000))
    ids = _ids(engine)

    page = client.get(f"/book?view={ids['gone band']}", headers=EN)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "The saved view “gone band” no longer applies in full" in text
    assert "The contact policy no longer has a band from 500000." in text
    assert "5 customers" in text  # the status filter still applies: all ACTIVE ones

    text = client.get(f"/book?view={ids['moved branch']}", headers=EN).get_data(as_text=True)
    assert "Branch S021 is not one of your branches." in text
    assert "6 customers" in text

    text = client.get(f"/book?view={ids['garbage']}", headers=EN).get_data(as_text=True)
    assert "“shoe size” of Sort is not valid" in text
    assert "The filter colour no longer exists." in text
    assert "3 customers" in text  # overdue still applies


def _ids(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return dict(session.execute(select(SavedView.name, SavedView.id)).all())


def test_another_users_view_is_not_found(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    with Session(engine) as session, session.begin():
        session.add(SavedView(user_id=book_bank.users["rm2"], name="rm2's", params={}))
    view_id = _ids(engine)["rm2's"]
    login("rm1")
    assert client.get(f"/book?view={view_id}").status_code == 404
    token = csrf_token(client, "/book")
    assert client.post(f"/book/views/{view_id}/delete",
                       data={"csrf_token": token}).status_code == 404
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(SavedView)) == 1


def test_saving_needs_the_csrf_token(  # type: ignore[no-untyped-def]
        client, login, engine, book_bank) -> None:
    login("rm1")
    assert client.post("/book/views", data={"name": "x"}).status_code == 400
    assert views(engine, book_bank.users["rm1"]) == {}
