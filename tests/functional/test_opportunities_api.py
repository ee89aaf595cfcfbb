"""The opportunities API (/api/v1/opportunities…): create, list with totals, read with
history, edit and move with PATCH (lost needs a reason, won is final), the forecast; scope
and roles as on the pages."""
from __future__ import annotations

from datetime import timedelta

from portal.workbench.opportunities import bank_today

BASE = "/api/v1/opportunities"


def new(api, username: str, customer: object, **fields):  # type: ignore[no-untyped-def]
    body = {"customer_id": customer, "product": "TD1Y", "amount": "100000.00",
            "expected_close": (bank_today() + timedelta(days=20)).isoformat(), **fields}
    return api(username, "post", BASE, json=body)


def test_create_read_and_list(api, bank, users):
    created = new(api, "rm1", bank.ids["C1"], note="到期续存")
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert created.headers["Location"] == f"{BASE}/{body['id']}"
    assert {k: body[k] for k in ("customer_name", "product", "product_name", "amount",
                                 "stage", "probability", "weighted_amount", "owner",
                                 "branch", "note", "confirmed")} == {
        "customer_name": "张三", "product": "TD1Y", "product_name": "一年定期",
        "amount": "100000.00", "stage": "lead", "probability": "0.10",
        "weighted_amount": "10000.00", "owner": "RM0001", "branch": "S011",
        "note": "到期续存", "confirmed": False}
    one = api("rm1", "get", f"{BASE}/{body['id']}").get_json()
    assert one["history"][0]["from"] is None and one["history"][0]["to"] == "lead"
    new(api, "rm1", bank.ids["C4"], amount="50000")
    listed = api("rm1", "get", f"{BASE}?per_page=1").get_json()
    assert (listed["total"], len(listed["items"]), listed["total_amount"],
            listed["total_weighted"]) == (2, 1, "150000.00", "15000.00")
    only = api("rm1", "get", f"{BASE}?customer_id={bank.ids['C4']}").get_json()
    assert [i["customer_name"] for i in only["items"]] == ["<script>alert(1)</script>"]


def test_patch_edits_and_moves(api, bank, users):
    opp = new(api, "rm1", bank.ids["C1"]).get_json()["id"]
    url = f"{BASE}/{opp}"
    changed = api("rm1", "patch", url, json={"amount": "120000", "stage": "proposal"})
    assert changed.status_code == 200
    assert (changed.get_json()["amount"], changed.get_json()["stage"],
            changed.get_json()["weighted_amount"]) == ("120000.00", "proposal", "72000.00")
    refused = api("rm1", "patch", url, json={"stage": "lost"})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "invalid"
    # All or nothing: the edit in a refused request is not kept.
    assert api("rm1", "patch", url, json={"note": "x", "stage": "lost",
                                          "lost_reason": "weather"}).status_code == 400
    assert api("rm1", "get", url).get_json()["note"] is None
    won = api("rm1", "patch", url, json={"stage": "won"}).get_json()
    assert won["stage"] == "won" and won["won_on"] == bank_today().isoformat()
    assert won["confirmed"] is False
    final = api("rm1", "patch", url, json={"stage": "proposal"})
    assert final.status_code == 409 and final.get_json()["error"]["code"] == "conflict"
    assert api("rm1", "patch", url, json={"colour": "red"}).status_code == 400
    assert api("rm1", "patch", url, json=["stage"]).status_code == 400
    assert [h["to"] for h in api("rm1", "get", url).get_json()["history"]] == [
        "lead", "proposal", "won"]


def test_lost_with_a_reason_and_reopened(api, bank, users):
    opp = new(api, "rm1", bank.ids["C1"]).get_json()["id"]
    url = f"{BASE}/{opp}"
    lost = api("rm1", "patch", url, json={"stage": "lost", "lost_reason": "price",
                                          "lost_note": "利率低"}).get_json()
    assert (lost["stage"], lost["lost_reason"], lost["lost_note"]) == ("lost", "price", "利率低")
    assert api("rm1", "patch", url, json={"stage": "won"}).status_code == 409
    reopened = api("rm1", "patch", url, json={"stage": "contacted"}).get_json()
    assert (reopened["stage"], reopened["lost_reason"]) == ("contacted", None)
    assert [h["lost_reason"] for h in reopened["history"]] == [None, "price", None]


def test_bad_input_is_refused(api, bank, users):
    for body in ({"amount": "0"}, {"amount": 12.5}, {"amount": "1.001"}, {"product": "NOSUCH"},
                 {"expected_close": "2020-01-01"}, {"customer": "1"}, {"owner": "RM0002"}):
        response = new(api, "rm1", body.pop("customer", bank.ids["C1"]), **body)
        assert response.status_code == 400, body
        assert response.get_json()["error"]["code"] == "invalid"
    assert api("rm1", "post", BASE, data="not json").status_code == 400
    assert api("rm1", "get", BASE).get_json()["total"] == 0


def test_scope(api, bank, users):
    opp = new(api, "rm1", bank.ids["C1"]).get_json()["id"]
    assert api("rm2", "get", f"{BASE}/{opp}").status_code == 404
    assert api("rm2", "patch", f"{BASE}/{opp}", json={"stage": "won"}).status_code == 404
    assert api("rm2", "get", BASE).get_json()["total"] == 0
    assert new(api, "rm2", bank.ids["C1"]).status_code == 404  # not rm2's customer
    assert api("bm_b01", "get", f"{BASE}/{opp}").status_code == 200
    assert api("bm_b02", "get", f"{BASE}/{opp}").status_code == 404
    for username in ("analyst", "admin"):
        assert api(username, "get", BASE).status_code == 403
        assert api(username, "get", f"{BASE}/{opp}").status_code == 403
        assert api(username, "get", f"{BASE}/forecast").status_code == 403
    assert api("rm1", "get", f"{BASE}/{opp}", headers={"Authorization": ""}).status_code == 401


def test_the_forecast(api, bank, users):
    opp = new(api, "rm1", bank.ids["C1"], amount="200000",
              expected_close=bank_today().isoformat()).get_json()["id"]
    api("rm1", "patch", f"{BASE}/{opp}", json={"stage": "needs_analysis"})
    won = new(api, "rm1", bank.ids["C1"], amount="30000").get_json()["id"]
    api("rm1", "patch", f"{BASE}/{won}", json={"stage": "won"})
    body = api("rm1", "get", f"{BASE}/forecast").get_json()
    assert body["as_of"] == bank_today().isoformat() and len(body["months"]) == 3
    assert body["probabilities"]["proposal"] == "0.60"
    (row,) = body["by_rm"]
    assert row["key"] == "RM0001" and row["open_count"] == 1
    assert row["open_amount"] == "200000.00"
    assert row["weighted"]["month0"] == "80000.00" and row["weighted"]["total"] == "80000.00"
    assert row["won_month"] == {"amount": "30000.00", "count": 1, "confirmed": 0}
    assert body["by_branch"] == []
    manager = api("bm_b01", "get", f"{BASE}/forecast").get_json()
    assert [r["key"] for r in manager["by_branch"]] == ["S011"]
    assert manager["total"]["weighted"]["total"] == "80000.00"
