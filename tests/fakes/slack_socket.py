"""Socket Mode side of the fake Slack: hello, envelopes pushed by tests, acks recorded."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes._server import wait_until


class SocketModeMixin:
    """Adds /link/ (the websocket apps.connections.open points to) to a FakeSlack."""

    app: web.Application
    port: int

    def init_socket_mode(self) -> None:
        """Register the websocket route and its state."""
        self.sockets: list[web.WebSocketResponse] = []
        self.acks: list[dict[str, Any]] = []
        self.socket_connections = 0
        self._tickets = 0
        self.app.router.add_get("/link/", self._handle_socket)

    def socket_url(self) -> str:
        """A ws:// URL for one Socket Mode connection."""
        self._tickets += 1
        return f"ws://127.0.0.1:{self.port}/link/?ticket=fake-{self._tickets}&app_id=A0000FAKE"

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.socket_connections += 1
        self.sockets.append(ws)
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self.sockets),
                    "debug_info": {"host": "fake-socket", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A0000FAKE"},
                }
            )
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    if "envelope_id" in data:
                        self.acks.append(data)
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
        return ws

    async def _close_websockets(self) -> None:
        for ws in list(self.sockets):
            await ws.close()

    async def _send(self, frame: dict[str, Any]) -> None:
        await wait_until(lambda: bool(self.sockets))
        await self.sockets[-1].send_str(json.dumps(frame))

    async def send_envelope(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Push an envelope (events_api, slash_commands, interactive) on the newest socket."""
        eid = envelope_id or str(uuid.UUID(int=len(self.acks) + 1 + self._tickets * 1000))
        frame: dict[str, Any] = {"envelope_id": eid, "payload": payload, "type": type}
        if accepts_response_payload is None:
            accepts_response_payload = type != "events_api"
        frame["accepts_response_payload"] = accepts_response_payload
        if type == "events_api":
            frame["retry_attempt"] = retry_attempt
            frame["retry_reason"] = retry_reason
        await self.on_loop(self._send(frame))  # type: ignore[attr-defined]
        return eid

    async def disconnect_socket(self, reason: str = "refresh_requested") -> None:
        """Send Slack's `disconnect` message on the newest socket."""
        frame = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-socket"}}
        await self.on_loop(self._send(frame))  # type: ignore[attr-defined]

    async def wait_socket(self, count: int = 1, within: float = 10) -> None:
        """Wait until `count` Socket Mode connections were made."""
        await wait_until(lambda: self.socket_connections >= count and bool(self.sockets), within)

    async def wait_ack(self, envelope_id: str, within: float = 10) -> dict[str, Any]:
        """Wait for the client's ack of an envelope and return it (with any `payload`)."""
        await wait_until(lambda: any(a["envelope_id"] == envelope_id for a in self.acks), within)
        return next(a for a in self.acks if a["envelope_id"] == envelope_id)
