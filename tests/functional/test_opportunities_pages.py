"""The pipeline's pages over HTTP: a new opportunity from the customer 360 page, the
detail page (edit, move, history), the board (columns, badges, the plain move form and
the script's JSON move), the list, the forecast; CSRF and scope on every one."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from integration.db import utcnow
from portal.workbench.models import Opportunity, OpportunityStageChange
from portal.workbench.opportunities import bank_today
from tests.functional.conftest import csrf_token
from tests.functional.test_opportunities import create, move

ENGLISH = {"Accept-Language": "en"}


def opportunity(engine, username: str, customer_id: int,  # type: ignore[no-untyped-def]
                stage: str = "lead", **kwargs: Any) -> int:
    """An opportunity made through the service (today is the bank's real today)."""
    with Session(engine) as session:
        opp = create(session, username, customer_id, today=bank_today(), **kwargs)
        if stage != "lead":
            move(session, username, opp.id, stage, today=bank_today(),
                 lost_reason="price" if stage == "lost" else None)
        session.commit()
        return opp.id


def sign_out(client) -> None:  # type: ignore[no-untyped-def]
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def stage_of(engine, opportunity_id: int) -> str:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.scalar(select(Opportunity.stage)
                              .where(Opportunity.id == opportunity_id)) or ""


def count(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Opportunity)) or 0


def test_a_new_opportunity_from_the_customer_page(client, login, bank, users, engine):
    login("rm1")
    c1 = bank.ids["C1"]
    page = client.get(f"/customers/{c1}").get_data(as_text=True)
    assert f'href="/pipeline/new?customer_id={c1}"' in page
    form = client.get(f"/pipeline/new?customer_id={c1}", headers=ENGLISH)
    assert form.status_code == 200 and "张三" in form.get_data(as_text=True)
    close = (bank_today() + timedelta(days=45)).isoformat()
    response = client.post("/pipeline/new", data={
        "csrf_token": csrf_token(client, "/pipeline/board"), "customer_id": str(c1),
        "product": "FUND1", "amount": "88888.80", "expected_close": close, "note": "基金定投"})
    assert response.status_code == 302
    opp_id = int(response.headers["Location"].rsplit("/", 1)[1])
    detail = client.get(f"/pipeline/{opp_id}", headers=ENGLISH).get_data(as_text=True)
    assert "稳健债券基金" in detail and "88,888.80" in detail and "基金定投" in detail
    assert re.search(r'id="stage-history".*Lead', detail, re.S)
    # The 360 page lists it and links to it.
    assert f'href="/pipeline/{opp_id}"' in client.get(f"/customers/{c1}").get_data(as_text=True)


def test_bad_input_gets_a_message_and_creates_nothing(client, login, bank, users, engine):
    login("rm1")
    token = csrf_token(client, "/pipeline/board")
    for field, value in (("amount", "0"), ("amount", "12.345"), ("product", "NOSUCH"),
                         ("expected_close", "2001-01-01"), ("expected_close", "")):
        data = {"csrf_token": token, "customer_id": str(bank.ids["C1"]), "product": "TD1Y",
                "amount": "1000", "note": "保留我",
                "expected_close": (bank_today() + timedelta(days=5)).isoformat(), field: value}
        response = client.post("/pipeline/new", data=data, headers=ENGLISH)
        assert response.status_code == 400, (field, value)
        page = response.get_data(as_text=True)
        assert 'id="form-error"' in page and "保留我" in page  # the form keeps what was typed
    assert count(engine) == 0


def test_forms_without_the_csrf_token_are_refused(client, login, bank, users, engine):
    login("rm1")
    opp = opportunity(engine, "rm1", bank.ids["C1"])
    assert client.post("/pipeline/new", data={
        "customer_id": str(bank.ids["C1"]), "product": "TD1Y", "amount": "1000",
        "expected_close": bank_today().isoformat()}).status_code == 400
    assert client.post(f"/pipeline/{opp}/stage", data={"stage": "proposal"}).status_code == 400
    assert client.post(f"/pipeline/{opp}/stage", json={"stage": "proposal"}).status_code == 400
    assert count(engine) == 1 and stage_of(engine, opp) == "lead"


