"""Baseline servers for bench/ack.py, each run as its own process.

python bench/_servers.py floor PORT SECRET        bare aiohttp: verify the signature, 200
python bench/_servers.py bolt PORT SECRET         slack-bolt AsyncApp, default mode
python bench/_servers.py bolt-pbr PORT SECRET     slack-bolt AsyncApp, process_before_response
python bench/_servers.py slack-stub PORT          a Web API stub answering ok (for the bot)
"""

from __future__ import annotations

import sys

from aiohttp import web


def floor(port: int, secret: str) -> None:
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(secret)

    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        if not verifier.is_valid_request(body, dict(request.headers)):
            return web.Response(status=401)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def bolt(port: int, secret: str, pbr: bool, api_url: str) -> None:
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(
        client=AsyncWebClient(token="xoxb-bench", base_url=api_url),
        signing_secret=secret,
        process_before_response=pbr,
    )

    @app.command("/copilot")
    async def on_command(ack: AsyncAck) -> None:
        await ack()

    app.start(port=port, path="/slack/events", host="127.0.0.1")


def slack_stub(port: int) -> None:
    answered = {"n": 0}

    async def api(request: web.Request) -> web.Response:
        await request.read()
        if request.path.startswith("/response/"):
            answered["n"] += 1
        if request.path.endswith("/conversations.info"):  # Slack's shape: a channel object
            return web.json_response({"ok": True, "channel": {"id": "C0ALERTS", "name": "alerts"}})
        return web.json_response(
            {"ok": True, "ts": "1.0", "channel": "C1", "user_id": "UBOT", "message_ts": "1.0"}
        )

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(answered)

    app = web.Application()
    app.router.add_post("/api/{method}", api)
    app.router.add_post("/response/{id}", api)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "floor":
        floor(port, sys.argv[3])
    elif kind == "bolt":
        bolt(port, sys.argv[3], pbr=False, api_url=sys.argv[4])
    elif kind == "bolt-pbr":
        bolt(port, sys.argv[3], pbr=True, api_url=sys.argv[4])
    elif kind == "slack-stub":
        slack_stub(port)
