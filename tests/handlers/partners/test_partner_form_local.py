"""The intake form in the local workspace: the button opens the form as a message only its
user sees, the page posts it to /api/local/form, field errors come back in that answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import select

from handlers.partners import form as partner_form
from storage.db import unit_of_work
from storage.models.partners import IntakeAnswer
from tests.handlers.partners.test_partners_e2e import CH, bot_messages, click, intakes, start
from tests.handlers.partners.test_partners_e2e import local as local

VALUES = {
    "company": "Acme Data LLC",
    "contacts": "Dave Smith",
    "offer_name": "Acme Form",
    "category": "analytics",
    "vertical": "fintech",
    "deployment": "saas",
    "storage_regions": "ru-central1",
    "processing_regions": "ru-central1",
    "personal_data": "no",
    "personal_data_countries": "",
    "certifications": "",
    "certification_evidence": "",
    "security_contact": "security@acme.example",
    "sla": "99.9",
    "support": "email",
    "pricing": "free",
    "dpa_url": "",
    "privacy_policy_url": "",
    "data_processing_url": "",
    "docs_url": "https://acme.example/docs",
}


async def test_local_form_path(local: Any) -> None:
    app, client, _ = local
    row, _ = await start(app, client, "Acme Form")
    await click(app, client, "dave", CH, "partner:form", f"{row.id}:0")
    forms = [m for m in await bot_messages(client, user="dave") if (m["message"] or {}).get("form")]
    assert len(forms) == 1 and forms[0]["ephemeral"]
    assert not [m for m in await bot_messages(client, user="alice") if m["id"] == forms[0]["id"]]
    form = forms[0]["message"]["form"]
    fields = {f["name"]: f for f in form["fields"]}
    assert fields["offer_name"]["initial"] == "Acme Form" and len(fields) == 20

    body = {
        "user": "dave",
        "form_id": form["form_id"],
        "state": form["state"],
        "values": {**VALUES, "security_contact": "nope", "category": "banking"},
        "message_id": forms[0]["id"],
    }
    r = await client.post("/api/local/form", json=body)
    answer = await r.json()
    assert r.status == 200 and answer["ok"] is False
    assert set(answer["errors"]) == {"security_contact", "category"}
    await app.idle()
    with unit_of_work(app.engine) as s:
        assert s.exec(select(IntakeAnswer)).all() == []

    r = await client.post("/api/local/form", json={**body, "values": VALUES})
    assert (await r.json()) == {"ok": True}
    await app.idle()
    row = intakes(app)[0]
    # optional items left empty are skipped: the checklist lists what is missing
    assert row.state == "checklist" and row.current is None, row.state
    with unit_of_work(app.engine) as s:
        rows = s.exec(select(IntakeAnswer)).all()
    assert {r.user_id for r in rows} == {"dave"} and all(r.is_external for r in rows)
    # unchanged (offer_name) and not applying (`when`) questions are not recorded
    not_recorded = {"offer_name", "personal_data_countries", "certification_evidence"}
    assert {r.question for r in rows} == set(VALUES) - not_recorded
    texts = json.dumps(await bot_messages(client, user="dave"), ensure_ascii=False)
    assert "filled in the form: 17 answers recorded" in texts
    assert "checklist items are still missing" in texts  # not asked again one by one
    assert not [
        m
        for m in await bot_messages(client, user="dave")
        if m["id"] == forms[0]["id"] and m["message"]
    ]


async def _submit(client: Any, user: str, message: dict[str, Any], values: dict[str, str]) -> Any:
    form = message["message"]["form"]
    body = {
        "user": user,
        "form_id": form["form_id"],
        "state": form["state"],
        "values": {f["name"]: values.get(f["name"], "") for f in form["fields"]},
        "message_id": message["id"],
    }
    r = await client.post("/api/local/form", json=body)
    assert r.status == 200
    return await r.json()


async def test_local_form_in_pages(local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A questionnaire longer than a form holds: page 1, then a button for page 2."""
    monkeypatch.setattr(partner_form, "FIELDS_PER_PAGE", 12)
    app, client, _ = local
    row, thread = await start(app, client, "Acme Pages")
    await click(app, client, "dave", CH, "partner:form", f"{row.id}:0")
    first = [m for m in await bot_messages(client, user="dave") if (m["message"] or {}).get("form")]
    assert len(first[0]["message"]["form"]["fields"]) == 12
    assert "1/2" in first[0]["message"]["form"]["title"]
    assert (await _submit(client, "dave", first[0], VALUES))["ok"]
    await app.idle()
    assert intakes(app)[0].state == "collecting"
    nxt = [
        m
        for m in await bot_messages(client, user="dave")
        if m["thread"] == thread and "partner:form" in json.dumps(m["message"])
    ]
    assert len(nxt) == 1 and f'"{row.id}:1"' in json.dumps(nxt[0]["message"])
    await click(app, client, "dave", CH, "partner:form", f"{row.id}:1")
    second = [
        m
        for m in await bot_messages(client, user="dave")
        if (m["message"] or {}).get("form") and m["id"] != first[0]["id"]
    ]
    fields = second[0]["message"]["form"]["fields"]
    assert len(fields) == 8 and fields[0]["name"] == "security_contact"
    assert (await _submit(client, "dave", second[0], VALUES))["ok"]
    await app.idle()
    assert intakes(app)[0].state == "checklist"
    with unit_of_work(app.engine) as s:
        recorded = {r.question for r in s.exec(select(IntakeAnswer)).all()}
    # the offer's name changed on the form ("Acme Pages" → "Acme Form"): recorded too
    assert recorded == set(VALUES) - {"personal_data_countries", "certification_evidence"}
