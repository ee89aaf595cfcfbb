"""Customer search: every kind of key, always within the caller's scope, SQL-safe, paged."""
from __future__ import annotations

import pytest

from integration.pipeline import import_file
from tests.feeds import LI, ZHANG, write
from tests.functional.conftest import WANG



@pytest.fixture(autouse=True)
def english(client):  # type: ignore[no-untyped-def]
    """Pages in English, whatever the catalogues hold: the assertions read English text."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def ids_found(api, user: str, q: str,  # type: ignore[no-untyped-def]
              **params: object) -> list[int]:
    response = api(user, "get", "/api/v1/customers", query_string={"q": q, **params})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["total"] >= len(body["items"])
    return [item["id"] for item in body["items"]]


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def keys_of(bank, source_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Every kind of key the search takes, for one customer of the test bank."""
    return {
        "C1": {"name": "张三", "prefix": "张", "mobile": "13812345678", "id": ZHANG,
               "customer number": "C1", "account number": "A1L"},
        "C2": {"name": "李四", "prefix": "李", "mobile": "13987654321", "id": LI,
               "customer number": "C2", "account number": "A2"},
        "C3": {"name": "王五", "prefix": "王", "mobile": "13500001111", "id": WANG,
               "customer number": "C3", "account number": "A3"},
    }[source_id] | {"golden id": str(bank.ids[source_id])}


KINDS = ("name", "prefix", "mobile", "id", "customer number", "account number", "golden id")


@pytest.mark.parametrize("kind", KINDS)
def test_an_rm_finds_their_customer_by_each_kind_of_key(api, users, bank, kind):
    assert ids_found(api, "rm1", keys_of(bank, "C1")[kind]) == [bank.ids["C1"]]


@pytest.mark.parametrize("kind", KINDS)
def test_no_key_finds_a_customer_outside_the_scope(api, users, bank, kind):
    key = keys_of(bank, "C3")[kind]
    # 王五 exists and is found by his own RM with the same key...
    assert ids_found(api, "rm3", key) == [bank.ids["C3"]]
    # ...but not by an RM of another branch, nor by another RM of the same branch.
    assert ids_found(api, "rm1", key) == []
    assert ids_found(api, "rm2", keys_of(bank, "C1")[kind]) == []


def test_branch_managers_search_their_subtree_analysts_all_admins_nothing(api, users, bank):
    for kind in ("name", "mobile", "id", "customer number"):
        assert ids_found(api, "bm_b01", keys_of(bank, "C2")[kind]) == [bank.ids["C2"]]
        assert ids_found(api, "bm_b01", keys_of(bank, "C3")[kind]) == []
        assert ids_found(api, "bm_b02", keys_of(bank, "C3")[kind]) == [bank.ids["C3"]]
        assert ids_found(api, "analyst", keys_of(bank, "C3")[kind]) == [bank.ids["C3"]]
        assert ids_found(api, "admin", keys_of(bank, "C1")[kind]) == []


@pytest.mark.parametrize("typed", [
    "110105 19800101 123" + ZHANG[-1],            # spaces, as read off a card
    full_width(ZHANG),                            # full-width digits from a Chinese IME
    ZHANG[:6] + ZHANG[8:17],                      # the first-generation 15-digit form
    " 138-1234-5678 ", "+8613812345678",          # a mobile with separators or country code
    "c1", "Ｃ１",                                  # a customer number in lower case, full width
])
def test_keys_are_normalised_like_the_feeds(api, users, bank, typed):
    assert ids_found(api, "rm1", typed) == [bank.ids["C1"]]


def test_a_partial_mobile_or_id_number_matches_nothing(api, users, bank):
    # Only exact identifiers: a fragment is no way to browse other people's numbers.
    for fragment in ("1381234", ZHANG[:10], ZHANG[-6:], "5678"):
        assert ids_found(api, "analyst", fragment) == []


@pytest.mark.parametrize("q", [
    "%", "_", "%%", "张%", "%三", "_三", "张_", "' OR 1=1 --", "' OR '1'='1", "\\", "\\%",
    "'; DROP TABLE customers; --", "\" OR \"\"=\"", "*", "[a-z]", "张三' --",
])
def test_sql_metacharacters_are_plain_text(api, users, bank, q):
    # The analyst sees every customer: a wildcard that leaked would list them all.
    assert ids_found(api, "analyst", q) == []
    assert ids_found(api, "rm1", q) == []
    # The table is still there and answering.
    assert ids_found(api, "analyst", "张三") == [bank.ids["C1"]]


