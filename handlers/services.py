"""What every workflow needs, handed in by the runtime: storage, texts, time, settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Texts
from storage.db import Database


@dataclass
class Services:
    db: Database
    texts: Texts
    clock: Clock
    settings: Settings
    # Called after a transaction queued messages, so the sender does not wait for its next poll.
    wake_delivery: Callable[[], None] = field(default=lambda: None)
    # Incident reports that arrive together are stored together (handlers.group_commit); made on first use.
    report_writer: Any = None
    # The requests being answered on this event loop (bot.ingress.Ingress), so writes can be gathered.
    ingress: Any = None

    @property
    def org_tz(self) -> ZoneInfo:
        return self.settings.tz

    @property
    def org_lang(self) -> str:
        return self.settings.language
