"""Websocket side of the fake Mattermost: authentication challenge, hello, pushed events."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

SERVER_VERSION = "10.7.0.13906.fake.true"


class MattermostWebsocketMixin:
    """/api/v4/websocket of FakeMattermost, and `posted` broadcasts of new posts."""

    sockets: list[tuple[web.WebSocketResponse, str, list[int]]]
    ws_received: list[dict[str, Any]]
    _loop: asyncio.AbstractEventLoop | None
    users: dict[str, dict[str, Any]]
    channels: dict[str, dict[str, Any]]
    members: dict[str, list[str]]
    tokens: dict[str, str]
    new_id: Callable[..., str]
    _auth_user: Callable[[str], str | None]

    def _schedule(self, coro: Any) -> None:
        if self._loop is None or self._loop.is_closed():
            coro.close()
            return
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(coro))

    def push_event(
        self,
        event: str,
        data: dict[str, Any],
        broadcast: dict[str, Any] | None = None,
        user_ids: list[str] | None = None,
    ) -> None:
        """Send an event frame to the connected websockets (of user_ids, or all)."""
        self._schedule(self._send_event(event, data, broadcast or {}, user_ids))

    async def _send_event(
        self, event: str, data: dict[str, Any], broadcast: dict[str, Any], users: list[str] | None
    ) -> None:
        full = {
            "omit_users": None,
            "user_id": "",
            "channel_id": "",
            "team_id": "",
            "connection_id": "",
            "omit_connection_id": "",
            **broadcast,
        }
        for ws, uid, seq in list(self.sockets):
            if users is not None and uid not in users:
                continue
            seq[0] += 1
            frame = {"event": event, "data": data, "broadcast": full, "seq": seq[0]}
            if not ws.closed:
                await ws.send_str(json.dumps(frame))

    async def _broadcast_posted(self, post: dict[str, Any]) -> None:
        channel = self.channels[post["channel_id"]]
        sender = self.users.get(post["user_id"], {"username": "unknown"})
        data: dict[str, Any] = {
            "channel_display_name": channel["display_name"],
            "channel_name": channel["name"],
            "channel_type": channel["type"],
            "post": json.dumps(post),
            "sender_name": "@" + sender["username"],
            "set_online": True,
            "team_id": channel["team_id"],
        }
        names = set(re.findall(r"@([a-z0-9.\-_]+)", post["message"]))
        mentioned = [u["id"] for u in self.users.values() if u["username"] in names]
        if mentioned:
            data["mentions"] = json.dumps(mentioned)
        if post["file_ids"]:
            data["otherFile"] = "true"
        await self._send_event(
            "posted", data, {"channel_id": channel["id"]}, list(self.members[channel["id"]])
        )

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        uid = self._auth_user(request.headers.get("Authorization", ""))
        seq = [0]
        if uid:
            await self._register_ws(ws, uid, seq)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                self.ws_received.append(frame)
                if frame.get("action") == "authentication_challenge":
                    uid = self.tokens.get(str(frame.get("data", {}).get("token")))
                    if uid is None:
                        await ws.send_str(
                            json.dumps(
                                {
                                    "status": "FAIL",
                                    "seq_reply": frame.get("seq"),
                                    "error": {
                                        "id": "api.web_socket_router.not_authenticated.app_error",
                                        "message": "Invalid session",
                                    },
                                }
                            )
                        )
                        continue
                    await self._register_ws(ws, uid, seq)
                    await ws.send_str(json.dumps({"status": "OK", "seq_reply": frame.get("seq")}))
        finally:
            self.sockets = [s for s in self.sockets if s[0] is not ws]
        return ws

    async def _register_ws(self, ws: web.WebSocketResponse, uid: str, seq: list[int]) -> None:
        # The server registers the connection with the hub (which sends `hello`, seq 0)
        # before it answers the authentication challenge.
        hello = {
            "event": "hello",
            "data": {"connection_id": self.new_id("w"), "server_version": SERVER_VERSION},
            "broadcast": {
                "omit_users": None,
                "user_id": uid,
                "channel_id": "",
                "team_id": "",
                "connection_id": "",
                "omit_connection_id": "",
            },
            "seq": 0,
        }
        await ws.send_str(json.dumps(hello))
        self.sockets.append((ws, uid, seq))

    async def _close_websockets(self) -> None:
        for ws, _, _ in list(self.sockets):
            await ws.close()

    def connected_users(self) -> list[str]:
        """User ids with an authenticated websocket."""
        return [uid for _, uid, _ in self.sockets]
