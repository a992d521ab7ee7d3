"""The one HTTP listener: platform routes, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

if TYPE_CHECKING:
    from bot.app import CopilotApp

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_web_app(app: CopilotApp) -> web.Application:
    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        rid = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
        structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            response.headers["X-Request-Id"] = rid
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except Exception:
            log.exception("unhandled error", extra={"path": request.path})
            return web.json_response({"ok": False, "error": "internal_error"}, status=500)
        finally:
            route = request.match_info.route.resource
            path = route.canonical if route is not None else "unmatched"
            app.metrics.child(app.metrics.requests, path, str(status)).inc()
            structlog.contextvars.unbind_contextvars("request_id")
            if request.path not in ("/healthz", "/metrics", "/api/local/messages"):
                log.info(
                    "http",
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )

    web_app = web.Application(middlewares=[observe], client_max_size=2 * 1024 * 1024)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(request: web.Request) -> web.Response:
        def ping() -> None:
            with app.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(asyncio.to_thread(ping), timeout=3)
        except Exception as exc:
            return web.json_response(
                {"ok": False, "database": f"unreachable: {type(exc).__name__}"}, status=503
            )
        return web.json_response({"ok": True, "database": "ok"})

    async def metrics(request: web.Request) -> web.Response:
        await asyncio.to_thread(app.refresh_gauges)
        body = app.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    web_app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/metrics", metrics),
        ]
    )
    for routes in app.extra_routes():
        web_app.add_routes(routes)
    return web_app
