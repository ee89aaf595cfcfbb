"""A relationship manager's morning in the real browser: sign in, search, open the 360 view,
switch language; and a stranger guessing passwords gets locked out."""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import LOCKOUT_USER
from tests.feeds import ZHANG
from tests.functional.conftest import PASSWORD

pytestmark = pytest.mark.browser

CATALOGUE = Path(__file__).resolve().parents[2] / "portal/translations/zh/LC_MESSAGES/messages.po"


def chinese(message: str) -> str:
    """The Chinese catalogue's translation of a message."""
    from babel.messages.pofile import read_po

    with CATALOGUE.open("rb") as po:
        translated = read_po(po, locale="zh").get(message)
    assert translated is not None and translated.string, f"{message!r} is not translated"
    return str(translated.string)


def path_of(page) -> str:  # type: ignore[no-untyped-def]
    return urlsplit(page.url).path


def test_an_rm_signs_in_and_lands_on_the_agenda(page, sign_in):  # type: ignore[no-untyped-def]
    sign_in("rm1")
    assert path_of(page) == "/agenda"
    page.goto("/")
    assert page.locator("input[name=q]").is_visible()
    assert page.locator("#sign-out").is_visible()
    assert page.locator(".who").inner_text() == "rm1"


def test_a_wrong_password_does_not_sign_in(page, sign_in):  # type: ignore[no-untyped-def]
    sign_in("rm1", "not the password")
    assert path_of(page) == "/login"
    assert page.locator("#sign-out").count() == 0
    assert page.locator(".flash.error").count() == 1


def test_search_finds_the_customer_in_scope_and_opens_the_360_view(  # type: ignore[no-untyped-def]
        page, sign_in, browser_bank):
    sign_in("rm1")
    page.goto("/")
    page.fill("input[name=q]", "张三")
    with page.expect_navigation():
        page.press("input[name=q]", "Enter")
    assert parse_qs(urlsplit(page.url).query)["q"] == ["张三"]
    assert "张三" in page.locator("main").inner_text()
    link = page.locator(f'main a[href$="/customers/{browser_bank["C1"]}"]')
    assert link.count() >= 1, "the result links to the customer's 360 page"
    with page.expect_navigation():
        link.first.click()
    assert path_of(page) == f"/customers/{browser_bank['C1']}"
    assert "张三" in page.locator("main").inner_text()


def test_search_stays_within_scope(page, sign_in, browser_bank):  # type: ignore[no-untyped-def]
    def search(q: str) -> int:
        page.goto("/")
        page.fill("input[name=q]", q)
        with page.expect_navigation():
            page.press("input[name=q]", "Enter")
        return page.locator(f'main a[href$="/customers/{browser_bank["C2"]}"]').count()

    sign_in("rm1")
    assert search("李四") == 0  # rm2's customer: not listed for rm1
    with page.expect_navigation():
        page.click("#sign-out")
    assert path_of(page) == "/login"
    sign_in("bm_b01")  # the manager of both sub-branches sees 李四
    assert search("李四") == 1


def test_the_360_view_shows_the_customer_masked_with_the_flow_chart(  # type: ignore[no-untyped-def]
        page, sign_in, browser_bank, live_server, tmp_path):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in("rm1")
    response = page.goto(f"/customers/{browser_bank['C1']}")
    assert response is not None and response.status == 200
    page.wait_for_load_state("networkidle")
    text = page.locator("main").inner_text()
    assert "张三" in text
    masked = ZHANG[:3] + "*" * 11 + ZHANG[-4:]
    assert masked in text
    assert ZHANG not in page.content()  # the full number is not even in the markup
    chart = page.locator("main svg")
    assert chart.count() >= 1 and chart.first.is_visible()
    box = chart.first.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    # Usable on a tablet: nothing wider than the 1024 px viewport.
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a 1024px tablet"
    # Closed intranet: every asset came from the app itself.
    outside = [url for url in requested if not url.startswith(live_server)]
    assert outside == []
    for folder in {tmp_path, Path(os.environ.get("CRM_BROWSER_SCREENSHOTS", tmp_path))}:
        page.screenshot(path=str(folder / "crm-360.png"))
        page.screenshot(path=str(folder / "crm-360-full.png"), full_page=True)


def test_another_branchs_customer_is_not_found(  # type: ignore[no-untyped-def]
        page, sign_in, browser_bank):
    sign_in("rm1")
    response = page.goto(f"/customers/{browser_bank['C3']}")
    assert response is not None and response.status == 404
    assert "王五" not in page.content()


def test_the_language_switch_changes_the_page_and_sticks(  # type: ignore[no-untyped-def]
        page, sign_in, browser_bank):
    sign_in("rm1")
    page.goto("/?q=张三")
    html = page.locator("html")
    switch = page.locator("#switch-language")
    assert html.get_attribute("lang") == "zh-CN"
    assert switch.inner_text() == "English"
    assert page.locator("#sign-out").inner_text() == chinese("Sign out")
    assert re.search("[\u4e00-\u9fff]", chinese("Sign out"))

    with page.expect_navigation():
        switch.click()
    assert html.get_attribute("lang") == "en"
    assert switch.inner_text() == "中文"
    assert page.locator("#sign-out").inner_text() == "Sign out"
    assert urlsplit(page.url).path == "/" and "张三" in page.locator("main").inner_text()

    page.goto(f"/customers/{browser_bank['C1']}")  # the choice follows the user
    assert html.get_attribute("lang") == "en"

    with page.expect_navigation():
        page.locator("#switch-language").click()
    assert html.get_attribute("lang") == "zh-CN"
    assert page.locator("#switch-language").inner_text() == "English"
    assert page.locator("#sign-out").inner_text() == chinese("Sign out")
    assert path_of(page) == f"/customers/{browser_bank['C1']}"


def test_five_wrong_passwords_lock_the_account(  # type: ignore[no-untyped-def]
        chromium, live_server):
    # English, so the messages are known whatever the Chinese catalogue says.
    context = chromium.new_context(base_url=live_server, locale="en-US")
    page = context.new_page()
    try:
        def attempt(password: str) -> str:
            page.goto("/login")
            page.fill("input[name=username]", LOCKOUT_USER)
            page.fill("input[name=password]", password)
            with page.expect_navigation():
                page.click("#login-form button[type=submit]")
            assert path_of(page) == "/login" and page.locator("#sign-out").count() == 0
            return page.locator(".flash.error").inner_text()

        for n in range(5):
            assert attempt(f"wrong password {n}") == "wrong username or password"
        message = attempt(PASSWORD)  # the right password, too late
        assert re.search(r"locked", message), message
    finally:
        context.close()
