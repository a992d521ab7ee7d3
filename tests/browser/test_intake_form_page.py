"""The partner intake form in the local workspace page (headless Chromium): open it from the
intake's button, get a field error back under the field, correct it, see the intake go on."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.browser.test_workspace_page import browser as browser
from tests.browser.test_workspace_page import pytestmark as pytestmark
from tests.browser.test_workspace_page import workspace as workspace

ANSWERS = {
    "company": "Acme Data LLC",
    "contacts": "Dave Smith",
    "storage_regions": "ru-central1",
    "processing_regions": "ru-central1",
    "security_contact": "security at acme",
    "sla": "99.9",
}
SELECTS = {
    "category": "analytics",
    "vertical": "fintech",
    "deployment": "saas",
    "personal_data": "no",
    "support": "email",
    "pricing": "free",
}


def test_fill_in_the_intake_form(browser: Browser, workspace: str) -> None:
    page = browser.new_page()
    page.goto(workspace + "/#/C-partner-acme")
    page.get_by_test_id("user-switcher").select_option("alice")
    expect(page.locator("#channel-name")).to_contain_text("#partner-acme")
    page.get_by_test_id("composer").fill("/partner intake Acme Page")
    page.get_by_test_id("composer").press("Enter")
    root = page.locator(".msg").filter(has_text="Partner intake: Acme Page")
    expect(root.get_by_role("button", name="Fill in a form")).to_be_visible(timeout=15000)

    page.get_by_test_id("user-switcher").select_option("dave")  # the partner fills it in
    root.get_by_role("button", name="Fill in a form").click()
    form = page.locator("form.copilot-form")
    expect(form).to_be_visible(timeout=15000)
    expect(form.locator("[name=offer_name]")).to_have_value("Acme Page")  # prefilled
    for name, value in ANSWERS.items():
        form.locator(f"[name={name}]").fill(value)
    for name, value in SELECTS.items():
        form.locator(f"[name={name}]").select_option(value)
    form.get_by_role("button", name="Submit").click()
    expect(form.locator("[data-error=security_contact]")).to_contain_text("not an email")
    expect(form.locator("[data-error=company]")).to_have_text("")

    form.locator("[name=security_contact]").fill("security@acme.example")
    form.get_by_role("button", name="Submit").click()
    expect(page.locator("form.copilot-form")).to_have_count(0, timeout=15000)
    root.locator(".replies").click()
    expect(page.locator("#thread-messages")).to_contain_text("filled in the form", timeout=15000)
