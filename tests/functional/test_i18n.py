"""Pages in Chinese and English: the user's choice, then the browser's, then Chinese."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from portal.pages import day, money
from tests.functional.conftest import csrf_token

ROOT = Path(__file__).resolve().parents[2]
# "zh" serves every Chinese locale (Babel names zh_CN "zh_Hans_CN").
CATALOGUE = ROOT / "portal" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


def test_the_browser_language_decides_before_any_choice(client):
    chinese = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "登录" in chinese.get_data(as_text=True)
    english = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.8"})
    page = english.get_data(as_text=True)
    assert "Sign in" in page and "登录" not in page
    # No preference we support: the bank's language.
    assert "登录" in client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)


def test_the_users_choice_wins_over_the_browser(client):
    token = csrf_token(client)
    client.post("/language/en", data={"csrf_token": token, "next": "/login"})
    page = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Sign in" in page and 'lang="en"' in page


def test_money_and_dates_follow_the_locale(app):
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert money(1234567.5) == "1,234,567.50"
        assert day(date(2026, 11, 20)) == "2026年11月20日"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert day(date(2026, 11, 20)) == "Nov 20, 2026"
        assert money(None) == "—"


def test_every_message_of_the_portal_has_a_chinese_translation():
    method_map = [("portal/**.py", "python"), ("portal/templates/**.html", "jinja2")]
    wanted = {msg[2] if isinstance(msg[2], str) else msg[2][0]
              for msg in extract_from_dir(str(ROOT), method_map,
                                          keywords={"_": None, "_l": None, "gettext": None,
                                                    "ngettext": (1, 2), "lazy_gettext": None})}
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue if m.string}
    missing = sorted(wanted - translated)
    assert not missing, f"add these to {CATALOGUE.name} (zh_CN): {missing}"


def test_a_services_refusal_reads_in_the_pages_language(client, login, api, users):
    login("rm1")
    chinese = client.get("/tasks/999999", headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 404 and "任务不存在" in chinese.get_data(as_text=True)
    english = client.get("/tasks/999999", headers={"Accept-Language": "en"})
    assert "no such task" in english.get_data(as_text=True)
    # With values: the sentence is translated and the values filled in.
    page = client.get("/tasks?due_from=someday", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 400
    assert "due_from 必须是日期（YYYY-MM-DD）" in page.get_data(as_text=True)
    # The API keeps the English text (clients parse codes, people read pages).
    response = api("rm1", "get", "/api/v1/tasks/999999", headers={"Accept-Language": "zh-CN"})
    assert response.get_json()["error"] == {"code": "not_found", "message": "no such task"}
