"""Pytest fixtures for the real Prometheus/Alertmanager stack (import them in a conftest)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.promstack import Exporter, PromStack, StackConfig, binaries_available

StackFactory = Callable[..., PromStack]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None]:  # a hook wrapper: yields once, returns the report
    """Remember each phase's report on the item so fixtures can keep logs on failure."""
    rep: Any = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def _failed(request: pytest.FixtureRequest) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return bool(rep is not None and rep.failed)


def _exporter() -> Iterator[Exporter]:
    if not binaries_available():
        pytest.fail("prometheus, prometheus-alertmanager and promtool must be installed")
    exp = Exporter()
    exp.start()
    yield exp
    exp.stop()


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    """A started exporter with settable samples; `exporter.port` is its free port."""
    yield from _exporter()


@pytest.fixture(scope="module")
def module_exporter() -> Iterator[Exporter]:
    """An exporter shared by a test module."""
    yield from _exporter()


def _stacks(
    tmp_path_factory: pytest.TempPathFactory, failed: Callable[[], bool]
) -> Iterator[StackFactory]:
    stacks: list[PromStack] = []

    def factory(config: StackConfig, *, backfill: list[str] | None = None) -> PromStack:
        workdir: Path = tmp_path_factory.mktemp("promstack")
        stack = PromStack(config, workdir=workdir)
        stacks.append(stack)
        for text in backfill or []:
            stack.backfill(text)
        return stack.start()

    yield factory
    keep = failed()
    for stack in stacks:
        stack.keep_logs = keep
        stack.stop()
        if keep:
            print(f"promstack logs kept in {stack.workdir}")


@pytest.fixture
def promstack_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackFactory]:
    """`factory(config, backfill=[openmetrics text...]) -> started PromStack`, stopped after."""
    yield from _stacks(tmp_path_factory, lambda: _failed(request))


@pytest.fixture(scope="module")
def module_promstack_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackFactory]:
    """Like `promstack_factory`, shared by a module; logs kept if any test failed meanwhile."""
    before = request.session.testsfailed
    yield from _stacks(tmp_path_factory, lambda: request.session.testsfailed > before)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    srv.close()
