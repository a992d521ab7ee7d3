"""Pytest fixtures for the real Prometheus/Alertmanager stack (import them in a conftest)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.promstack import Exporter, PromStack, StackConfig, binaries_available

StackFactory = Callable[..., PromStack]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Remember each phase's report on the item so fixtures can keep logs on failure."""
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def _failed(request: pytest.FixtureRequest) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return bool(rep is not None and rep.failed)


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    """A started exporter with settable samples; `exporter.port` is its free port."""
    if not binaries_available():
        pytest.fail("prometheus, prometheus-alertmanager and promtool must be installed")
    exp = Exporter()
    exp.start()
    yield exp
    exp.stop()


@pytest.fixture
def promstack_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackFactory]:
    """`factory(config, backfill=[openmetrics text...]) -> started PromStack`, stopped after."""
    stacks: list[PromStack] = []

    def factory(config: StackConfig, *, backfill: list[str] | None = None) -> PromStack:
        workdir: Path = tmp_path_factory.mktemp("promstack")
        stack = PromStack(config, workdir=workdir)
        stacks.append(stack)
        for text in backfill or []:
            stack.backfill(text)
        return stack.start()

    yield factory
    failed = _failed(request)
    for stack in stacks:
        stack.keep_logs = failed
        stack.stop()
        if failed:
            print(f"promstack logs kept in {stack.workdir}")
