"""Fixtures of the fakes, for their own tests."""

from tests.fakes.fixtures import *  # noqa: F403
