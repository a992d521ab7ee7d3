"""Claude through the `anthropic` client: redaction on the way out, retries, usage counters.

Retries are the client's own (``max_retries``): it retries 408/409/429/5xx (529 overloaded
included), connection errors and timeouts with exponential backoff and jitter, and honours
``retry-after`` / ``retry-after-ms``. When it gives up, :meth:`LLM.complete` raises one
:class:`LLMUnavailable` with a short reason, so callers have one thing to fall back on.

Token budgets use :func:`estimate_tokens` (UTF-8 bytes / 4, rounded up): local, instant, about
characters / 4 for English and code and deliberately high for Russian (2 bytes a character).
:meth:`LLM.count_tokens` asks the API (``messages.count_tokens``) when exactness matters more
than a round trip.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic

from bot.config import Settings
from bot.redact import redact, redact_counts, redact_payload

DEFAULT_MAX_RETRIES = 3
DEFAULT_TIMEOUT = 60.0


class LLMUnavailable(Exception):
    """The model could not answer (after retries); `reason` is safe to show to users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class LLMUsage:
    """Counters since the client was made: calls, failures, tokens, redactions per kind."""

    calls: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    redactions: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> LLMUsage:
        return LLMUsage(
            self.calls,
            self.failures,
            self.input_tokens,
            self.output_tokens,
            Counter(self.redactions),
        )


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: object


@dataclass(frozen=True)
class Completion:
    """One model answer: joined text, tool calls, stop reason and its token usage."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    stop_reason: str | None
    input_tokens: int
    output_tokens: int
    content: tuple[Any, ...] = ()

    def assistant_turn(self) -> dict[str, Any]:
        """This answer as the assistant message of the next request (tool-use loops)."""
        blocks = [
            block.model_dump(include={"type", "text", "id", "name", "input"}, exclude_none=True)
            for block in self.content
        ]
        return {"role": "assistant", "content": blocks}


def estimate_tokens(text: str) -> int:
    """Budget estimate: UTF-8 bytes / 4, rounded up (no network call).

    English runs ~4 characters a token, so this is characters / 4 there; Cyrillic takes two
    bytes a character, so Russian counts as ~2 characters a token — on the safe side of the
    ~2.5-3 the tokenizer really gets.
    """
    return (len(text.encode("utf-8")) + 3) // 4


_MARK = re.compile(r"\[REDACTED:([a-z_]+)\]")


def _kinds(text: str) -> Counter[str]:
    return Counter(_MARK.findall(text))


def _reason(exc: anthropic.APIError) -> str:
    if isinstance(exc, anthropic.APITimeoutError):
        return "timed out"
    if isinstance(exc, anthropic.APIConnectionError):
        return "connection failed"
    if isinstance(exc, anthropic.APIStatusError):
        names = {
            401: "authentication failed",
            403: "permission denied",
            429: "rate limited",
            529: "overloaded",
        }
        return names.get(exc.status_code, f"HTTP {exc.status_code}")
    return type(exc).__name__


class LLM:
    """A thin, thread-safe wrapper around `anthropic.Anthropic` used by every handler."""

    def __init__(self, client: anthropic.Anthropic, model: str) -> None:
        self.client = client
        self.model = model
        self.usage = LLMUsage()
        self._lock = threading.Lock()

    def _redact_text(self, text: str) -> str:
        out, counts = redact_counts(text)
        if counts:
            with self._lock:
                self.usage.redactions.update(counts)
        return out

    def _redact_messages(self, messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        out = redact_payload(list(messages))
        counts = _kinds(repr(out)) - _kinds(repr(messages))
        if counts:
            with self._lock:
                self.usage.redactions.update(counts)
        return out  # type: ignore[return-value]

    def complete(
        self,
        system: str,
        messages: Sequence[dict[str, Any]],
        max_tokens: int = 1024,
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        tool_choice: dict[str, Any] | None = None,
        temperature: float | None = None,
        stream: bool = False,
    ) -> Completion:
        """Send one Messages request with every text redacted; raise LLMUnavailable on failure."""
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "system": self._redact_text(system),
            "messages": self._redact_messages(messages),
        }
        if tools:
            kwargs["tools"] = list(tools)
        if tool_choice:
            kwargs["tool_choice"] = tool_choice
        if temperature is not None:
            kwargs["temperature"] = temperature
        try:
            if stream:
                with self.client.messages.stream(**kwargs) as events:
                    message = events.get_final_message()
            else:
                message = self.client.messages.create(**kwargs)
        except anthropic.APIError as exc:
            with self._lock:
                self.usage.failures += 1
            raise LLMUnavailable(_reason(exc)) from exc
        usage = message.usage
        with self._lock:
            self.usage.calls += 1
            self.usage.input_tokens += usage.input_tokens
            self.usage.output_tokens += usage.output_tokens
        texts = [b.text for b in message.content if b.type == "text"]
        calls = tuple(
            ToolCall(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"
        )
        return Completion(
            text="".join(texts),
            tool_calls=calls,
            stop_reason=message.stop_reason,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            content=tuple(message.content),
        )

    def count_tokens(self, system: str, messages: Sequence[dict[str, Any]]) -> int:
        """Exact input tokens from the API's count endpoint (redacted text, as it would be sent)."""
        try:
            result = self.client.messages.count_tokens(
                model=self.model,
                system=redact(system),
                messages=self._redact_messages(messages),  # type: ignore[arg-type]
            )
        except anthropic.APIError as exc:
            raise LLMUnavailable(_reason(exc)) from exc
        return result.input_tokens


def make_llm(
    settings: Settings,
    *,
    max_retries: int = DEFAULT_MAX_RETRIES,
    timeout: float = DEFAULT_TIMEOUT,
) -> LLM | None:
    """Build the client from ANTHROPIC_API_KEY / _BASE_URL / _MODEL; None without a key."""
    if not settings.anthropic_api_key:
        return None
    client = anthropic.Anthropic(
        api_key=settings.anthropic_api_key,
        base_url=settings.anthropic_base_url or None,
        max_retries=max_retries,
        timeout=timeout,
    )
    return LLM(client, settings.anthropic_model)
