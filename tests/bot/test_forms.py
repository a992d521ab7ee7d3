"""Forms: the neutral model, its Slack modal and Mattermost dialog renderers (checked with the
fakes' spec rules), the signed dialog state, and the inbound parsers on real payload shapes."""

from __future__ import annotations

import json

from bot.forms import Choice, FieldType, Form, FormField, FormState, check_fields, yes_no
from bot.i18n import translator
from bot.platforms import mattermost_forms, mattermost_inbound, slack_forms, slack_inbound
from bot.router import Router
from handlers.partners import flow
from handlers.partners import form as partner_form
from tests.fakes import mattermost_contract, slack_contract, slack_requests
from tests.fakes.mattermost_requests import dialog_submission

T = translator("en").t
STATE = FormState(channel_id="C0PARTNER1", thread_id="1700000000.000100", locale="ru", value="7:0")


def sample(n_fields: int = 0) -> Form:
    fields = [
        FormField(name="company", label="Company", help="What is the legal name?", max_length=500),
        FormField(name="notes", label="Notes", type=FieldType.TEXTAREA, required=False),
        FormField(
            name="category",
            label="Category",
            type=FieldType.SELECT,
            choices=[Choice(value="database", label="database"), Choice(value="ai-ml", label="AI")],
            initial="ai-ml",
        ),
        FormField(name="pd", label="Personal data", type=FieldType.YESNO, choices=yes_no(T)),
        FormField(name="email", label="Security contact", type=FieldType.EMAIL, initial="a@b.io"),
        FormField(name="docs", label="Documentation link" * 3, type=FieldType.URL, required=False),
    ]
    fields += [FormField(name=f"extra{i}", label=f"Extra {i}") for i in range(n_fields)]
    return Form(
        form_id="partner:intake_form",
        title="A rather long partner intake title",
        fields=fields,
        value="7:0",
        intro="**Intake** #7",
        submit_label="Submit",
    )


def test_state_round_trip_and_garbage() -> None:
    assert FormState.decode(STATE.encode()) == STATE
    for raw in ("", "C1|ts", "[1,2,3,4]", '["a","b"]', "{}", "null"):
        assert FormState.decode(raw).channel_id == ""


def test_slack_modal_within_block_kit_limits() -> None:
    view = slack_forms.render_view(sample(), STATE)
    assert slack_contract.check_view(view) == []
    assert len(view["title"]["text"]) <= 24 and view["submit"]["text"] == "Submit"
    assert FormState.decode(view["private_metadata"]) == STATE
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert view["blocks"][0]["type"] == "section"  # the intro
    assert blocks["company"]["element"] == {
        "type": "plain_text_input",
        "action_id": "company",
        "max_length": 500,
    }
    assert blocks["company"]["hint"]["text"] == "What is the legal name?"
    assert blocks["notes"]["optional"] is True and blocks["notes"]["element"]["multiline"]
    select = blocks["category"]["element"]
    assert select["type"] == "static_select" and select["initial_option"]["value"] == "ai-ml"
    assert [o["value"] for o in blocks["pd"]["element"]["options"]] == ["yes", "no"]
    assert blocks["email"]["element"] == {
        "type": "email_text_input",
        "action_id": "email",
        "initial_value": "a@b.io",
    }
    assert blocks["docs"]["element"]["type"] == "url_text_input"


def test_slack_modal_too_large_and_errors() -> None:
    assert len(slack_forms.render_view(sample(93), STATE)["blocks"]) == 100
    try:
        slack_forms.render_view(sample(94), STATE)
    except slack_forms.FormTooLarge:
        pass
    else:
        raise AssertionError("101 blocks must not render")
    out = slack_forms.error_response({"sla": "x" * 400})
    assert out["response_action"] == "errors" and len(out["errors"]["sla"]) <= 150


def test_slack_contract_catches_bad_inputs() -> None:
    view = slack_forms.render_view(sample(), STATE)
    view["blocks"][1]["element"]["max_length"] = 5000
    view["blocks"][3]["element"]["initial_option"] = {"text": {"type": "plain_text", "text": "x"}}
    del view["submit"]
    problems = slack_contract.check_view(view)
    assert any("max_length" in p for p in problems)
    assert any("initial_option" in p for p in problems)
    assert any("submit" in p for p in problems)


def test_mattermost_dialog_within_documented_limits() -> None:
    body = mattermost_forms.render_dialog(
        sample(), url="https://bot.example/mattermost/actions", state="s", trigger_id="tr"
    )
    assert mattermost_contract.check_dialog(body) == []
    dialog = body["dialog"]
    assert dialog["title"] == "A rather long partner i…" and len(dialog["title"]) == 24
    assert dialog["introduction_text"] == "**Intake** #7" and dialog["submit_label"] == "Submit"
    els = {e["name"]: e for e in dialog["elements"]}
    assert els["company"] == {
        "display_name": "Company",
        "name": "company",
        "optional": False,
        "help_text": "What is the legal name?",
        "type": "text",
        "max_length": 150,  # a dialog text element holds 150 characters
    }
    assert els["notes"]["type"] == "textarea" and els["notes"]["optional"] is True
    assert els["category"]["type"] == "select" and els["category"]["default"] == "ai-ml"
    assert els["pd"]["options"] == [{"text": "yes", "value": "yes"}, {"text": "no", "value": "no"}]
    assert els["email"]["subtype"] == "email" and els["email"]["default"] == "a@b.io"
    assert els["docs"]["subtype"] == "url" and len(els["docs"]["display_name"]) == 24