def test_a_branch_manager_chooses_the_owner(client, login, bank, users, engine):
    login("bm_b01")
    page = client.get(f"/pipeline/new?customer_id={bank.ids['C2']}").get_data(as_text=True)
    assert 'value="RM0002"' in page and 'value="AD0001"' in page and "RM0003" not in page
    response = client.post("/pipeline/new", data={
        "csrf_token": csrf_token(client, "/pipeline/board"), "customer_id": str(bank.ids["C2"]),
        "product": "TD1Y", "amount": "5000", "owner": "RM0002",
        "expected_close": bank_today().isoformat()})
    assert response.status_code == 302
    with Session(engine) as session:
        assert session.scalar(select(Opportunity.owner_staff_id)) == "RM0002"


def test_the_detail_page_edits_and_moves(client, login, bank, users, engine):
    login("rm1")
    opp = opportunity(engine, "rm1", bank.ids["C1"])
    token = csrf_token(client, "/pipeline/board")
    close = (bank_today() + timedelta(days=90)).isoformat()
    assert client.post(f"/pipeline/{opp}", data={
        "csrf_token": token, "amount": "123456.70", "expected_close": close,
        "note": "改了金额"}).status_code == 302
    refused = client.post(f"/pipeline/{opp}", data={
        "csrf_token": token, "amount": "-1", "expected_close": close, "note": "不会保存"},
        headers=ENGLISH)
    assert refused.status_code == 400 and "The amount must be more than 0." in \
        refused.get_data(as_text=True)
    moved = client.post(f"/pipeline/{opp}/stage", data={
        "csrf_token": token, "stage": "needs_analysis", "next": f"/pipeline/{opp}"})
    assert moved.status_code == 302 and moved.headers["Location"] == f"/pipeline/{opp}"
    with Session(engine) as session:
        row = session.get(Opportunity, opp)
        assert row is not None
        assert (str(row.amount.normalize()), row.note, row.stage) == ("123456.7", "改了金额",
                                                                     "needs_analysis")
    page = client.get(f"/pipeline/{opp}", headers=ENGLISH).get_data(as_text=True)
    assert "123,456.70" in page and "Needs analysis" in page


def test_the_board_shows_columns_with_totals_and_which_wins_are_confirmed(
        client, login, bank, users, engine):
    login("rm1")
    lead = opportunity(engine, "rm1", bank.ids["C1"], amount="1000")
    awaiting = opportunity(engine, "rm1", bank.ids["C1"], "won", amount="2000")
    confirmed = opportunity(engine, "rm1", bank.ids["C4"], "won", amount="3000")
    with Session(engine) as session:
        session.execute(update(Opportunity).where(Opportunity.id == confirmed)
                        .values(confirmed_at=utcnow(), confirmed_by="account CBS X"))
        session.commit()
    page = client.get("/pipeline/board", headers=ENGLISH).get_data(as_text=True)
    for stage in ("lead", "contacted", "needs_analysis", "proposal", "won", "lost"):
        assert f'id="column-{stage}"' in page
    won = page[page.index('id="column-won"'):page.index('id="column-lost"')]
    assert re.search(r'data-count>2<', won) and "5,000.00" in won
    card = re.compile(r'id="opportunity-(\d+)".*?</article>', re.S)
    cards = {int(m.group(1)): m.group(0) for m in card.finditer(page)}
    assert set(cards) == {lead, awaiting, confirmed}
    assert "Awaiting confirmation" in cards[awaiting] and "Confirmed" not in cards[awaiting]
    assert 'class="badge confirmed"' in cards[confirmed]
    assert 'draggable="true"' in cards[lead] and 'draggable' not in cards[confirmed]
    assert 'name="stage"' in cards[lead]  # the no-script form
    assert 'src="/workbench/static/board.js"' in page


def test_the_plain_form_on_a_card_moves_it(client, login, bank, users, engine):
    login("rm1")
    opp = opportunity(engine, "rm1", bank.ids["C1"])
    token = csrf_token(client, "/pipeline/board")
    response = client.post(f"/pipeline/{opp}/stage", data={
        "csrf_token": token, "stage": "lost", "lost_reason": "", "next": "/pipeline/board"})
    assert response.status_code == 302 and stage_of(engine, opp) == "lead"
    assert "flash error" in client.get("/pipeline/board").get_data(as_text=True)
    response = client.post(f"/pipeline/{opp}/stage", data={
        "csrf_token": token, "stage": "lost", "lost_reason": "no_need",
        "next": "https://evil.example/"})
    assert response.status_code == 302 and response.headers["Location"] == "/pipeline/board"
    assert stage_of(engine, opp) == "lost"


