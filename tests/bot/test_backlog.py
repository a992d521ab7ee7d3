"""The one-process backlog is bounded: past `COPILOT_HANDLER_BACKLOG` a recorded event waits in
the inbox (acknowledged, durable), and is handled once, when there is room.

The inbox's waiting events and the process's backlog are on /metrics.
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from bot.app import create_app
from bot.config import load_settings
from bot.context import Context
from bot.messages import Message
from bot.platforms.local.adapter import _actor, to_event
from bot.router import Args


async def _metrics(client: TestClient) -> dict[str, float]:
    r = await client.get("/metrics")
    assert r.status == 200
    return {
        s.name: s.value
        for family in text_string_to_metric_families(await r.text())
        for s in family.samples
    }


def _statuses(app: object, prefix: str) -> dict[str, str]:
    with app.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            text("SELECT event_id, status FROM inbox_event WHERE event_id LIKE :p ORDER BY id"),
            {"p": f"%{prefix}%"},
        ).all()
    return {str(e): str(s) for e, s in rows}


async def test_past_the_bound_events_wait_in_the_inbox_and_are_handled_once_in_order(
    db_url: str,
) -> None:
    app = create_app(
        load_settings(database_url=db_url, copilot_demo=True, copilot_handler_backlog=2)
    )
    gate = threading.Event()
    handled: list[str] = []

    def slow(ctx: Context, args: Args) -> Message:
        assert gate.wait(30), "the test never opened the gate"
        handled.append(ctx.event.text)
        return Message.plain(f"handled {ctx.event.text}")

    app.router.command("backlogtest", help="test").sub("wait", slow, help="wait", max_args=1)
    client = TestClient(TestServer(app.web))
    await client.start_server()
    try:
        local = app.adapters["local"]  # type: ignore[index]
        channel = await asyncio.to_thread(local.api.find_channel, "C-general")
        alice = _actor(local.api.users["alice"])
        for i in range(6):
            ev = to_event(f"bl-{i}", alice, channel, f"/backlogtest wait {i}", None)
            assert await app.submit(ev)  # recorded and acknowledged, every one
        await asyncio.sleep(0.3)
        m = await _metrics(client)
        assert m["copilot_handler_backlog"] == 2  # two handlers waiting at the gate
        assert m["copilot_inbox_depth"] == 4  # the rest wait, durably, in the inbox
        assert m["copilot_inbox_lag_seconds"] >= 0.2
        assert list(_statuses(app, "bl-").values()).count("received") == 4

        gate.set()
        for _ in range(100):
            if list(_statuses(app, "bl-").values()) == ["done"] * 6:
                break
            await asyncio.sleep(0.1)
        assert list(_statuses(app, "bl-").values()) == ["done"] * 6
        await app.idle()
        assert sorted(handled) == [f"wait {i}" for i in range(6)]  # each once
        m = await _metrics(client)
        assert m["copilot_handler_backlog"] == 0
        assert m["copilot_inbox_depth"] == 0 and m["copilot_inbox_lag_seconds"] == 0

        # room again: the next event is queued at once, not left in the inbox
        gate.clear()
        assert await app.submit(to_event("bl-next", alice, channel, "/backlogtest wait n", None))
        await asyncio.sleep(0.2)
        assert list(_statuses(app, "bl-next").values()) == ["processing"]
        gate.set()
        await app.idle()
        params = {"channel": "C-general", "user": "alice"}
        r = await client.get("/api/local/messages", params=params)
        answers = [str(m["message"]) for m in (await r.json())["messages"]]
        assert sum("handled wait" in a for a in answers) == 7
    finally:
        gate.set()
        await client.close()
