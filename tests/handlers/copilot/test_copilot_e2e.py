"""The issue's "done when" on the local workspace: a question → real tool calls against the
Kubernetes emulator → a grounded answer with evidence → a runbook proposal waiting for
approval; the non-LLM mode; rate limits; the model failing (429) falls back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import select

from bot.app import CopilotApp, create_app
from bot.clients.kubernetes import KubeClient
from bot.config import load_settings
from handlers.copilot_ask.chat import LIMITER_KEY, OPTIONS_KEY
from handlers.copilot_ask.limits import RateLimiter
from storage.db import unit_of_work
from storage.models.copilot import CopilotFeedback, CopilotQuestion, CopilotToolCall
from storage.models.runbooks import RunbookRun
from tests.fakes.anthropic import FakeAnthropic, rate_limited, text, tool_use
from tests.fakes.kubernetes import FakeCluster
from tests.handlers.copilot.conftest import INJECTION, secret


async def _local(db_url: str, kube: KubeClient, **settings: Any) -> tuple[CopilotApp, TestClient]:
    app = create_app(load_settings(database_url=db_url, copilot_demo=True, **settings))
    app.services.kubernetes = kube
    client = TestClient(TestServer(app.web))
    await client.start_server()
    return app, client


@pytest.fixture
async def with_llm(
    db_url: str, kube: KubeClient, fake_anthropic: FakeAnthropic
) -> AsyncIterator[tuple[CopilotApp, TestClient]]:
    app, client = await _local(
        db_url, kube, anthropic_api_key="test-key", anthropic_base_url=fake_anthropic.url
    )
    yield app, client
    await client.close()


@pytest.fixture
async def without_llm(
    db_url: str, kube: KubeClient
) -> AsyncIterator[tuple[CopilotApp, TestClient]]:
    app, client = await _local(db_url, kube)
    yield app, client
    await client.close()


async def _send(client: TestClient, user: str, text_: str, thread: str | None = None) -> None:
    body = {"user": user, "channel": "C-general", "text": text_}
    if thread:
        body["thread"] = thread
    r = await client.post("/api/local/send", json=body)
    assert r.status == 200, await r.text()


async def _bot(client: TestClient, user: str) -> list[dict[str, Any]]:
    r = await client.get("/api/local/messages", params={"channel": "C-general", "user": user})
    return [m for m in (await r.json())["messages"] if m["user_id"] == "copilot"]


async def test_question_to_grounded_answer_and_proposal(
    with_llm: tuple[CopilotApp, TestClient], fake_anthropic: FakeAnthropic, cluster: FakeCluster
) -> None:
    app, client = with_llm
    fake_anthropic.script(
        tool_use("k8s_pods", {"namespace": "shop", "name_prefix": "checkout"}),
        tool_use("k8s_rollout_history", {"namespace": "shop", "deployment": "checkout"}),
        tool_use(
            "propose_runbook",
            {
                "name": "restart-deployment",
                "params": {"namespace": "shop", "deployment": "checkout"},
                "reason": "checkout-1 is in CrashLoopBackOff with 7 restarts",
            },
        ),
        text(
            "checkout-1 is in CrashLoopBackOff (7 restarts, revision 1). I proposed a restart; "
            "it waits for approval."
        ),
    )
    await _send(client, "alice", "@copilot why is checkout slow? " + secret()[2])
    await app.idle()
    msgs = await _bot(client, "alice")
    answer = next(m for m in msgs if "CrashLoopBackOff" in m["text"])
    body = json.dumps(answer["message"], ensure_ascii=False)
    assert "Evidence" in body and "k8s_pods" in body and "pods in shop" in body
    assert "copilot:feedback:up" in body
    proposal = next(m for m in msgs if "waiting for approval" in m["text"])
    assert "runbook:approve" in json.dumps(proposal["message"])
    with unit_of_work(app.engine) as s:
        run = s.exec(select(RunbookRun)).one()
        assert (run.state, run.source) == ("pending_approval", "copilot")
        q = s.exec(select(CopilotQuestion)).one()
        assert (q.mode, q.status, q.tool_calls) == ("llm", "answered", 3)
        calls = s.exec(select(CopilotToolCall).order_by(CopilotToolCall.seq)).all()
        assert [c.tool for c in calls] == ["k8s_pods", "k8s_rollout_history", "propose_runbook"]
        assert calls[-1].run_id == run.id and calls[-1].outcome == "proposed"
        qid = q.id
    dep = cluster.get("/apis/apps/v1", "deployments", "shop", "checkout")
    assert "restartedAt" not in json.dumps(dep["spec"]["template"])
    sent = json.dumps(fake_anthropic.requests, ensure_ascii=False)
    assert secret()[1] not in sent and INJECTION not in sent.split("tool_result")[0]

    # feedback buttons are stored
    r = await client.post(
        "/api/local/action",
        json={
            "user": "bob",
            "channel": "C-general",
            "action_id": "copilot:feedback:down",
            "value": str(qid),
            "message_id": answer["id"],
        },
    )
    assert r.status == 200
    await app.idle()
    with unit_of_work(app.engine) as s:
        assert [(f.user_id, f.vote) for f in s.exec(select(CopilotFeedback)).all()] == [
            ("bob", "down")
        ]

    # a follow-up in the thread carries the earlier question and answer
    fake_anthropic.script(text("Yes, the restart is still pending."))
    await _send(client, "alice", "@copilot is it approved yet?", thread=answer["thread"])
    await app.idle()
    last = fake_anthropic.message_requests[-1]["messages"]
    assert len(last) == 3 and "why is checkout slow" in last[0]["content"]


async def test_model_unavailable_falls_back(
    with_llm: tuple[CopilotApp, TestClient], fake_anthropic: FakeAnthropic
) -> None:
    app, client = with_llm
    fake_anthropic.script(*[rate_limited() for _ in range(4)])
    await _send(client, "alice", "/copilot ask open incidents")
    await app.idle()
    texts = [m["text"] for m in await _bot(client, "alice")]
    assert any("language model is unavailable (rate limited)" in t for t in texts), texts
    assert any("No incidents." in t for t in texts)


async def test_rate_limits(without_llm: tuple[CopilotApp, TestClient]) -> None:
    app, client = without_llm
    app.services.extra[LIMITER_KEY] = RateLimiter(user_capacity=1, user_per_minute=1)
    await _send(client, "alice", "@copilot runbooks")
    await _send(client, "alice", "@copilot runbooks")
    await app.idle()
    texts = [m["text"] for m in await _bot(client, "alice")]
    assert any("faster than I can answer" in t for t in texts), texts


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("open incidents", "/incident list --open"),
        ("открытые инциденты", "/incident list --open"),
        ("cost of checkout last week", "/cost summary --period 7d --by service"),
        ("сколько стоил checkout за месяц", "/cost summary --period 30d --by service"),
        ("runbooks", "/runbook list"),
        ("status of service checkout", "/digest now --service checkout"),
        ("what is the meaning of life", "ANTHROPIC_API_KEY"),
    ],
)
async def test_non_llm_mode(
    without_llm: tuple[CopilotApp, TestClient], question: str, expected: str
) -> None:
    app, client = without_llm
    app.services.extra[OPTIONS_KEY] = {}
    await _send(client, "alice", "@copilot " + question)
    await app.idle()
    msgs = await _bot(client, "alice")
    assert any(expected in json.dumps(m["message"], ensure_ascii=False) for m in msgs), msgs
