"""The App Home tab: the report button and the person's own reports."""

from __future__ import annotations

from bot.model import Actor, Button, Buttons, Divider, Header, Note, Screen, Text
from handlers.incident_views import kinds_label
from handlers.services import Services
from storage.incidents import incidents_reported_by

REPORT_ACTION = "home_report_incident"
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
    return Screen(title=t(lang, "home.header"), blocks=tuple(blocks))
