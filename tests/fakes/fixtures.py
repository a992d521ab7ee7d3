"""Pytest fixtures for the fakes; import them in a conftest: `from tests.fakes.fixtures import *`.

Each fixture fails the test at teardown if the code under test broke an API contract; a test
that provokes violations on purpose clears `fake.violations` itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.fakes.mattermost import FakeMattermost
from tests.fakes.slack_api import FakeSlack

__all__ = ["fake_mattermost", "fake_mattermost_thread", "fake_slack", "fake_slack_thread"]


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A FakeSlack on the test's event loop."""
    async with FakeSlack() as fake:
        yield fake
        fake.assert_no_violations()


@pytest.fixture
def fake_slack_thread() -> Iterator[FakeSlack]:
    """A FakeSlack in a background thread, for sync tests and sync clients."""
    fake = FakeSlack()
    fake.start_in_thread()
    try:
        yield fake
        fake.assert_no_violations()
    finally:
        fake.stop_thread()


@pytest.fixture
async def fake_mattermost() -> AsyncIterator[FakeMattermost]:
    """A FakeMattermost on the test's event loop (call REST clients via asyncio.to_thread)."""
    async with FakeMattermost() as fake:
        yield fake
        fake.assert_no_violations()


@pytest.fixture
def fake_mattermost_thread() -> Iterator[FakeMattermost]:
    """A FakeMattermost in a background thread."""
    fake = FakeMattermost()
    fake.start_in_thread()
    try:
        yield fake
        fake.assert_no_violations()
    finally:
        fake.stop_thread()
