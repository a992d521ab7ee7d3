from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from mcp import Client
from sqlalchemy.engine import Engine

from bot.clients.kubernetes import KubeClient
from policies.engine import load_policy
from runbooks.catalog import load_catalog
from runbooks.mcp_server import build_server
from runbooks.service import RunbookService, RunView
from tests.fakes.kubernetes import FakeCluster


def _data(result) -> object:
    if result.structured_content is not None:
        sc = result.structured_content
        return sc.get("result", sc) if isinstance(sc, dict) else sc
    return json.loads(result.content[0].text)


@pytest.fixture
def service(engine: Engine, kube: KubeClient) -> RunbookService:
    return RunbookService(engine=engine, catalog=load_catalog(), policy=load_policy(), kube=kube)


async def test_tools_in_process(service: RunbookService, cluster: FakeCluster) -> None:
    announced: list[tuple[RunView, str]] = []
    server = build_server(
        service, on_request=lambda run, why: announced.append((run, why)), agent_id="claude"
    )
    async with Client(server) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"list_runbooks", "dry_run_runbook", "request_runbook_run"} <= names
        listed = _data(await client.call_tool("list_runbooks", {}))
        assert "scale-deployment" in {r["name"] for r in listed}
        dry = _data(
            await client.call_tool(
                "dry_run_runbook",
                {
                    "name": "scale-deployment",
                    "params": {"namespace": "shop", "deployment": "cart", "replicas": "5"},
                },
            )
        )
        assert dry["status"] == "dry_run"
        assert dry["changes"] == ["deployment shop/cart: replicas 3 → 5"]
        bad = _data(
            await client.call_tool(
                "dry_run_runbook", {"name": "scale-deployment", "params": {"namespace": "shop"}}
            )
        )
        assert bad["status"] == "invalid" and "Missing parameter deployment" in bad["message"]
        # restart in staging is `auto` for humans; an agent's request still waits for approval
        req = _data(
            await client.call_tool(
                "request_runbook_run",
                {
                    "name": "restart-deployment",
                    "reason": "cart pods leak memory",
                    "params": {"namespace": "shop", "deployment": "cart", "environment": "staging"},
                },
            )
        )
        assert req["status"] == "pending" and req["state"] == "pending_approval"
        assert req["approvals_required"] == 1
    assert [(r.id, why) for r, why in announced] == [(req["run_id"], "cart pods leak memory")]
    assert [r for r in cluster.requests if r.method == "PATCH" and not r.query] == []
    view = service.status(req["run_id"])
    assert view is not None and view.requester == "claude" and view.platform == "mcp"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server(service: RunbookService) -> Iterator[str]:
    port = _free_port()
    app = build_server(service).streamable_http_app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(10)


async def test_tools_over_streamable_http(http_server: str) -> None:
    async with Client(http_server) as client:
        listed = _data(await client.call_tool("list_runbooks", {}))
        assert len(listed) >= 6
