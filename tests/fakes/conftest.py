"""Fixtures of the fakes, for their own tests."""

from tests.fakes.anthropic import fake_anthropic_fixture as fake_anthropic
from tests.fakes.anthropic import llm_fixture as llm
from tests.fakes.fixtures import *  # noqa: F403

__all__ = ["fake_anthropic", "llm"]
