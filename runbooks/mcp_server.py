"""The runbook catalog as MCP tools for AI agents (stdio and streamable HTTP).

Agents can list runbooks, dry-run them and request runs. A request goes through the same
service and policy as a chat request, always needs a human approval (never `auto`), and
`on_request` lets the bot post the usual approval message in chat.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

from runbooks.service import Outcome, Requester, RunbookService, RunView
from runbooks.steps.base import default_t

INSTRUCTIONS = (
    "Operations runbooks for the Kubernetes platform. Use list_runbooks to see what exists, "
    "dry_run_runbook to see exactly what a run would change, and request_runbook_run to ask "
    "humans to approve a run. Nothing runs until the approvers named by the policy approve it."
)


def _runbook_info(service: RunbookService) -> list[dict[str, Any]]:
    out = []
    for rb in service.catalog.values():
        out.append(
            {
                "name": rb.name,
                "title": rb.title,
                "description": rb.description,
                "risk": rb.risk,
                "parameters": [
                    {
                        k: v
                        for k, v in asdict(p).items()
                        if v not in (None, "", False) or k == "required"
                    }
                    for p in rb.parameters
                ],
            }
        )
    return out


def _plan_info(outcome: Outcome) -> dict[str, Any]:
    plan = outcome.plan
    return {
        "status": outcome.status,
        "message": outcome.message,
        "errors": list(outcome.errors),
        "changes": plan.changes if plan else [],
        "steps": [
            {
                "step": s.idx + 1,
                "name": s.name,
                "kind": s.kind,
                "summary": s.summary,
                "changes": list(s.changes),
                "error": s.error,
            }
            for s in (plan.steps if plan else ())
        ],
    }


def build_server(
    service: RunbookService,
    *,
    on_request: Callable[[RunView, str], None] | None = None,
    agent_id: str = "agent",
    channel: str = "",
) -> MCPServer:
    """An MCP server whose tools call `service`; `on_request(run, reason)` announces a new
    pending run in chat (the lead's hook)."""
    server = MCPServer("console-copilot-runbooks", instructions=INSTRUCTIONS, version="0.1.0")

    @server.tool(description="List the runbooks: name, title, risk and typed parameters.")
    async def list_runbooks() -> list[dict[str, Any]]:
        return _runbook_info(service)

    @server.tool(
        description="Validate parameters, run the pre-checks and a server-side dry run; return "
        "what would change. Changes nothing."
    )
    async def dry_run_runbook(name: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        requester = Requester(agent_id, "mcp", agent_id, channel)
        outcome = await anyio.to_thread.run_sync(
            lambda: service.request_run(
                runbook=name,
                params=params or {},
                requester=requester,
                dry_run_only=True,
                source="mcp",
                t=default_t,
            )
        )
        return _plan_info(outcome)

    @server.tool(
        description="Ask for a runbook run. It is validated and dry-run, then waits for the "
        "human approvals the policy requires (it never runs by itself). Say why in `reason`."
    )
    async def request_runbook_run(
        name: str, reason: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        requester = Requester(agent_id, "mcp", agent_id, channel)
        outcome = await anyio.to_thread.run_sync(
            lambda: service.request_run(
                runbook=name,
                params=params or {},
                requester=requester,
                source="mcp",
                require_approval=True,
                t=default_t,
            )
        )
        info = _plan_info(outcome)
        if outcome.run is not None:
            info.update(
                run_id=outcome.run.id,
                state=outcome.run.state,
                approvals_required=outcome.run.policy.get("approvals_required", 0),
            )
            if outcome.status == "pending" and on_request is not None:
                on_request(outcome.run, reason)
        return info

    @server.tool(description="The state of a run and of each of its steps.")
    async def runbook_run_status(run_id: int) -> dict[str, Any]:
        view = await anyio.to_thread.run_sync(lambda: service.status(run_id))
        if view is None:
            return {"error": f"no run {run_id}"}
        return {
            "run_id": view.id,
            "runbook": view.runbook,
            "state": view.state,
            "steps": [
                {"step": s.idx + 1, "name": s.name, "state": s.state, "error": s.error}
                for s in view.steps
            ],
        }

    return server


def service_from_settings() -> RunbookService:
    """A RunbookService from the environment (DATABASE_URL, KUBECONFIG, PROMETHEUS_URL)."""
    from bot.clients.kubernetes import KubeClient
    from bot.config import Settings
    from policies.engine import load_policy
    from runbooks.catalog import load_catalog
    from runbooks.steps.checks import HttpPrometheus
    from storage.db import make_engine

    settings = Settings()
    return RunbookService(
        engine=make_engine(settings.database_url),
        catalog=load_catalog(),
        policy=load_policy(),
        kube=KubeClient.from_env(settings.kubeconfig),
        prometheus=HttpPrometheus(settings.prometheus_url) if settings.prometheus_url else None,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m runbooks.mcp_server [--transport stdio|streamable-http] [--port N]`."""
    parser = argparse.ArgumentParser(prog="runbooks-mcp")
    parser.add_argument("--transport", choices=("stdio", "streamable-http"), default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--agent", default="agent", help="requester id recorded for agent requests")
    ns = parser.parse_args(argv)
    server = build_server(service_from_settings(), agent_id=ns.agent)
    if ns.transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=ns.host, port=ns.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
