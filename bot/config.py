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


_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,}$")
_TEAMS_CHANNEL = re.compile(r"^19:[^\s@]+@thread\.(tacv2|skype)$")
# pydantic's own error types, as the reason texts under cli.config.reason in templates/i18n/*/cli.yaml
_REASONS = {"int_parsing": ("int", None), "int_from_float": ("int", None), "greater_than_equal": ("ge", "ge"),
            "less_than_equal": ("le", "le"), "string_too_long": ("too_long", "max_length"),
            "string_too_short": ("too_short", None)}


class ConfigError(Exception):
    """A missing or malformed setting; the message is one line naming it, in LISBOT_LANGUAGE (Swedish by
    default), from templates/i18n/*/cli.yaml."""

    def __init__(self, key: str, lang: str | None = None, **params) -> None:
        super().__init__(key)
        self.key, self.lang, self.params = key, lang or language_hint(), params

    def __str__(self) -> str:
        from bot.i18n import Texts

        return " ".join(Texts().t(self.lang, self.key, **self.params).split())


class Reason(ValueError):
    """A validator's complaint, named by its text key under cli.config.reason."""


def language_hint(env_file: str | None = ".env") -> str:
    """LISBOT_LANGUAGE as far as it can be read when the settings themselves cannot: for their error messages."""
    import os

    from dotenv import dotenv_values

    value = next((v for k, v in os.environ.items() if k.upper() == "LISBOT_LANGUAGE"), None)
    if value is None and env_file:
        value = next((v for k, v in dotenv_values(env_file).items() if k.upper() == "LISBOT_LANGUAGE"), None)
    value = (value or "").strip().lower()[:2]
    return value if value in SUPPORTED_LANGUAGES else "sv"


def channel_id(value: str | None) -> str | None:
    """A Slack (C…/G…) or Teams (19:…@thread.tacv2) channel id; a #name or anything else is refused."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    if _SLACK_CHANNEL.match(value) or _TEAMS_CHANNEL.match(value):
        return value
    raise Reason("channel_name" if value.startswith("#") or not re.search(r"\d", value) else "channel_id")


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
    # Whom the management review addresses, as the document says it ("förvaltningschefen"); one line of text.
    review_recipient: str | None = Field(default=None, alias="LISBOT_REVIEW_RECIPIENT", max_length=100,
                                         pattern=r"^[^\r\n|*_`<>\[\]#]*$")
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
            raise Reason("http_url")
        return value if value.endswith("/") else value + "/"

    @field_validator("teams_login_url", "teams_openid_url", "teams_token_issuer", "teams_service_url")
    @classmethod
    def _teams_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and parts.hostname in _LOOPBACK:
            return value  # a fake on this machine, in tests
        raise Reason("https_url")

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname or parts.scheme == "http" and parts.hostname in _LOOPBACK:
            return value.rstrip("/")
        raise Reason("public_url")

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
            raise Reason("mmdd") from None
        return value

    @property
    def training_autostart_courses(self) -> tuple[str, ...]:
        """LISBOT_TRAINING_COURSES, one course per `;`."""
        return tuple(c.strip() for c in (self.training_courses or "").split(";") if c.strip())

    @field_validator("teams_org")
    @classmethod
    def _teams_org(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"slack:[A-Z0-9]+", value.strip()):
            raise Reason("teams_org")
        return value.strip() if value else None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise Reason("timezone") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from storage.db import DatabaseUrlError, async_url

        try:
            async_url(value)
        except DatabaseUrlError:
            raise Reason("database_url") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise Reason("log_level")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        value = value.strip().lower()[:2]
        if value not in SUPPORTED_LANGUAGES:
            raise Reason("language")
        return value

    @field_validator("security_channel", "leadership_channel", mode="before")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return channel_id(value)

    @field_validator("slack_app_token", "slack_bot_token",
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
            raise ConfigError("cli.config.bot_token_missing", self.language)
        if not self.slack_bot_token.startswith("xoxb-"):
            raise ConfigError("cli.config.bot_token_malformed", self.language)
        if self.socket_mode:
            if not self.slack_app_token.startswith("xapp-"):
                raise ConfigError("cli.config.app_token_malformed", self.language)
        elif not self.slack_signing_secret:
            raise ConfigError("cli.config.signing_secret_missing", self.language)
        if not self.security_channel:
            raise ConfigError("cli.config.security_channel_missing", self.language)

    def require_teams(self) -> None:
        if not self.teams_client_id or not _GUID.match(self.teams_client_id):
            raise ConfigError("cli.config.client_id_malformed", self.language)
        if not self.teams_client_secret:
            raise ConfigError("cli.config.client_secret_missing", self.language)
        if not self.teams_tenant_id:
            raise ConfigError("cli.config.tenant_missing", self.language)
        if not _GUID.match(self.teams_tenant_id):
            raise ConfigError("cli.config.tenant_malformed", self.language)


def load_settings(env_file: str | None = ".env", **overrides) -> Settings:
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = first["loc"][0] if first["loc"] else "setting"
        given = str(overrides.get("LISBOT_LANGUAGE") or "").strip().lower()[:2]
        lang = given if given in SUPPORTED_LANGUAGES else language_hint(env_file)
        raise ConfigError("cli.config.malformed", lang, name=name, value=_shown(name, first.get("input")),
                          reason=_reason(lang, first)) from None


def _shown(name: str, value) -> str:
    """The value as given, unless it is a secret (or a URL with a password in it)."""
    if any(word in name for word in ("TOKEN", "SECRET")):
        return "…"
    text = str(value) if value is not None else ""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", text)[:100]


def _reason(lang: str, error: dict) -> str:
    from bot.i18n import Texts

    texts = Texts()
    failure = (error.get("ctx") or {}).get("error")
    if isinstance(failure, Reason):
        return texts.t(lang, f"cli.config.reason.{failure}", languages=", ".join(SUPPORTED_LANGUAGES))
    key, limit = _REASONS.get(error["type"], ("other", None))
    params = {"limit": error["ctx"][limit]} if limit else {}
    if key == "other":
        params = {"detail": error["msg"].removeprefix("Value error, ")}
    return texts.t(lang, f"cli.config.reason.{key}", **params)
