"""mattermostdriver 7.3.2's websocket against the fake, with websockets 17: ws:// and wss://.

The stock Websocket works over ws://, but over wss:// it builds a SERVER-side TLS context
(`ssl.create_default_context(purpose=ssl.Purpose.CLIENT_AUTH)`), which Python >= 3.10 refuses
for a client socket ("Cannot create a client socket with a PROTOCOL_TLS_SERVER context"). It
also reconnects forever after a normal close even with keepalive off. `ClientTLSWebsocket` below
is the fix documented in tests/fakes/README.md for the platform adapter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from mattermostdriver import Driver
from mattermostdriver.websocket import Websocket

from bot.platforms.mattermost_ws import ClientTLSWebsocket
from tests.fakes._server import wait_until
from tests.fakes.mattermost import FakeMattermost

log = logging.getLogger(__name__)


@pytest.fixture
async def tls_fake(tmp_path: Path) -> AsyncIterator[tuple[FakeMattermost, str]]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with FakeMattermost(ssl_context=server_ctx) as fake:
        yield fake, str(ca_file)


async def _run_ws(
    fake: FakeMattermost, ws_cls: type[Websocket], **opts: Any
) -> tuple[list[dict[str, Any]], Websocket, asyncio.Task[None]]:
    team = fake.seed_team("ops")
    alice = fake.seed_user("alice")
    channel = fake.seed_channel(team["id"], "town-square", members=[alice["id"]])
    events: list[dict[str, Any]] = []

    async def handler(message: str) -> None:
        events.append(json.loads(message))

    d = Driver(fake.driver_options(**opts))
    await asyncio.to_thread(d.login)
    ws = ws_cls(d.options, d.client.token)
    task = asyncio.create_task(ws.connect(handler))
    await wait_until(lambda: bool(fake.connected_users()))
    fake.user_post(alice["id"], channel["id"], "hello from alice")
    await wait_until(lambda: any(e.get("event") == "posted" for e in events))
    return events, ws, task


async def test_stock_websocket_over_ws() -> None:
    async with FakeMattermost() as fake:
        events, ws, task = await _run_ws(fake, Websocket)
        ws.disconnect()
        task.cancel()
    posted = next(e for e in events if e.get("event") == "posted")
    assert json.loads(posted["data"]["post"])["message"] == "hello from alice"
    assert any(e.get("status") == "OK" and e.get("seq_reply") == 1 for e in events)


async def test_stock_websocket_fails_over_wss(
    tls_fake: tuple[FakeMattermost, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, ca_file = tls_fake
    d = Driver(fake.driver_options(verify=ca_file))
    await asyncio.to_thread(d.login)  # REST over TLS is fine
    ws = Websocket({**d.options, "keepalive_delay": 0.05}, d.client.token)

    async def handler(message: str) -> None:
        raise AssertionError("no message expected")

    task = asyncio.create_task(ws.connect(handler))
    await wait_until(lambda: "PROTOCOL_TLS_SERVER" in caplog.text)  # and it keeps retrying
    ws.disconnect()
    task.cancel()
    assert fake.connected_users() == []


async def test_client_tls_websocket_over_wss(tls_fake: tuple[FakeMattermost, str]) -> None:
    fake, ca_file = tls_fake
    events, ws, task = await _run_ws(fake, ClientTLSWebsocket, verify=ca_file, timeout=0.2)
    ws.disconnect()
    await asyncio.wait_for(task, 5)  # stops cleanly after disconnect()
    posted = next(e for e in events if e.get("event") == "posted")
    assert posted["data"]["sender_name"] == "@alice"


async def test_client_websocket_returns_when_server_closes() -> None:
    fake = FakeMattermost()
    await fake.start()
    events, _ws, task = await _run_ws(fake, ClientTLSWebsocket)
    await fake.stop()
    await asyncio.wait_for(task, 5)  # keepalive off: connect() returns instead of looping
    assert events[0]["event"] == "hello"
