"""The App Home tab: the report button and the person's own reports."""

from __future__ import annotations

from bot.model import Actor, Button, Buttons, Divider, Header, Note, Screen, Text
from handlers import classification
from handlers.access import COORDINATOR, DPO, roles_of
from handlers.caselist import Filter, visible_cases
from handlers.incident_views import gdpr_deadline, gdpr_settled, kinds_label
from handlers.services import Services
from storage.incidents import breach_of, incidents_reported_by

REPORT_ACTION = "home_report_incident"
LIST_ACTION = "home_case_list"
EXPORT_INCIDENTS = "home_export_incidents"
EXPORT_BREACHES = "home_export_breaches"
SHOWN = 20


async def home_screen(svc: Services, actor: Actor) -> Screen:
    lang, t = actor.lang, svc.texts.t
    async with svc.db.transaction() as session:
        mine = await incidents_reported_by(session, actor.org_id, actor.person_id, limit=SHOWN)
    blocks: list = [
        Header(t(lang, "home.header")),
        Text(t(lang, "home.intro")),
        Buttons((Button(REPORT_ACTION, t(lang, "home.report_button"), style="primary"),)),
        Divider(),
        Header(t(lang, "home.mine")),
    ]
    if not mine:
        blocks.append(Text(t(lang, "home.none")))
    for incident in mine:
        blocks.append(Text(t(lang, "home.item", reference=incident.reference, kinds=kinds_label(svc, lang, incident),
                             status=t(lang, f"incident.status.{incident.status}"), reported_at=incident.reported_at,
                             tz=actor.tz)))
    if len(mine) == SHOWN:
        blocks.append(Note(t(lang, "home.more", shown=SHOWN)))
    assets = list(await classification.home_blocks(svc, actor))
    if assets:
        assets.append(Divider())
    return Screen(title=t(lang, "home.header"), blocks=tuple((await _handling(svc, actor) + assets + blocks)[:100]))


async def _handling(svc: Services, actor: Actor) -> list:
    """For those who follow cases up: how many are open and how many clocks run, on top of the tab."""
    lang, t = actor.lang, svc.texts.t
    cases = await visible_cases(svc, actor, Filter())
    async with svc.db.transaction() as session:
        roles = await roles_of(session, actor.person_id)
        if not cases and not roles & {COORDINATOR, DPO}:
            return []
        now, overdue, running = svc.clock.now(), 0, 0
        for incident in cases:
            deadline = gdpr_deadline(incident)
            if deadline and not gdpr_settled(await breach_of(session, incident.id)):
                overdue, running = (overdue + 1, running) if now >= deadline else (overdue, running + 1)
    buttons = [Button(LIST_ACTION, t(lang, "caselist.home_list"), style="primary"),
               Button(EXPORT_INCIDENTS, t(lang, "caselist.export_incidents"))]
    if roles & {COORDINATOR, DPO}:
        buttons.append(Button(EXPORT_BREACHES, t(lang, "caselist.export_breaches")))
    return [Header(t(lang, "caselist.home_header")),
            Text(t(lang, "caselist.home_summary", open=len(cases), overdue=overdue, running=running)),
            Buttons(tuple(buttons)), Divider()]
