"""Socket Mode round trips between the fake Slack and slack_sdk / slack-bolt clients."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk import WebClient
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.aiohttp import SocketModeClient as AioSocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes._server import wait_until_sync
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlack

PAYLOADS = Path(__file__).parent.parent / "contracts" / "slack" / "payloads"


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / name).read_text())


def test_builtin_socket_mode_client_acks() -> None:
    fake = FakeSlack()
    fake.start_in_thread()
    received: list[SocketModeRequest] = []

    def listener(client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        received.append(req)
        client.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload={"text": "pong"})
        )

    web = WebClient(token=BOT_TOKEN, base_url=fake.base_url)
    sm = SocketModeClient(app_token=APP_TOKEN, web_client=web, auto_reconnect_enabled=False)
    sm.socket_mode_request_listeners.append(listener)
    try:
        sm.connect()
        envelope = payload("socket_mode.slash_commands.json")
        eid = fake.sync(fake.send_envelope("slash_commands", envelope["payload"]))
        wait_until_sync(lambda: any(a["envelope_id"] == eid for a in fake.acks))
        assert received[0].type == "slash_commands"
        assert received[0].payload["command"] == "/hello-socket-mode"
        ack = next(a for a in fake.acks if a["envelope_id"] == eid)
        assert ack["payload"] == {"text": "pong"}
        assert fake.calls("apps.connections.open")[0].headers["Authorization"].endswith(APP_TOKEN)
    finally:
        sm.close()
        fake.stop_thread()


async def test_aiohttp_socket_mode_client() -> None:
    async with FakeSlack() as fake:
        web = AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url)
        sm = AioSocketModeClient(app_token=APP_TOKEN, web_client=web, auto_reconnect_enabled=False)

        async def listener(client: AioSocketModeClient, req: SocketModeRequest) -> None:
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

        sm.socket_mode_request_listeners.append(listener)  # type: ignore[arg-type]
        await sm.connect()
        try:
            envelope = payload("socket_mode.events_api.app_mention.json")
            eid = await fake.send_envelope("events_api", envelope["payload"])
            ack = await fake.wait_ack(eid)
            assert ack == {"envelope_id": eid}
        finally:
            await sm.close()


async def test_bolt_async_app_over_socket_mode() -> None:
    async with FakeSlack() as fake:
        fake.seed_channel("random", "C111")
        app = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url))

        @app.event("app_mention")
        async def on_mention(event: dict[str, Any], say: Any) -> None:
            await say(text=f"hello <@{event['user']}>", thread_ts=event["ts"])

        handler = AsyncSocketModeHandler(app, APP_TOKEN)
        await handler.connect_async()
        try:
            envelope = payload("socket_mode.events_api.app_mention.json")
            event = envelope["payload"]["event"]
            fake.user_message("C111", event["user"], event["text"])
            envelope["payload"]["event"]["ts"] = fake.messages("C111")[0]["ts"]
            eid = await fake.send_envelope("events_api", envelope["payload"])
            await fake.wait_ack(eid)
            await handler_done(fake)
            reply = fake.messages("C111")[-1]
            assert reply["text"] == f"hello <@{event['user']}>"
            assert reply["thread_ts"] == fake.messages("C111")[0]["ts"]
            fake.assert_no_violations()
        finally:
            await handler.close_async()


async def handler_done(fake: FakeSlack) -> None:
    from tests.fakes._server import wait_until

    await wait_until(lambda: bool(fake.calls("chat.postMessage")))
