"""The local workspace in headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.helpers.server import cli, serve

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required (make services installs it)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[str]:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}", "COPILOT_DEMO": "true"}
    migrated = cli("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    with serve(env, log_path=tmp_path / "serve.log") as base:
        yield base


def test_type_help_and_click_a_button(browser: Browser, workspace: str, tmp_path: Path) -> None:
    page: Page = browser.new_page()
    page.goto(workspace + "/")
    expect(page.locator("#channel-name")).to_contain_text("#general")
    page.get_by_test_id("composer").fill("/copilot help")
    page.get_by_test_id("composer").press("Enter")
    answer = page.locator(".msg.ephemeral").filter(has_text="Console Copilot commands")
    expect(answer).to_be_visible(timeout=15000)
    expect(answer).to_contain_text("/copilot")
    # a button works: the help of one command comes back
    answer.get_by_role("button", name="/copilot help").click()
    expect(page.locator(".msg.ephemeral").filter(has_text="Details: /copilot help")).to_be_visible(
        timeout=15000
    )
    page.screenshot(path=str(tmp_path / "workspace.png"))


def test_user_switcher_and_russian(browser: Browser, workspace: str) -> None:
    page = browser.new_page()
    page.goto(workspace + "/")
    page.get_by_test_id("user-switcher").select_option("olga")
    page.get_by_test_id("composer").fill("/copilot помощь")
    page.get_by_test_id("composer").press("Enter")
    expect(page.locator(".msg.ephemeral").filter(has_text="Неизвестная подкоманда")).to_be_visible(
        timeout=15000
    )
    # the page's own words follow olga's language (her platform locale is ru)
    expect(page.locator("#composer button[type=submit]")).to_have_text("Отправить")
    expect(page.locator("#channels")).to_contain_text("общий")
    expect(page.locator(".msg.ephemeral .only-you").first).to_contain_text("видно только вам")
    expect(page.locator(".replies").first).to_have_text("Ответить в ветке")
    page.get_by_test_id("user-switcher").select_option("alice")
    expect(page.locator("#composer button[type=submit]")).to_have_text("Send")
