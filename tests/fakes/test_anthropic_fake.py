"""The fake speaks the recorded wire format to the real `anthropic` client."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import pytest

from tests.fakes.anthropic import (
    FakeAnthropic,
    InvalidRequest,
    Raw,
    text,
    tool_use,
    validate_request,
)

CONTRACTS = Path(__file__).parent.parent / "contracts" / "anthropic"


def _client(server: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0, timeout=5)


def test_recorded_requests_are_valid() -> None:
    for name in (
        "recorded_exchange.messages_text.json",
        "recorded_exchange.tool_use_roundtrip.json",
    ):
        for exchange in json.loads((CONTRACTS / name).read_text()):
            validate_request(exchange["request"]["body"])


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": "x"}]},
            "first",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            },
            "alternate",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "x"}]}],
            },
            "unknown content block",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "tools": [{"name": "bad name!", "input_schema": {"type": "object"}}],
            },
            "tools.0.name",
        ),
    ],
)
def test_malformed_requests_are_rejected(body: dict[str, object], error: str) -> None:
    with pytest.raises(InvalidRequest, match=error):
        validate_request(body)


def test_bad_request_reaches_the_client_as_400(fake_anthropic: FakeAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError):
        _client(fake_anthropic).messages.create(
            model="m", max_tokens=10, messages=[{"role": "assistant", "content": "hi"}]
        )
    assert fake_anthropic.rejected


def test_text_reply_and_usage(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(text("hello"))
    msg = _client(fake_anthropic).messages.create(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].text == "hello"  # type: ignore[union-attr]
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert fake_anthropic.requests[0]["messages"][0]["content"] == "hi"


def test_tool_use_non_streaming_and_streaming(fake_anthropic: FakeAnthropic) -> None:
    tools = [{"name": "query", "description": "q", "input_schema": {"type": "object"}}]
    fake_anthropic.script(
        tool_use("query", {"q": "up"}), tool_use("query", {"q": "up"}, preface="ok")
    )
    client = _client(fake_anthropic)
    msg = client.messages.create(
        model="m", max_tokens=10, tools=tools, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.stop_reason == "tool_use" and msg.content[0].input == {"q": "up"}  # type: ignore[union-attr]
    with client.messages.stream(
        model="m", max_tokens=10, tools=tools, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"q": "up"}  # type: ignore[union-attr]


def test_unknown_tool_and_malformed_arguments_are_scriptable(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(tool_use("rm_rf", {"path": "/"}), tool_use("query", "not-an-object"))
    client = _client(fake_anthropic)
    first = client.messages.create(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]
    )
    second = client.messages.create(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]
    )
    assert first.content[0].name == "rm_rf"  # type: ignore[union-attr]
    assert second.content[0].input == "not-an-object"  # type: ignore[union-attr]


def test_streaming_text_matches_non_streaming(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(text("one two  three"))
    with _client(fake_anthropic).messages.stream(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        assert "".join(stream.text_stream) == "one two  three"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("stream.basic_response.sse.txt", "Hello there!"),
        ("stream.tool_use_response.sse.txt", "I'll"),
    ],
)
def test_recorded_sse_fixtures_replay_to_the_client(
    fake_anthropic: FakeAnthropic, fixture: str, expected: str
) -> None:
    fake_anthropic.script(Raw((CONTRACTS / fixture).read_text()))
    with _client(fake_anthropic).messages.stream(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text.startswith(expected)  # type: ignore[union-attr]


def test_our_stream_has_the_recorded_event_sequence(fake_anthropic: FakeAnthropic) -> None:
    import urllib.request

    fake_anthropic.script(text("Hello there!"))
    req = urllib.request.Request(
        fake_anthropic.url + "/v1/messages",
        data=json.dumps(
            {
                "model": "m",
                "max_tokens": 5,
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            }
        ).encode(),
        headers={"content-type": "application/json", "x-api-key": "k"},
    )
    ours = [
        line
        for line in urllib.request.urlopen(req).read().decode().splitlines()
        if line.startswith("event:")
    ]
    recorded = [
        line
        for line in (CONTRACTS / "stream.basic_response.sse.txt").read_text().splitlines()
        if line.startswith("event:")
    ]
    assert list(dict.fromkeys(ours)) == list(dict.fromkeys(recorded))


def test_response_has_the_recorded_keys(fake_anthropic: FakeAnthropic) -> None:
    import urllib.request

    recorded = json.loads((CONTRACTS / "message_response.text.json").read_text())
    req = urllib.request.Request(
        fake_anthropic.url + "/v1/messages",
        data=json.dumps(
            {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
        ).encode(),
        headers={"content-type": "application/json", "x-api-key": "k"},
    )
    ours = json.loads(urllib.request.urlopen(req).read())
    assert set(recorded) <= set(ours)
    assert {"input_tokens", "output_tokens"} <= set(ours["usage"])


async def test_runs_on_the_test_event_loop() -> None:
    server = FakeAnthropic()
    await server.start()
    try:
        client = anthropic.AsyncAnthropic(api_key="k", base_url=server.url, max_retries=0)
        server.script(text("async ok"))
        msg = await client.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
        assert msg.content[0].text == "async ok"  # type: ignore[union-attr]
    finally:
        await server.stop()


def test_count_tokens(fake_anthropic: FakeAnthropic) -> None:
    result = _client(fake_anthropic).messages.count_tokens(
        model="m", messages=[{"role": "user", "content": "x" * 400}]
    )
    assert result.input_tokens >= 100