def test_a_name_with_markup_and_metacharacters_is_found_literally(client, login, users, bank):
    login("rm1")
    page = client.get("/", query_string={"q": "<script>"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert f'/customers/{bank.ids["C4"]}"' in html


def test_the_search_page_shows_branch_manager_and_masked_mobile(client, login, users, bank):
    login("rm1")
    page = client.get("/", query_string={"q": "张三"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "凤起路支行" in html and "RM0001" in html
    assert "138****5678" in html and "13812345678" not in html
    assert f'href="/customers/{bank.ids["C1"]}"' in html


def test_the_search_page_answers_metacharacters_without_error(client, login, users, bank):
    login("analyst")
    for q in ("%", "' OR 1=1 --", "\\"):
        page = client.get("/", query_string={"q": q})
        assert page.status_code == 200
        assert "0 customers found" in page.get_data(as_text=True)


def test_search_needs_a_signed_in_user(client, bank):
    assert client.get("/?q=张三").status_code == 302
    assert client.get("/api/v1/customers?q=张三").status_code == 401


def test_search_results_are_masked_for_everyone(api, users, bank):
    for user in ("rm1", "analyst", "bm_b01"):
        body = api(user, "get", "/api/v1/customers?q=13812345678").get_json()
        assert body["items"] == [{"id": bank.ids["C1"], "name": "张三", "status": "ACTIVE",
                                  "branch": "S011", "branch_name": "凤起路支行",
                                  "manager": "RM0001", "mobile": "138****5678"}]
        assert body["total"] == 1 and body["page"] == 1 and body["per_page"] == 20


@pytest.mark.parametrize("query, message", [
    ({}, "q is required"),
    ({"q": "   "}, "q is required"),
    ({"q": "张" * 101}, "at most 100"),
    ({"q": "张\x00"}, "control characters"),
    ({"q": "张", "per_page": "0"}, "per_page"),
    ({"q": "张", "per_page": "101"}, "per_page"),
    ({"q": "张", "page": "0"}, "page"),
    ({"q": "张", "page": "x"}, "page"),
    ({"q": "张", "page": "-1"}, "page"),
])
def test_bad_search_requests_are_400_with_a_json_error(api, users, bank, query, message):
    response = api("rm1", "get", "/api/v1/customers", query_string=query)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] in ("invalid", "bad_request") and message in error["message"]


def _many_customers(feed):  # type: ignore[no-untyped-def]
    for n in range(25):
        feed.customer(f"T{n:02d}", f"测试客户{n:02d}", branch="S011", manager="RM0001")
    for n in range(3):
        feed.customer(f"U{n:02d}", f"测试客户X{n}", branch="S021", manager="RM0003")
    feed.customer("D1", "折扣_50%", branch="S011", manager="RM0001")
    feed.customer("D2", "折扣X50%", branch="S011", manager="RM0001")
    feed.customer("D3", "O'Brien\\", branch="S011", manager="RM0001")


@pytest.fixture
def many(bank, engine, tmp_path):  # type: ignore[no-untyped-def]
    result = import_file(engine, write(tmp_path / "many.xml", _many_customers, sequence=2),
                         max_bytes=10**8, chunk=50)
    assert result.status == "applied", result.reason


def test_pagination_totals_and_pages(api, users, many):
    pages = [api("rm1", "get", "/api/v1/customers",
                 query_string={"q": "测试", "page": p, "per_page": 10}).get_json()
             for p in (1, 2, 3, 4)]
    assert [p["total"] for p in pages] == [25, 25, 25, 25]
    names = [i["name"] for p in pages for i in p["items"]]
    assert [len(p["items"]) for p in pages] == [10, 10, 5, 0]
    assert names == [f"测试客户{n:02d}" for n in range(25)]  # ordered, no repeats
    # The other branch's three are counted only for those who may see them.
    assert api("analyst", "get", "/api/v1/customers?q=测试").get_json()["total"] == 28
    assert api("rm3", "get", "/api/v1/customers?q=测试").get_json()["total"] == 3


def test_the_search_page_pages(client, login, users, many):
    login("rm1")
    first = client.get("/", query_string={"q": "测试"}).get_data(as_text=True)
    assert "25 customers found" in first and "Page 1 of 2" in first
    assert "测试客户19" in first and "测试客户20" not in first
    second = client.get("/", query_string={"q": "测试", "page": 2}).get_data(as_text=True)
    assert "Page 2 of 2" in second and "测试客户24" in second and "测试客户00" not in second


def test_exact_name_comes_before_longer_names_with_that_prefix(api, users, many):
    items = api("rm1", "get", "/api/v1/customers?q=测试客户0").get_json()["items"]
    assert [i["name"] for i in items] == [f"测试客户0{n}" for n in range(10)]
    exact = api("rm1", "get", "/api/v1/customers?q=测试客户07").get_json()
    assert [i["name"] for i in exact["items"]] == ["测试客户07"] and exact["total"] == 1


def test_names_with_metacharacters_match_only_literally(api, users, many):
    def names(q: str) -> list[str]:
        return [i["name"] for i in api("rm1", "get", "/api/v1/customers",
                                       query_string={"q": q}).get_json()["items"]]

    assert sorted(names("折扣")) == ["折扣X50%", "折扣_50%"]
    assert names("折扣_") == ["折扣_50%"]          # "_" is not "any character"
    assert names("折扣_50%") == ["折扣_50%"]       # "%" is not "anything"
    assert names("折扣%") == []
    assert names("O'Brien") == ["O'Brien\\"]
    assert names("O'Brien\\") == ["O'Brien\\"]
