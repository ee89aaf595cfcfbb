"""Revealing a masked identifier: only for roles that may, only in scope, always audited."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal.models import AuditEvent
from tests.feeds import ZHANG
from tests.functional.conftest import csrf_token


@pytest.fixture(autouse=True)
def english(client):  # type: ignore[no-untyped-def]
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def events(engine, *actions: str) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEvent).where(AuditEvent.action.in_(actions))
                            .order_by(AuditEvent.id))
        return [(r.username, r.action, r.customer_id, r.detail) for r in rows]


def reveal_on_page(client, customer_id: int, field: str,  # type: ignore[no-untyped-def]
                   with_token: bool = True):
    data = {"csrf_token": csrf_token(client, f"/customers/{customer_id}")} if with_token else {}
    return client.post(f"/customers/{customer_id}/reveal/{field}", data=data)


@pytest.mark.parametrize("field, value", [("id_number", ZHANG), ("mobile", "13812345678")])
def test_an_rm_reveals_a_value_once_and_it_is_audited(client, login, users, bank, engine,
                                                       field, value):
    login("rm1")
    response = reveal_on_page(client, bank.ids["C1"], field)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert value in response.get_data(as_text=True)
    assert events(engine, "reveal") == [
        ("rm1", "reveal", bank.ids["C1"], {"field": field, "channel": "page"})]
    # The page itself stays masked afterwards.
    assert value not in client.get(f"/customers/{bank.ids['C1']}").get_data(as_text=True)


def test_a_reveal_without_the_csrf_token_is_refused(client, login, users, bank, engine):
    login("rm1")
    response = reveal_on_page(client, bank.ids["C1"], "id_number", with_token=False)
    assert response.status_code == 400
    assert ZHANG not in response.get_data(as_text=True)
    assert events(engine, "reveal") == []


def test_a_reveal_is_a_post(client, login, users, bank):
    login("rm1")
    assert client.get(f"/customers/{bank.ids['C1']}/reveal/id_number").status_code == 405


def test_only_identifiers_can_be_revealed(client, login, api, users, bank):
    login("rm1")
    assert reveal_on_page(client, bank.ids["C1"], "address").status_code == 404
    response = api("rm1", "post", f"/api/v1/customers/{bank.ids['C1']}/reveal",
                   json={"field": "password_hash"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid"
    assert api("rm1", "post", f"/api/v1/customers/{bank.ids['C1']}/reveal",
               data="id_number").status_code == 400


def test_an_analyst_is_refused_and_the_refusal_is_audited(client, login, api, users, bank,
                                                          engine):
    login("analyst")
    page = reveal_on_page(client, bank.ids["C1"], "id_number")
    assert page.status_code == 403 and ZHANG not in page.get_data(as_text=True)
    response = api("analyst", "post", f"/api/v1/customers/{bank.ids['C1']}/reveal",
                   json={"field": "mobile"})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert "13812345678" not in response.get_data(as_text=True)
    assert events(engine, "reveal", "reveal_refused") == [
        ("analyst", "reveal_refused", bank.ids["C1"], {"field": "id_number", "channel": "page"}),
        ("analyst", "reveal_refused", bank.ids["C1"], {"field": "mobile", "channel": "api"})]


def test_the_api_reveals_to_an_rm_and_audits(api, users, bank, engine):
    response = api("rm1", "post", f"/api/v1/customers/{bank.ids['C1']}/reveal",
                   json={"field": "id_number"})
    assert response.status_code == 200
    assert response.get_json() == {"field": "id_number", "value": ZHANG}
    assert events(engine, "reveal") == [
        ("rm1", "reveal", bank.ids["C1"], {"field": "id_number", "channel": "api"})]


@pytest.mark.parametrize("user, customer", [("rm1", "C3"), ("rm1", "C2"), ("bm_b01", "C3"),
                                            ("admin", "C1")])
def test_no_reveal_outside_the_scope(client, login, api, users, bank, engine, user, customer):
    response = api(user, "post", f"/api/v1/customers/{bank.ids[customer]}/reveal",
                   json={"field": "mobile"})
    assert response.status_code == 404
    assert response.get_json() == api(user, "post", "/api/v1/customers/999999/reveal",
                                      json={"field": "mobile"}).get_json()
    login(user)
    token = csrf_token(client, "/")
    page = client.post(f"/customers/{bank.ids[customer]}/reveal/mobile",
                       data={"csrf_token": token})
    assert page.status_code == 404
    assert events(engine, "reveal", "reveal_refused") == []


def test_a_branch_manager_may_reveal_in_their_subtree(api, users, bank):
    response = api("bm_b01", "post", f"/api/v1/customers/{bank.ids['C2']}/reveal",
                   json={"field": "mobile"})
    assert response.status_code == 200 and response.get_json()["value"] == "13987654321"