def test_the_boards_script_moves_a_card_as_json(client, login, bank, users, engine):
    login("rm1")
    opp = opportunity(engine, "rm1", bank.ids["C1"], amount="4000")
    headers = {"X-CSRFToken": csrf_token(client, "/pipeline/board"), **ENGLISH}
    response = client.post(f"/pipeline/{opp}/stage", json={"stage": "proposal"},
                           headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["stage"] == "proposal" and f'id="opportunity-{opp}"' in body["card"]
    assert body["columns"]["proposal"] == {"count": 1, "amount": "4,000.00"}
    assert body["columns"]["lead"] == {"count": 0, "amount": "0.00"}
    refused = client.post(f"/pipeline/{opp}/stage", json={"stage": "lost"}, headers=headers)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["message"] == "Choose why the opportunity was lost."
    lost = client.post(f"/pipeline/{opp}/stage", json={"stage": "lost",
                                                        "lost_reason": "competitor"},
                       headers=headers)
    assert lost.status_code == 200 and stage_of(engine, opp) == "lost"
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(OpportunityStageChange)) == 3


def test_the_list_filters_and_totals(client, login, bank, users, engine):
    opportunity(engine, "rm1", bank.ids["C1"], amount="1000")
    opportunity(engine, "rm1", bank.ids["C1"], "proposal", product="FUND1", amount="2000")
    opportunity(engine, "rm2", bank.ids["C2"], amount="4000")
    login("rm1")
    page = client.get("/pipeline", headers=ENGLISH).get_data(as_text=True)
    assert "2 opportunities" in page and "3,000.00" in page and "1,300.00" in page
    assert 'name="owner"' not in page  # an RM sees only their own anyway
    page = client.get("/pipeline?stage=proposal", headers=ENGLISH).get_data(as_text=True)
    assert "1 opportunity" in page and "2,000.00" in page
    assert client.get("/pipeline?close_from=soon").status_code == 400
    sign_out(client)
    login("bm_b01")
    page = client.get("/pipeline?owner=RM0002", headers=ENGLISH).get_data(as_text=True)
    assert 'name="owner"' in page and "1 opportunity" in page and "4,000.00" in page


def test_the_forecast_page(client, login, bank, users, engine):
    opportunity(engine, "rm1", bank.ids["C1"], "proposal", amount="100000",
                close=bank_today())
    login("rm1")
    page = client.get("/pipeline/forecast", headers=ENGLISH).get_data(as_text=True)
    assert 'id="forecast-rms"' in page and 'id="forecast-branches"' not in page
    assert re.search(r'data-col="month0">60,000.00', page)
    assert re.search(r'data-col="open_amount">100,000.00', page)
    assert "<svg" in page
    sign_out(client)
    login("bm_b01")
    page = client.get("/pipeline/forecast", headers=ENGLISH).get_data(as_text=True)
    assert 'id="forecast-branches"' in page and "凤起路支行" in page


def test_another_rms_opportunity_is_not_found_on_any_page(client, login, bank, users, engine):
    opp = opportunity(engine, "rm1", bank.ids["C1"])
    login("rm2")
    token = csrf_token(client, "/pipeline/board")
    assert client.get(f"/pipeline/{opp}").status_code == 404
    assert client.post(f"/pipeline/{opp}", data={"csrf_token": token,
                                                  "note": "x"}).status_code == 404
    assert client.post(f"/pipeline/{opp}/stage", data={"csrf_token": token,
                                                        "stage": "won"}).status_code == 404
    assert client.post(f"/pipeline/{opp}/stage", json={"stage": "won"},
                       headers={"X-CSRFToken": token}).status_code == 404
    assert client.get(f"/pipeline/new?customer_id={bank.ids['C1']}").status_code == 404
    assert f"opportunity-{opp}" not in client.get("/pipeline/board").get_data(as_text=True)
    assert stage_of(engine, opp) == "lead"
    sign_out(client)
    login("bm_b02")
    assert client.get(f"/pipeline/{opp}").status_code == 404
    sign_out(client)
    login("bm_b01")
    assert client.get(f"/pipeline/{opp}").status_code == 200


def test_analysts_and_admins_have_no_pipeline_pages(client, login, bank, users):
    for username in ("analyst", "admin"):
        login(username)
        for path in ("/pipeline", "/pipeline/board", "/pipeline/forecast", "/pipeline/new"):
            assert client.get(path).status_code == 403, (username, path)
        sign_out(client)


def test_the_pages_need_a_signed_in_user(client, bank, users):
    response = client.get("/pipeline/board")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
