"""Settings from environment variables (12-factor), optionally a YAML file (`COPILOT_CONFIG`).

Validated once at start-up; errors name the variable at fault.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

DEFAULT_SQLITE = "sqlite:///var/console-copilot.db"
SUPPORTED_LOCALES = ("en", "ru")
_TAG_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class ConfigError(Exception):
    """Raised with one line per bad variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, env_prefix="")

    database_url: str = DEFAULT_SQLITE

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"

    mattermost_url: str | None = None
    mattermost_token: str | None = None
    mattermost_team: str | None = None
    mattermost_command_tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)

    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    anthropic_model: str = "claude-sonnet-4-5"
    copilot_summary_token_budget: int = Field(default=12_000, ge=1_000)
    copilot_summary_max_output_tokens: int = Field(default=2_000, ge=256)
    copilot_postmortem_template: str | None = None

    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    kubeconfig: str | None = None
    billing_source: str | None = None
    billing_tag_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "env",
            "team",
            "app",
            "environment",
            "application",
            "business_unit",
        ]
    )
    billing_anomaly_k: float = Field(default=4.0, gt=0, le=100)
    billing_anomaly_min_impact: float = Field(default=50.0, ge=0)
    billing_anomaly_min_ratio: float = Field(default=0.25, ge=0, le=100)
    billing_anomaly_lookback_days: int = Field(default=7, ge=1, le=90)
    billing_stale_hours: float = Field(default=6.0, gt=0, le=24 * 90)
    billing_refresh_minutes: int = Field(default=15, ge=1, le=1440)

    copilot_http_host: str = "0.0.0.0"
    copilot_http_port: int = Field(default=8080, ge=1, le=65535)
    copilot_public_url: str | None = None
    copilot_action_secret: str | None = None
    copilot_default_locale: str = "en"
    copilot_log_level: str = "INFO"
    copilot_demo: bool = False
    copilot_demo_cluster: bool = False

    copilot_workers: int = Field(default=0, ge=0, le=64)
    copilot_handler_backlog: int = Field(default=2000, ge=1, le=1_000_000)
    # housekeeping (core:prune-events): days a handled event / a delivered private answer is kept
    copilot_keep_events_days: int = Field(default=400, ge=1, le=36_500)
    copilot_keep_answers_days: int = Field(default=30, ge=1, le=36_500)
    copilot_scheduler_enabled: bool = True
    copilot_scheduler_lease_ttl: float = Field(default=15.0, gt=0)
    copilot_scheduler_renew: float = Field(default=5.0, gt=0)
    copilot_scheduler_grace: float = Field(default=1800.0, ge=0)

    copilot_incidents_channel: str | None = None
    copilot_alerts_channel: str | None = None
    copilot_finops_channel: str | None = None
    copilot_partner_review_channel: str | None = None

    alertmanager_webhook_token: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("COPILOT_CONFIG")
        if path:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @field_validator("mattermost_command_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    @field_validator("billing_tag_keys", mode="before")
    @classmethod
    def _split_tag_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [k.strip() for k in value.split(",") if k.strip()]
        bad = [k for k in value if not _TAG_KEY.match(str(k))]
        if bad:
            raise ValueError(f"tag keys must match [A-Za-z0-9_.:-]{{1,64}}: {', '.join(bad)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_db_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql", "postgres:")):
            raise ValueError("must be a sqlite:/// or postgresql:// SQLAlchemy URL")
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("mattermost_url", "prometheus_url", "alertmanager_url", "copilot_public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("copilot_default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        if value not in SUPPORTED_LOCALES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LOCALES)}")
        return value

    @model_validator(mode="after")
    def _pairs(self) -> Settings:
        if self.slack_bot_token and not (self.slack_signing_secret or self.slack_app_token):
            raise ValueError(
                "SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode) is required "
                "with SLACK_BOT_TOKEN"
            )
        if self.slack_app_token and not self.slack_app_token.startswith("xapp-"):
            raise ValueError("SLACK_APP_TOKEN must be an app-level token (xapp-...)")
        if self.copilot_scheduler_renew * 2 > self.copilot_scheduler_lease_ttl:
            raise ValueError(
                "COPILOT_SCHEDULER_RENEW must be at most half of COPILOT_SCHEDULER_LEASE_TTL"
            )
        if bool(self.mattermost_url) != bool(self.mattermost_token):
            raise ValueError("MATTERMOST_URL and MATTERMOST_TOKEN go together")
        if self.copilot_workers and self.local_enabled:
            raise ValueError(
                "COPILOT_WORKERS needs Slack or Mattermost: the local workspace (demo) runs in "
                "one process; unset COPILOT_WORKERS or configure a chat platform"
            )
        return self

    # -- derived -------------------------------------------------------------------------
    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def mattermost_enabled(self) -> bool:
        return bool(self.mattermost_url and self.mattermost_token)

    @property
    def local_enabled(self) -> bool:
        """The local workspace is served in demo mode or when no chat platform is configured."""
        return self.copilot_demo or not (self.slack_enabled or self.mattermost_enabled)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        raw = self.database_url.split("///", 1)[-1]
        return Path(raw) if raw and raw != ":memory:" else None


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment; raise ConfigError naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            name = loc.upper() if loc else "configuration"
            lines.append(f"{name}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
