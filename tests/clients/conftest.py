from tests.fakes.anthropic import fake_anthropic_fixture as fake_anthropic
from tests.fakes.anthropic import llm_fixture as llm

__all__ = ["fake_anthropic", "llm"]
