"""Settings from the environment and a `.env` file (pydantic-settings)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SLACK_DEFAULT_API_URL = "https://slack.com/api/"
SUPPORTED_LANGUAGES = ("sv", "en")


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

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        value = value.strip().lower()[:2]
        if value not in SUPPORTED_LANGUAGES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LANGUAGES)}")
        return value

    @field_validator("security_channel", "leadership_channel", "slack_app_token", "slack_bot_token",
                     "slack_signing_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    def require_slack(self) -> None:
        """What `lisbot run` needs beyond the defaults, checked with one clear line each."""
        if not self.slack_bot_token:
            raise ConfigError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-…); see .env.example")
        if not self.slack_bot_token.startswith("xoxb-"):
            raise ConfigError("SLACK_BOT_TOKEN is malformed: a bot token starts with xoxb-")
        if self.socket_mode:
            if not self.slack_app_token.startswith("xapp-"):
                raise ConfigError("SLACK_APP_TOKEN is malformed: an app-level token starts with xapp-")
        elif not self.slack_signing_secret:
            raise ConfigError("SLACK_SIGNING_SECRET is not set (needed in HTTP mode); see .env.example")


def load_settings(env_file: str | None = ".env", **overrides) -> Settings:
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = first["loc"][0] if first["loc"] else "setting"
        raise ConfigError(f"{name} is malformed: {first['msg']}") from None
