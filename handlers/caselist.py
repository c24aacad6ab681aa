"""Open cases and their clocks, for those who handle them: filtered by kind and status."""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import LANGUAGES
from bot.model import Actor, Button, Buttons, Note, Screen, Text
from handlers.access import case_access
from handlers.incident_views import SHOW_ACTION, gdpr_clock, kinds_label
from handlers.incidents import KINDS
from handlers.services import Services
from handlers.tabular import fold
from storage.incidents import OPEN_STATUSES, breach_of, open_incidents
from storage.models import Incident

SHOWN = 40  # two blocks a case keeps a modal under Slack's 100


@dataclass(frozen=True)
class Filter:
    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = OPEN_STATUSES
    unknown: tuple[str, ...] = ()


def parse_filter(svc: Services, text: str) -> Filter:
    """Words after the command, in either language: "/incidenter personuppgifter ny"."""
    kinds, statuses, unknown = [], [], []
    labels = {}
    for lang in LANGUAGES:
        for code, label in svc.texts.options(lang, "incident.kind").items():
            labels[fold(label)] = ("kind", code)
            labels[fold(code)] = ("kind", code)
        for code, label in svc.texts.options(lang, "incident.status").items():
            labels[fold(label)] = ("status", code)
            labels[fold(code)] = ("status", code)
    words = [w for w in text.replace(",", " ").split() if w]
    i = 0
    while i < len(words):
        # Labels have several words ("under utredning", "personal data"): the longest exact match wins,
        # then a single word may abbreviate a label ("person", "arbets").
        match, used = None, 1
        for j in range(len(words), i, -1):
            if fold(" ".join(words[i:j])) in labels:
                match, used = labels[fold(" ".join(words[i:j]))], j - i
                break
        if match is None and len(fold(words[i])) >= 3:
            match = next((v for k, v in labels.items() if k.startswith(fold(words[i]))), None)
        if match is None:
            unknown.append(words[i])
        elif match[0] == "kind":
            kinds.append(match[1])
        else:
            statuses.append(match[1])
        i += used
    return Filter(tuple(k for k in KINDS if k in kinds), tuple(statuses) or OPEN_STATUSES, tuple(unknown))


async def visible_cases(svc: Services, actor: Actor, flt: Filter) -> list[Incident]:
    async with svc.db.transaction() as session:
        candidates = await open_incidents(session, actor.org_id, kinds=flt.kinds, statuses=flt.statuses, limit=5000)
        return [i for i in candidates if (await case_access(session, actor, i)).internal]


async def case_list_screen(svc: Services, actor: Actor, flt: Filter) -> Screen:
    lang, tz, t = actor.lang, actor.tz, svc.texts.t
    cases = await visible_cases(svc, actor, flt)
    now = svc.clock.now()
    blocks: list = []
    if flt.unknown:
        blocks.append(Note(t(lang, "caselist.unknown_words", words=", ".join(flt.unknown))))
    if not cases:
        blocks.append(Text(t(lang, "caselist.none")))
    async with svc.db.transaction() as session:
        for incident in cases[:SHOWN]:
            clock = gdpr_clock(svc, lang, tz, incident, await breach_of(session, incident.id), now)
            blocks.append(Text(t(lang, "caselist.item", reference=incident.reference,
                                 kinds=kinds_label(svc, lang, incident),
                                 status=t(lang, f"incident.status.{incident.status}"),
                                 discovered_at=incident.discovered_at, tz=tz, clock=clock or "")))
            blocks.append(Buttons((Button(SHOW_ACTION, t(lang, "incident.notice.show"), str(incident.id)),)))
    if len(cases) > SHOWN:
        blocks.append(Note(t(lang, "caselist.more", shown=SHOWN, total=len(cases))))
    return Screen(title=t(lang, "caselist.title"), close=t(lang, "common.close"), blocks=tuple(blocks))