def test_mattermost_contract_catches_bad_dialogs() -> None:
    body = mattermost_forms.render_dialog(sample(), url="u", state="s", trigger_id="t")
    body["dialog"]["elements"][0]["display_name"] = "x" * 30
    body["dialog"]["elements"][1]["name"] = "company"
    body["dialog"]["elements"][2]["default"] = "nope"
    problems = mattermost_contract.check_dialog(body)
    assert any("display_name" in p for p in problems)
    assert any("duplicate" in p for p in problems)
    assert any("default is not one of" in p for p in problems)


def test_dialog_state_is_bound_to_form_user_and_channel() -> None:
    signed = mattermost_forms.sign_state("k", "f", STATE, "u1")
    ok = mattermost_forms.verify_state("k", "f", signed, "u1", STATE.channel_id)
    assert ok == STATE
    assert mattermost_forms.verify_state("k", "f", signed, "u2", STATE.channel_id) is None
    assert mattermost_forms.verify_state("k", "g", signed, "u1", STATE.channel_id) is None
    assert mattermost_forms.verify_state("k", "f", signed, "u1", "C-other") is None
    assert mattermost_forms.verify_state("other", "f", signed, "u1", STATE.channel_id) is None
    assert mattermost_forms.verify_state("k", "f", "garbage", "u1", STATE.channel_id) is None
    assert mattermost_forms.verify_state("k", "f", signed + "é", "u1", STATE.channel_id) is None


def test_slack_view_submission_to_event() -> None:
    view = slack_forms.render_view(sample(), STATE)
    view["id"] = "V0FORM1"
    body = slack_requests.view_submission_for(
        view,
        {"company": "Acme", "category": "database", "pd": "no", "email": "x@y.io"},
        user="U0DAVE0001",
        username="dave",
        user_team="T0PARTNER1",
        team="T0HOST0001",
    )
    ev = slack_inbound.view_event(body)
    assert ev.kind == "submission" and ev.action_id == "partner:intake_form"
    assert ev.action_value == "7:0" and ev.thread_id == STATE.thread_id
    assert ev.channel.id == "C0PARTNER1" and ev.actor.locale == "ru" and ev.actor.is_external
    assert ev.form == {
        "company": "Acme",
        "notes": "",
        "category": "database",
        "pd": "no",
        "email": "x@y.io",
        "docs": "",
    }


def test_slack_recorded_view_submission_without_our_state() -> None:
    ev = slack_inbound.view_event(slack_requests.load_payload("view_submission.json"))
    assert ev.action_id == "view-id" and ev.channel.id == "" and ev.form == {"maBWU": "test"}


def test_mattermost_dialog_submission_to_event() -> None:
    body, _ = dialog_submission("partner:intake_form", {"company": "Acme", "ok": True, "n": None})
    ev = mattermost_inbound.dialog_event(json.loads(body), STATE)
    assert ev.action_id == "partner:intake_form" and ev.action_value == "7:0"
    assert ev.channel.id == STATE.channel_id and ev.actor.locale == "ru"
    assert ev.form == {"company": "Acme", "ok": "true", "n": ""}


def test_generic_field_check() -> None:
    errors = check_fields(
        sample().fields,
        {"company": "", "category": "banking", "pd": "maybe", "email": "nope", "docs": "ftp://x"},
        T,
    )
    assert errors == {
        "company": "This field is required.",
        "category": "Please choose one of the options.",
        "pd": "Please answer yes or no.",
        "email": "That is not an email address (like security@example.com).",
        "docs": "That is not a link: send a URL starting with https://",
    }


def test_router_check_form_uses_the_form_language() -> None:
    router = Router()
    partner_form.register(router)
    body, _ = dialog_submission("partner:intake_form", {"sla": "150"})
    ev = mattermost_inbound.dialog_event(json.loads(body), STATE)
    errors = router.check_form(ev)
    assert "company" in errors and "sla" in errors
    assert errors["company"] == "Это поле обязательно."  # the form was shown in Russian
    ev = ev.model_copy(update={"action_id": "unknown"})
    assert router.check_form(ev) == {}


def test_partner_form_pages_and_conditions() -> None:
    questions = flow.questions()
    assert partner_form.pages(questions) == 1 and partner_form.pages(questions, per_page=8) == 3
    assert [q.key for q in partner_form.page_questions(questions, 2, per_page=8)] == [
        q.key for q in questions[16:]
    ]
    values = {q.key: "" for q in questions}
    values.update(company="Acme", personal_data="no")
    _, errors = partner_form.parse(questions, values, T)
    assert "personal_data_countries" not in errors  # does not apply when personal_data is no
    values["personal_data"] = "yes"
    _, errors = partner_form.parse(questions, values, T)
    assert "personal_data_countries" in errors and "dpa_url" not in errors
    assert partner_form.initial(True) == "yes" and partner_form.initial(["RU", "KZ"]) == "RU, KZ"
    assert partner_form.initial(99.9) == "99.9" and partner_form.initial(None) == ""
