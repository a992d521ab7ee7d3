from tests.fakes.fixtures import fake_mattermost_thread, fake_slack_thread

__all__ = ["fake_mattermost_thread", "fake_slack_thread"]
