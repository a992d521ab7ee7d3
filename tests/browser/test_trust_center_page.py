"""The Trust Center pages in headless Chromium (Debian's), served by the real bot process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from storage.db import make_engine, unit_of_work
from storage.models.partners import Intake
from tests.browser.test_workspace_page import browser  # noqa: F401  (fixture)
from tests.helpers.server import cli, serve

pytestmark = pytest.mark.browser
ANSWERS = {
    "company": "Acme Data LLC",
    "offer_name": "Acme Analytics",
    "category": "analytics",
    "vertical": "fintech",
    "deployment": "saas",
    "storage_regions": ["ru-central1"],
    "processing_regions": ["ru-msk"],
    "personal_data": True,
    "personal_data_countries": ["RU"],
    "certifications": ["ISO27001"],
    "certification_evidence": "https://acme.example/certs",
    "security_contact": "security@acme.example",
    "sla": 99.9,
    "support": "24x7",
    "pricing": "subscription",
    "dpa_url": "https://acme.example/dpa",
}


@pytest.fixture
def trust(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {"DATABASE_URL": url, "COPILOT_DEMO": "true"}
    migrated = cli("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    engine = make_engine(url)
    now = datetime.now(UTC)
    with unit_of_work(engine) as s:
        s.add(
            Intake(
                platform="local",
                channel_id="C-partner-acme",
                root_key="k1",
                offer_name="Acme Analytics",
                slug="acme-analytics",
                state="published",
                answers_json=json.dumps(ANSWERS),
                requester_id="alice",
                coverage=0.75,
                score=80,
                started_at=now,
                completed_at=now,
                published_at=now,
            )
        )
    engine.dispose()
    with serve(env, log_path=tmp_path / "serve.log") as base:
        yield base


def test_index_links_the_scorecard(browser: Browser, trust: str, tmp_path: Path) -> None:  # noqa: F811
    page = browser.new_page()
    page.goto(trust + "/trust/")
    expect(page.locator("h1")).to_have_text("Trust Center")
    page.get_by_role("link", name="Acme Analytics").click()
    expect(page.locator("#offer")).to_have_text("Acme Analytics")
    expect(page.locator("#checklist")).to_contain_text("LOC-152FZ-STORAGE")
    expect(page.locator("#checklist tr.missing")).to_contain_text(
        ["ART-PRIVACY", "ART-DATA-PROCESSING"]
    )
    expect(page.locator("#locations")).to_contain_text("ru-central1")
    expect(page.locator("#certifications")).to_have_text("ISO27001")
    expect(page.locator("#score")).to_contain_text("/100")
    page.screenshot(path=str(tmp_path / "trust.png"))
