"""A fake Anthropic Messages API that the real `anthropic` client talks to via `base_url`.

Speaks the wire format of the recorded exchanges in ``tests/contracts/anthropic/``:
``POST /v1/messages`` (JSON, or Server-Sent Events when ``"stream": true``) and
``POST /v1/messages/count_tokens``. Every request body is recorded; request shape is validated
(model, max_tokens, alternating roles, content block types, tool schemas) and a bad one gets the
API's 400 ``invalid_request_error``.

Responses come from a script (a FIFO of :class:`Reply`, :class:`Fail`, :class:`Slow`,
:class:`Raw`) and, when the script is empty, from a responder — by default
:func:`echo_summarizer`, which derives a deterministic JSON summary from the ``[id] ...``
data lines it was sent.

Run it on a test's event loop (``await server.start()``) or in a thread for sync code
(``with FakeAnthropic.running() as server:``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Json = dict[str, Any]
BLOCK_TYPES = {
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "search_result",
    "server_tool_use",
    "web_search_tool_result",
}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


@dataclass
class Reply:
    """A scripted successful answer: content blocks as the API returns them."""

    content: list[Json]
    stop_reason: str = "end_turn"
    input_tokens: int | None = None
    output_tokens: int | None = None
    raw_tool_json: dict[int, str] = field(default_factory=dict)  # streaming: index -> raw json


@dataclass
class Fail:
    """A scripted error: status, error type, headers (e.g. retry-after)."""

    status: int
    type: str
    message: str = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Slow:
    """Wait `seconds` before answering with `then` (a Reply, or the responder when None)."""

    seconds: float
    then: Reply | None = None


@dataclass
class Raw:
    """Send a recorded body verbatim (e.g. a contract SSE fixture)."""

    body: str
    content_type: str = "text/event-stream"
    status: int = 200


Step = Reply | Fail | Slow | Raw
Responder = Callable[[Json], Reply]


def text(value: str, *, stop_reason: str = "end_turn") -> Reply:
    """A reply with one text block."""
    return Reply([{"type": "text", "text": value}], stop_reason=stop_reason)


_TOOL_IDS = itertools.count(1)


def tool_use(
    name: str, tool_input: object, *, preface: str = "", raw_json: str | None = None
) -> Reply:
    """A reply asking to call a tool; `raw_json` streams malformed arguments verbatim."""
    blocks: list[Json] = [{"type": "text", "text": preface}] if preface else []
    blocks.append(
        {
            "type": "tool_use",
            "id": f"toolu_fake{next(_TOOL_IDS):06d}",
            "name": name,
            "input": tool_input,
        }
    )
    raw = {len(blocks) - 1: raw_json} if raw_json is not None else {}
    return Reply(blocks, stop_reason="tool_use", raw_tool_json=raw)


def rate_limited(retry_after: float = 0.01) -> Fail:
    """429 rate_limit_error with a retry-after header (seconds, may be fractional)."""
    return Fail(429, "rate_limit_error", "Rate limited", {"retry-after": str(retry_after)})


def overloaded() -> Fail:
    """529 overloaded_error, as the API sends when capacity is short."""
    return Fail(529, "overloaded_error", "Overloaded")


def server_error() -> Fail:
    return Fail(500, "api_error", "Internal server error")


def estimate_tokens(value: object) -> int:
    """Rough token count of a JSON value (chars / 4), the fake's stand-in for a tokenizer."""
    raw = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return max(1, (len(raw) + 3) // 4)


# -- request validation -------------------------------------------------------------------------


class InvalidRequest(Exception):
    pass


def _check_blocks(content: object, role: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise InvalidRequest(f"messages: {role} content must be a string or a non-empty list")
    for block in content:
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            raise InvalidRequest(f"messages: unknown content block {block!r:.80}")
        kind = block["type"]
        if kind == "text" and not isinstance(block.get("text"), str):
            raise InvalidRequest("messages: text block needs a string `text`")
        if kind == "tool_use" and role != "assistant":
            raise InvalidRequest("messages: tool_use blocks belong to assistant turns")
        if kind == "tool_result" and (role != "user" or not block.get("tool_use_id")):
            raise InvalidRequest("messages: tool_result needs role user and a tool_use_id")


def validate_request(body: Json, *, count_only: bool = False) -> None:
    """Raise InvalidRequest unless `body` is a well-formed Messages API request."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise InvalidRequest("model: Field required")
    if not count_only:
        mt = body.get("max_tokens")
        if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
            raise InvalidRequest("max_tokens: must be a positive integer")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: at least one message is required")
    previous = None
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, dict) else None
        if role not in ("user", "assistant"):
            raise InvalidRequest(f"messages.{i}.role: must be user or assistant")
        if i == 0 and role != "user":
            raise InvalidRequest("messages: first message must use the user role")
        if role == previous:
            raise InvalidRequest(f"messages.{i}: roles must alternate between user and assistant")
        previous = role
        _check_blocks(msg.get("content"), role)
    system = body.get("system")
    if not (system is None or isinstance(system, str)) and (
        not isinstance(system, list) or any(b.get("type") != "text" for b in system)
    ):
        raise InvalidRequest("system: must be a string or a list of text blocks")
    for j, tool in enumerate(body.get("tools") or []):
        if "type" in tool and tool["type"] != "custom":
            continue  # server tools (web_search...) have their own shapes
        if not TOOL_NAME.match(str(tool.get("name", ""))):
            raise InvalidRequest(f"tools.{j}.name: must match {TOOL_NAME.pattern}")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise InvalidRequest(f"tools.{j}.input_schema: must be a JSON schema of type object")


# -- the default responder ------------------------------------------------------------------------

DATA_LINE = re.compile(
    r"^\[(?P<id>[^\]\s]+)\]\s+\S+\s+@(?P<user>\S+)\s+\((?P<kind>\w+)\)(?:\s+\[thread:[^\]]*\])?"
    r"\s?(?P<text>.*)$",
    re.M,
)
SUMMARY_BLOCK = re.compile(r"<(previous_summary|partial_summary)>\s*(\{.*?\})\s*</\1>", re.S)
SECTIONS = (
    "what_happened",
    "impact",
    "current_state",
    "actions",
    "open_questions",
    "next_steps",
)
_KIND_SECTION = {
    "alert": "what_happened",
    "status": "current_state",
    "action": "actions",
    "decision": "next_steps",
}


def _last_user_text(body: Json) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content if b.get("type") == "text")


def echo_summarizer(body: Json) -> Reply:
    """Summarize what was sent: carry previous/partial summaries, one item per data line kind."""
    sent = _last_user_text(body)
    out: dict[str, list[Json]] = {name: [] for name in SECTIONS}
    for _, raw in SUMMARY_BLOCK.findall(sent):
        try:
            earlier = json.loads(raw)
        except json.JSONDecodeError:
            continue
        for name in SECTIONS:
            out[name].extend(earlier.get(name) or [])
    lines = list(DATA_LINE.finditer(sent))
    for m in lines:
        item = {"text": m["text"][:200], "refs": [m["id"]]}
        section = _KIND_SECTION.get(m["kind"])
        if m["text"].rstrip().endswith("?"):
            section = "open_questions"
        if section == "actions":
            item["by"] = m["user"]
        if section:
            out[section].append(item)
    if lines:
        out["what_happened"].insert(
            0,
            {
                "text": f"echo: {len(lines)} messages from {lines[0]['id']} to {lines[-1]['id']}",
                "refs": [lines[0]["id"], lines[-1]["id"]],
            },
        )
    return text(json.dumps(out, ensure_ascii=False))


# -- the server -----------------------------------------------------------------------------------


def _error_body(kind: str, message: str) -> Json:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}


class FakeAnthropic:
    """The fake server: `script(...)` steps, `requests` recorded, `url` for ANTHROPIC_BASE_URL."""

    def __init__(self, responder: Responder = echo_summarizer) -> None:
        self.responder = responder
        self.requests: list[Json] = []
        self.headers: list[dict[str, str]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each POST /v1/messages
        self.rejected: list[str] = []
        self._script: deque[Step] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # scripting
    def script(self, *steps: Step) -> None:
        """Queue steps answered in order before the responder takes over."""
        with self._lock:
            self._script.extend(steps)

    @property
    def message_requests(self) -> list[Json]:
        """Recorded POST /v1/messages bodies (not count_tokens)."""
        return [r for r in self.requests if "_count_tokens" not in r]

    def _next(self, body: Json) -> Step:
        with self._lock:
            if self._script:
                return self._script.popleft()
        return self.responder(body)

    # lifecycle
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        return app

    async def start(self, host: str = "127.0.0.1") -> str:
        """Serve on a free port; return the base URL."""
        self._runner = web.AppRunner(self.app(), shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @classmethod
    @contextmanager
    def running(cls, responder: Responder = echo_summarizer) -> Iterator[FakeAnthropic]:
        """Run a server on its own event loop in a daemon thread (for sync code under test)."""
        server = cls(responder)
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(server.start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name="fake-anthropic", daemon=True)
        thread.start()
        ready.wait(10)
        try:
            yield server
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    # handlers
    async def _read(self, request: web.Request) -> Json | web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response(_error_body("invalid_request_error", "bad JSON"), status=400)
        if not isinstance(body, dict):
            return web.json_response(
                _error_body("invalid_request_error", "not an object"), status=400
            )
        return body

    async def _count_tokens(self, request: web.Request) -> web.Response:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        self.requests.append({**body, "_count_tokens": True})
        try:
            validate_request(body, count_only=True)
        except InvalidRequest as exc:
            return web.json_response(_error_body("invalid_request_error", str(exc)), status=400)
        used = {k: body.get(k) for k in ("system", "messages", "tools")}
        return web.json_response({"input_tokens": estimate_tokens(used)})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        if isinstance(body, web.Response):
            return body
        self.requests.append(body)
        self.arrivals.append(time.monotonic())
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        if not (request.headers.get("x-api-key") or request.headers.get("authorization")):
            return web.json_response(
                _error_body("authentication_error", "x-api-key header is required"), status=401
            )
        try:
            validate_request(body)
        except InvalidRequest as exc:
            self.rejected.append(str(exc))
            return web.json_response(_error_body("invalid_request_error", str(exc)), status=400)
        step = self._next(body)
        if isinstance(step, Slow):
            await asyncio.sleep(step.seconds)
            step = step.then or self.responder(body)
        if isinstance(step, Raw):
            return web.Response(
                body=step.body.encode(), status=step.status, content_type=step.content_type
            )
        if isinstance(step, Fail):
            return web.json_response(
                _error_body(step.type, step.message), status=step.status, headers=step.headers
            )
        message = self._message(body, step)
        if body.get("stream"):
            return await self._stream(request, message, step)
        return web.json_response(message, headers={"request-id": "req_fake"})

    def _message(self, body: Json, reply: Reply) -> Json:
        used = {k: body.get(k) for k in ("system", "messages", "tools")}
        return {
            "model": body["model"],
            "id": f"msg_fake{next(self._ids):08d}",
            "type": "message",
            "role": "assistant",
            "content": reply.content,
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": reply.input_tokens or estimate_tokens(used),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": reply.output_tokens or estimate_tokens(reply.content),
                "service_tier": "standard",
            },
        }

    async def _stream(
        self, request: web.Request, message: Json, reply: Reply
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)

        async def send(event: str, data: Json) -> None:
            await resp.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        start = {**message, "content": [], "stop_reason": None}
        start["usage"] = {**message["usage"], "output_tokens": 1}
        await send("message_start", {"type": "message_start", "message": start})
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                await send(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {**block, "text": ""},
                    },
                )
                if index == 0:
                    await send("ping", {"type": "ping"})
                words = re.findall(r"\S+\s*|\s+", block["text"]) or [""]
                for part in words:
                    delta = {"type": "text_delta", "text": part}
                    await send(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
            elif block["type"] == "tool_use":
                await send(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {**block, "input": {}},
                    },
                )
                raw = reply.raw_tool_json.get(index, json.dumps(block["input"]))
                for i in range(0, max(len(raw), 1), 8):
                    delta = {"type": "input_json_delta", "partial_json": raw[i : i + 8]}
                    await send(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
            await send("content_block_stop", {"type": "content_block_stop", "index": index})
        await send(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
        await send("message_stop", {"type": "message_stop"})
        await resp.write_eof()
        return resp


# -- pytest fixtures (import them into a conftest.py) ----------------------------------------------


def _fixtures() -> tuple[Any, Any]:
    import pytest

    from bot.clients.llm import LLM

    @pytest.fixture
    def fake_anthropic() -> Iterator[FakeAnthropic]:
        """A fake Anthropic server in a thread, with the echo summarizer as default responder."""
        with FakeAnthropic.running() as server:
            yield server

    @pytest.fixture
    def llm(fake_anthropic: FakeAnthropic) -> LLM:
        """The real anthropic client pointed at the fake: 2 quick retries, 2 s timeout."""
        import anthropic

        client = anthropic.Anthropic(
            api_key="test-key", base_url=fake_anthropic.url, max_retries=2, timeout=2.0
        )
        return LLM(client, "claude-test")

    return fake_anthropic, llm


fake_anthropic_fixture, llm_fixture = _fixtures()
