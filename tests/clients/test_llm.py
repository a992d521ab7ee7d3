from __future__ import annotations

import json

import anthropic
import pytest

from bot.clients.llm import LLM, LLMUnavailable, estimate_tokens, make_llm
from bot.config import Settings
from tests.bot.secrets_corpus import corpus
from tests.fakes.anthropic import Fail, FakeAnthropic, Slow, overloaded, rate_limited, text

USER = [{"role": "user", "content": "hello"}]


def test_no_key_no_client() -> None:
    assert make_llm(Settings(anthropic_api_key=None)) is None


def test_factory_uses_settings(fake_anthropic: FakeAnthropic) -> None:
    llm = make_llm(
        Settings(anthropic_api_key="k", anthropic_base_url=fake_anthropic.url, anthropic_model="m1")
    )
    assert llm is not None
    fake_anthropic.script(text("hi"))
    assert llm.complete("sys", USER, 50).text == "hi"
    assert fake_anthropic.requests[0]["model"] == "m1"
    sent = fake_anthropic.headers[0]
    assert sent.get("x-api-key") == "k" or sent.get("authorization") == "Bearer k"


def test_counts_calls_and_tokens(llm: LLM, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(text("a"), text("b"))
    first = llm.complete("sys", USER, 50)
    second = llm.complete("sys", USER, 50, stream=True)
    assert second.text == "b"
    assert llm.usage.calls == 2
    assert llm.usage.input_tokens == first.input_tokens + second.input_tokens > 0
    assert llm.usage.output_tokens == first.output_tokens + second.output_tokens > 0


def test_every_secret_is_redacted_before_the_server(
    llm: LLM, fake_anthropic: FakeAnthropic
) -> None:
    secrets = corpus()
    body = "\n".join(line for _, _, line in secrets)
    messages: list[dict[str, object]] = [
        {"role": "user", "content": body},
        {"role": "assistant", "content": [{"type": "text", "text": body}]},
        {"role": "user", "content": [{"type": "text", "text": "again: " + body}]},
    ]
    llm.complete("system sees " + secrets[0][1], messages, 50)
    sent = json.dumps(fake_anthropic.requests, ensure_ascii=False)
    leaked = [kind for kind, secret, _ in secrets if secret in sent]
    assert leaked == []
    assert sum(llm.usage.redactions.values()) >= len(secrets)


def test_retries_429_with_retry_after_then_succeeds(
    llm: LLM, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(rate_limited(0.01), overloaded(), text("finally"))
    assert llm.complete("s", USER, 10).text == "finally"
    assert len(fake_anthropic.message_requests) == 3
    assert [h.get("x-stainless-retry-count") for h in fake_anthropic.headers] == ["0", "1", "2"]


def test_retry_after_is_honoured(llm: LLM, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(rate_limited(1.5), text("later"))
    assert llm.complete("s", USER, 10).text == "later"
    first, second = fake_anthropic.arrivals
    # the client's own backoff for a first retry is at most 0.5 s: waiting longer is retry-after
    assert second - first >= 1.4


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (rate_limited(0.01), "rate limited"),
        (overloaded(), "overloaded"),
        (Fail(500, "api_error"), "HTTP 500"),
    ],
)
def test_gives_up_with_one_error(
    llm: LLM, fake_anthropic: FakeAnthropic, failure: Fail, reason: str
) -> None:
    fake_anthropic.script(failure, failure, failure)
    with pytest.raises(LLMUnavailable) as info:
        llm.complete("s", USER, 10)
    assert info.value.reason == reason
    assert len(fake_anthropic.message_requests) == 3  # first try + max_retries=2
    assert llm.usage.failures == 1


def test_timeout_is_retried_then_unavailable(fake_anthropic: FakeAnthropic) -> None:
    client = anthropic.Anthropic(
        api_key="k", base_url=fake_anthropic.url, max_retries=1, timeout=0.3
    )
    llm = LLM(client, "m")
    fake_anthropic.script(Slow(2.0), Slow(2.0))
    with pytest.raises(LLMUnavailable, match="timed out"):
        llm.complete("s", USER, 10)
    assert len(fake_anthropic.message_requests) == 2


def test_connection_refused_is_unavailable() -> None:
    client = anthropic.Anthropic(api_key="k", base_url="http://127.0.0.1:9", max_retries=0)
    with pytest.raises(LLMUnavailable, match="connection failed"):
        LLM(client, "m").complete("s", USER, 10)


def test_authentication_error_is_not_retried(llm: LLM, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(Fail(401, "authentication_error", "invalid x-api-key"))
    with pytest.raises(LLMUnavailable, match="authentication failed"):
        llm.complete("s", USER, 10)
    assert len(fake_anthropic.message_requests) == 1


def test_count_tokens_against_the_api_and_the_estimator(llm: LLM) -> None:
    counted = llm.count_tokens("s", [{"role": "user", "content": "x" * 400}])
    assert counted >= estimate_tokens("x" * 400) == 100


def test_tool_use_round_trip(llm: LLM, fake_anthropic: FakeAnthropic) -> None:
    from tests.fakes.anthropic import tool_use

    tools = [
        {
            "name": "promql",
            "description": "Run a PromQL query",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    fake_anthropic.script(tool_use("promql", {"q": "up"}, preface="Checking."), text("All up."))
    first = llm.complete("s", USER, 100, tools=tools)
    assert first.stop_reason == "tool_use" and first.tool_calls[0].input == {"q": "up"}
    call = first.tool_calls[0]
    messages = [
        *USER,
        first.assistant_turn(),
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": call.id, "content": "up=1 password=s3cret!"}
            ],
        },
    ]
    second = llm.complete("s", messages, 100, tools=tools)
    assert second.text == "All up." and fake_anthropic.rejected == []
    sent = fake_anthropic.message_requests[1]["messages"]
    assert sent[1]["content"][1] == {
        "type": "tool_use",
        "id": call.id,
        "name": "promql",
        "input": {"q": "up"},
    }
    assert "s3cret" not in str(sent) and sent[2]["content"][0]["tool_use_id"] == call.id
