"""Settings from the environment and a `.env` file (pydantic-settings)."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SLACK_DEFAULT_API_URL = "https://slack.com/api/"
SUPPORTED_LANGUAGES = ("sv", "en")
# Microsoft's public cloud: where Bot Framework tokens are issued and checked, and Teams' default service URL.
TEAMS_DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"
TEAMS_DEFAULT_OPENID_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
TEAMS_DEFAULT_TOKEN_ISSUER = "https://api.botframework.com"
TEAMS_DEFAULT_SERVICE_URL = "https://smba.trafficmanager.net/teams/"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ConfigError(Exception):
    """A missing or malformed setting; the message is one line naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default=SLACK_DEFAULT_API_URL, alias="SLACK_API_URL")
    database_url: str = Field(default="sqlite:///lisbot.db", alias="DATABASE_URL")
    port: int = Field(default=3000, alias="PORT", ge=1, le=65535)
    host: str = Field(default="0.0.0.0", alias="LISBOT_HOST")
    security_channel: str | None = Field(default=None, alias="LISBOT_SECURITY_CHANNEL")
    leadership_channel: str | None = Field(default=None, alias="LISBOT_LEADERSHIP_CHANNEL")
    timezone: str = Field(default="Europe/Stockholm", alias="LISBOT_TIMEZONE")
    language: str = Field(default="sv", alias="LISBOT_LANGUAGE")
    log_level: str = Field(default="INFO", alias="LISBOT_LOG_LEVEL")
    stale_working_days: int = Field(default=5, alias="LISBOT_STALE_WORKING_DAYS", ge=1, le=60)
    # The year's training campaign starting itself (issue 4): on this date (MM-DD) each year, unless one runs.
    training_autostart: str | None = Field(default=None, alias="LISBOT_TRAINING_AUTOSTART")
    training_courses: str | None = Field(default=None, alias="LISBOT_TRAINING_COURSES", max_length=1000)
    training_deadline_days: int = Field(default=90, alias="LISBOT_TRAINING_DEADLINE_DAYS", ge=1, le=365)
    # Information classification (issue 5)
    reclassify_months: int = Field(default=12, alias="LISBOT_RECLASSIFY_MONTHS", ge=1, le=120)
    continuity_min_availability: int = Field(default=2, alias="LISBOT_CONTINUITY_MIN_AVAILABILITY", ge=0, le=5)
    continuity_exercise_months: int = Field(default=12, alias="LISBOT_CONTINUITY_EXERCISE_MONTHS", ge=1, le=60)
    classification_notice_days: int = Field(default=30, alias="LISBOT_CLASSIFICATION_NOTICE_DAYS", ge=0, le=365)
    classification_answer_days: int = Field(default=14, alias="LISBOT_CLASSIFICATION_ANSWER_DAYS", ge=1, le=180)
    classification_remind_working_days: int = Field(default=5, alias="LISBOT_CLASSIFICATION_REMIND_WORKING_DAYS",
                                                    ge=1, le=60)
    classification_max_reminders: int = Field(default=2, alias="LISBOT_CLASSIFICATION_MAX_REMINDERS", ge=0, le=10)
    classification_method: str = Field(default="KLASSA", alias="LISBOT_CLASSIFICATION_METHOD", min_length=1,
                                       max_length=100)
    # Microsoft Teams (issue 7), with the Teams SDK's own setting names. Teams is on when CLIENT_ID is set.
    teams_client_id: str | None = Field(default=None, alias="CLIENT_ID")
    teams_client_secret: str | None = Field(default=None, alias="CLIENT_SECRET")
    teams_tenant_id: str | None = Field(default=None, alias="TENANT_ID")
    teams_service_url: str = Field(default=TEAMS_DEFAULT_SERVICE_URL, alias="SERVICE_URL")
    # Which organisation the Teams tenant belongs to when Slack is used too ("slack:T0123ABC"); see README.
    teams_org: str | None = Field(default=None, alias="LISBOT_TEAMS_ORG")
    # Where Bot Framework tokens are fetched and checked. Only for tests and on-premises proxies: the
    # defaults are Microsoft's; any other address must be https (or loopback). Validation cannot be turned off.
    teams_login_url: str = Field(default=TEAMS_DEFAULT_LOGIN_URL, alias="LISBOT_TEAMS_LOGIN_URL")
    teams_openid_url: str = Field(default=TEAMS_DEFAULT_OPENID_URL, alias="LISBOT_TEAMS_OPENID_URL")
    teams_token_issuer: str = Field(default=TEAMS_DEFAULT_TOKEN_ISSUER, alias="LISBOT_TEAMS_TOKEN_ISSUER")
    # Where people reach lisbot from a browser: documents in Teams are links to <public url>/documents/…
    public_url: str | None = Field(default=None, alias="LISBOT_PUBLIC_URL")
    document_link_days: int = Field(default=30, alias="LISBOT_DOCUMENT_LINK_DAYS", ge=1, le=365)

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("teams_login_url", "teams_openid_url", "teams_token_issuer", "teams_service_url")
    @classmethod
    def _teams_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and parts.hostname in _LOOPBACK:
            return value  # a fake on this machine, in tests
        raise ValueError("must be an https URL")

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname or parts.scheme == "http" and parts.hostname in _LOOPBACK:
            return value.rstrip("/")
        raise ValueError("must be the https address where lisbot answers, e.g. https://lisbot.example.se")

    @field_validator("training_autostart", mode="before")
    @classmethod
    def _training_autostart(cls, value: str | None) -> str | None:
        if not value or not str(value).strip():
            return None
        value = str(value).strip()
        match = re.fullmatch(r"(\d{2})-(\d{2})", value)
        try:
            if not match:
                raise ValueError
            date(2024, int(match[1]), int(match[2]))  # a leap year: 02-29 is a date (03-01 in other years)
        except ValueError:
            raise ValueError("must be a date as MM-DD, e.g. 09-01") from None
        return value

    @property
    def training_autostart_courses(self) -> tuple[str, ...]:
        """LISBOT_TRAINING_COURSES, one course per `;`."""
        return tuple(c.strip() for c in (self.training_courses or "").split(";") if c.strip())

    @field_validator("teams_org")
    @classmethod
    def _teams_org(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"slack:[A-Z0-9]+", value.strip()):
            raise ValueError("must be slack:<workspace id>, e.g. slack:T0123ABC")
        return value.strip() if value else None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from storage.db import DatabaseUrlError, async_url

        try:
            async_url(value)
        except DatabaseUrlError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        value = value.strip().lower()[:2]
        if value not in SUPPORTED_LANGUAGES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LANGUAGES)}")
        return value

    @field_validator("security_channel", "leadership_channel", "slack_app_token", "slack_bot_token",
                     "slack_signing_secret", "teams_client_id", "teams_client_secret", "teams_tenant_id", "teams_org",
                     mode="before")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def slack_configured(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def teams_configured(self) -> bool:
        return self.teams_client_id is not None

    def require_slack(self) -> None:
        """What `lisbot run` needs beyond the defaults, checked with one clear line each. Slack, Teams or both:
        with CLIENT_ID set and no Slack setting at all, Teams alone is enough."""
        if self.teams_configured:
            self.require_teams()
            if not (self.slack_bot_token or self.slack_signing_secret or self.slack_app_token):
                return
        if not self.slack_bot_token:
            raise ConfigError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-…), nor CLIENT_ID for Microsoft Teams; "
                              "see .env.example")
        if not self.slack_bot_token.startswith("xoxb-"):
            raise ConfigError("SLACK_BOT_TOKEN is malformed: a bot token starts with xoxb-")
        if self.socket_mode:
            if not self.slack_app_token.startswith("xapp-"):
                raise ConfigError("SLACK_APP_TOKEN is malformed: an app-level token starts with xapp-")
        elif not self.slack_signing_secret:
            raise ConfigError("SLACK_SIGNING_SECRET is not set (needed in HTTP mode); see .env.example")

    def require_teams(self) -> None:
        if not self.teams_client_id or not _GUID.match(self.teams_client_id):
            raise ConfigError("CLIENT_ID is malformed: the bot's Microsoft App ID is a GUID "
                              "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
        if not self.teams_client_secret:
            raise ConfigError("CLIENT_SECRET is not set (the client secret of the bot's app registration); "
                              "see .env.example")
        if not self.teams_tenant_id:
            raise ConfigError("TENANT_ID is not set (the Microsoft Entra tenant id, a GUID); see .env.example")
        if not _GUID.match(self.teams_tenant_id):
            raise ConfigError("TENANT_ID is malformed: the Microsoft Entra tenant id is a GUID")


def load_settings(env_file: str | None = ".env", **overrides) -> Settings:
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = first["loc"][0] if first["loc"] else "setting"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name} is malformed: {message}") from None
