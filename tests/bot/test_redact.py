from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.redact import redact, redact_counts, redact_payload
from tests.bot.secrets_corpus import corpus

CORPUS = corpus()


def test_corpus_covers_twenty_formats() -> None:
    assert len({kind for kind, _, _ in CORPUS}) >= 20


@pytest.mark.parametrize(("kind", "secret", "line"), CORPUS, ids=[c[0] for c in CORPUS])
def test_each_secret_is_redacted(kind: str, secret: str, line: str) -> None:
    out = redact(line)
    assert secret not in out
    assert "[REDACTED:" in out


def test_all_secrets_in_one_text() -> None:
    text = "\n".join(line for _, _, line in CORPUS)
    out, counts = redact_counts(text)
    for _, secret, _ in CORPUS:
        assert secret not in out
    assert sum(counts.values()) >= len(CORPUS)


def test_names_stay_so_the_line_still_reads() -> None:
    out = redact("postgres://app:hunter2hunter2@db:5432/app and password=abc123")
    expected = "postgres://app:[REDACTED:connection_string]@db:5432/app"
    assert out == expected + " and password=[REDACTED:password]"
    assert redact("Authorization: Bearer abcdefghijklmnop1234").endswith(
        "Bearer [REDACTED:bearer_token]"
    )


@pytest.mark.parametrize(
    "text",
    [
        "deployed commit 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39 to prod",
        "trace id 4bf92f3577b34da6a3ce929d0e0e4736, request 7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "image sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "error rate 5.2% on checkout-api, p99 latency 1.8s, pods 3/5 ready",
        "we rolled back to v1.42.0 at 10:32, token bucket limiter set to 500 rps",
        "see https://grafana.example.com/d/abc123/checkout?orgId=1&from=now-1h",
        "the password reset flow is broken for users with SSO",
        "tests pass: all green; key: rotation is planned",
        "Откатили релиз, ошибки 5xx упали до 0.1%",
    ],
)
def test_ordinary_incident_text_is_untouched(text: str) -> None:
    assert redact(text) == text


def test_payload_keeps_structure_and_ids() -> None:
    secret = CORPUS[0][1]
    payload = {
        "role": "user",
        "content": [
            {"type": "text", "text": f"token {secret}"},
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": f"x {secret}"},
        ],
    }
    out = redact_payload(payload)
    assert secret not in repr(out)
    assert out["content"][1]["tool_use_id"] == "toolu_1"  # type: ignore[index]


def test_a_whole_war_room_without_secrets_is_untouched() -> None:
    from tests.fakes.warroom import war_room

    changed = [line.text for line in war_room(5000) if redact(line.text) != line.text]
    assert changed == []


@settings(max_examples=400, deadline=None)
@given(
    prefix=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
    suffix=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
    index=st.integers(min_value=0, max_value=len(CORPUS) - 1),
)
def test_secrets_survive_no_surrounding_text(prefix: str, suffix: str, index: int) -> None:
    _, secret, line = CORPUS[index]
    assert secret not in redact(f"{prefix}\n{line}\n{suffix}")
    assert secret not in redact(f"{prefix} {line} {suffix}")
