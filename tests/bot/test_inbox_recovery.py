"""An event a replica acknowledged and then died with is handled by a survivor, once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from bot import inbox
from bot.app import create_app
from bot.config import load_settings
from bot.platforms.local.adapter import _actor, to_event
from storage.db import make_engine
from storage.models.core import InboxEvent


async def test_a_stranded_event_is_handled_by_the_running_replica_once(db_url: str) -> None:
    app = create_app(load_settings(database_url=db_url, copilot_demo=True))
    app.recover_every = 0.2
    client = TestClient(TestServer(app.web))
    await client.start_server()
    try:
        local = app.adapters["local"]  # type: ignore[index]
        channel = await asyncio.to_thread(local.api.find_channel, "C-general")
        alice = _actor(local.api.users["alice"])
        await asyncio.sleep(1.5)  # past this process's start-up recovery pass
        # What another replica that died right after its ack leaves: a received row, no reply.
        dead = to_event("m-dead", alice, channel, "/copilot help", None)
        engine = make_engine(db_url)
        try:
            assert inbox.record(engine, dead)
            with engine.begin() as conn:
                conn.execute(
                    update(InboxEvent)
                    .where(InboxEvent.event_id == dead.event_id)
                    .values(received_at=datetime.now(UTC) - timedelta(minutes=1))
                )
            for _ in range(100):
                with engine.connect() as conn:
                    status = (
                        conn.execute(
                            InboxEvent.__table__.select().where(
                                InboxEvent.__table__.c.event_id == dead.event_id
                            )
                        )
                        .one()
                        .status
                    )
                if status == "done":
                    break
                await asyncio.sleep(0.1)
        finally:
            engine.dispose()
        assert status == "done"
        await app.idle()
        await asyncio.sleep(0.5)  # several more recovery passes
        await app.idle()
        params = {"channel": "C-general", "user": "alice"}
        r = await client.get("/api/local/messages", params=params)
        replies = [m for m in (await r.json())["messages"] if m["user_id"] == "copilot"]
        assert len(replies) == 1 and "Console Copilot commands" in str(replies[0]["message"])
    finally:
        await client.close()
