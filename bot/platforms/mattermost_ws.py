"""mattermostdriver's Websocket with a client-side TLS context and a clean stop.

The stock class builds a *server* TLS context (`Purpose.CLIENT_AUTH`), which can never connect
over wss:// on Python 3.10+; it also reconnects forever after a normal close.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable

import websockets
from mattermostdriver.websocket import Websocket

log = logging.getLogger(__name__)


class ClientTLSWebsocket(Websocket):  # type: ignore[misc]
    async def connect(self, event_handler: Callable[[str], Awaitable[None]]) -> None:
        opts = self.options
        context: ssl.SSLContext | None = None
        scheme = "ws"
        if opts["scheme"] == "https":
            scheme = "wss"
            cafile = opts["verify"] if isinstance(opts["verify"], str) else None
            context = ssl.create_default_context(cafile=cafile)
            if opts["verify"] is False:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        url = f"{scheme}://{opts['url']}:{opts['port']}{opts['basepath']}/websocket"
        self._alive = True
        while self._alive:
            try:
                kw = opts["websocket_kw_args"] or {}
                async with websockets.connect(url, ssl=context, **kw) as websocket:
                    await self._authenticate_websocket(websocket, event_handler)
                    await self._start_loop(websocket, event_handler)
            except websockets.ConnectionClosed:
                log.info("mattermost websocket closed")
            except OSError as exc:
                log.warning("mattermost websocket connection failed: %s", exc)
            if not opts["keepalive"] or not self._alive:
                break
            await asyncio.sleep(opts["keepalive_delay"])
