"""The console-copilot entry point as an operator meets it."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.server import cli


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    out = cli("serve", env=env)
    assert out.returncode == 2
    assert "not migrated" in out.stderr and "console-copilot migrate" in out.stderr
    assert "Traceback" not in out.stderr


def test_migrate_then_check_config(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    assert cli("migrate", env=env).returncode == 0
    out = cli("check-config", env=env)
    assert out.returncode == 0, out.stderr
    assert "schema: up to date" in out.stdout
    assert "COPILOT_INCIDENTS_CHANNEL is not set" in out.stdout


def test_bad_configuration_names_the_variable(tmp_path: Path) -> None:
    out = cli(
        "check-config",
        env={
            "COPILOT_HTTP_PORT": "eighty",
            "COPILOT_HANDLER_BACKLOG": "0",
            "COPILOT_KEEP_EVENTS_DAYS": "-1",
            "DATABASE_URL": "mysql://x",
            "SLACK_BOT_TOKEN": "xoxb-1",
        },
    )
    assert out.returncode == 2
    assert "COPILOT_HTTP_PORT" in out.stderr and "DATABASE_URL" in out.stderr
    assert "COPILOT_HANDLER_BACKLOG" in out.stderr and "COPILOT_KEEP_EVENTS_DAYS" in out.stderr
    assert "Traceback" not in out.stderr


def test_slack_token_without_secret_is_refused() -> None:
    out = cli("check-config", env={"SLACK_BOT_TOKEN": "xoxb-1"})
    assert out.returncode == 2 and "SLACK_SIGNING_SECRET" in out.stderr


def test_workers_need_a_chat_platform(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    assert cli("migrate", env=env).returncode == 0
    out = cli("serve", "--workers", "2", env=env)
    assert out.returncode == 2
    assert "COPILOT_WORKERS needs Slack or Mattermost" in out.stderr
    assert "Traceback" not in out.stderr
    out = cli("serve", "--ingress-only", env=env)
    assert out.returncode == 2 and "--ingress-only needs Slack or Mattermost" in out.stderr
    out = cli("serve", "--workers", "-1", env=env)
    assert out.returncode == 2 and "copilot_workers" in out.stderr.lower()


def test_worker_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
    }
    out = cli("worker", env=env)
    assert out.returncode == 2
    assert "not migrated" in out.stderr and "Traceback" not in out.stderr
