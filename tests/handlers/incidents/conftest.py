from tests.fakes.anthropic import fake_anthropic_fixture as fake_anthropic
from tests.fakes.anthropic import llm_fixture as llm
from tests.fakes.fixtures import fake_mattermost_thread, fake_slack_thread

__all__ = ["fake_anthropic", "fake_mattermost_thread", "fake_slack_thread", "llm"]
