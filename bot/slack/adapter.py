"""Bolt listeners: Slack payloads in, neutral handler calls, Block Kit out.

Ack first: Slack wants an answer within 3 seconds and a trigger_id dies after 3 seconds, so modals open
right after the ack and slow work never precedes it. A submitted form is validated and stored before
the ack, so a person sees a field error, or "could not be saved", in the open modal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler, AsyncRateLimitErrorRetryHandler, AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from sqlalchemy import select

from bot.slack.payloads import button_number
from bot.slack.sdk_logger import api_logger
from bot.background import Background
from bot.i18n import language_of
from bot.ingress import Ingress
from bot.model import Actor, Form, FormErrors, PersonField, Screen
from bot.slack.blocks import form_metadata, form_values, form_view, screen_view
from bot.slack.directory import register_directory
from bot.slack.facts import register_facts
from bot.slack.classification import register_classification
from bot.slack.review import register_review
from bot.slack.training import register_training
from handlers import caselist, casefile, exports, followup, home, incidents
from handlers.incident_views import SHOW_ACTION, saved_screen
from handlers.services import Services
from storage.directory import ensure_organisation, ensure_slack_person, update_slack_profile
from storage.people import find_organisation, person_by_chat_id
from storage.models import Person, ProcessedEvent
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)

PLATFORM = "slack"
COMMAND = "/incident"
CASES_COMMAND = "/incidenter"
GLOBAL_SHORTCUT = "report_incident"
MESSAGE_SHORTCUT = "report_message_as_incident"
PROFILE_TIMEOUT = 1.0  # seconds we may spend learning a new person's language before opening a modal
ACTOR_TTL = 300.0  # seconds a resolved person is remembered; profile changes also forget them at once
ACTORS_REMEMBERED = 50_000
AFTER_ACK_AT_ONCE = 16  # post-ack work in flight; more waits its turn instead of exhausting the pool
TRIGGER_LIFETIME = 2.8  # seconds: Slack refuses a trigger_id older than 3
# Post-ack work (opening a modal) waits while other requests are still being answered, at most this long per
# busy spell: in a burst every ack goes out first, and a trigger_id (3 s) is still fresh when its turn comes.
AFTER_ACK_GIVES_WAY = 0.25
SUBMIT_DEADLINE = 2.4  # seconds to store a report before answering Slack, whose limit is 3


def web_client(settings, *, interactive: bool = True, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    """The interactive client (modals, home tab) retries briefly itself: a person is waiting. The outbox's
    client does not retry at all: the outbox reschedules, so a 429's pause never holds a leased message in a
    sleep, and a post retried after a dropped connection could arrive twice without the outbox knowing.
    With `session`, calls reuse its kept-alive connections; without, each call opens and closes its own."""
    handlers = [AsyncConnectionErrorRetryHandler(max_retry_count=1), AsyncRateLimitErrorRetryHandler(max_retry_count=1),
                AsyncServerErrorRetryHandler(max_retry_count=1)] if interactive else []
    return AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=10,
                          retry_handlers=handlers, session=session, logger=api_logger())


class SlackAdapter:
    def __init__(self, svc: Services, client: AsyncWebClient, ingress: Ingress | None = None) -> None:
        self.svc, self.client = svc, client
        self.ingress = ingress or Ingress()
        self._actors: dict[tuple[str, str], tuple[Actor, float]] = {}
        self._report_views: dict[str, dict] = {}  # language -> the empty report form (see _report_view)
        self._after_ack = Background(AFTER_ACK_AT_ONCE, "Slack listener")
        settings = svc.settings
        self.app = AsyncApp(
            client=client,
            signing_secret=settings.slack_signing_secret or "socket-mode-has-no-signing-secret",
            request_verification_enabled=not settings.socket_mode,
            # A listener returns right after its ack (post-ack work goes to _safely's tasks), so Bolt answers as
            # soon as it returns, instead of polling every 10 ms for the ack while the listener runs on.
            process_before_response=True,
        )
        self._register()

    # ---- who is acting --------------------------------------------------

    async def actor(self, team_id: str, user_id: str, *, learn_profile: bool = True) -> Actor:
        """Who is acting. Known people are read (and remembered a few minutes) without writing anything:
        this runs on every click, before Slack's 3 seconds are up."""
        cached = self._actors.get((team_id, user_id))
        if cached and cached[1] > time.monotonic():
            return cached[0]
        async with self.svc.db.transaction() as session:
            org = await find_organisation(session, PLATFORM, team_id)
            person = await person_by_chat_id(session, org.id, user_id) if org else None
        if person is not None and person.locale is not None:
            return self._remember(team_id, self._actor_of(org.id, user_id, person))
        if learn_profile and getattr(self, "directory", None) is not None:
            # First sight: the directory reads the Slack profile and matches the HR file by e-mail.
            return self._remember(team_id, await self.directory.actor(team_id, user_id))
        now = self.svc.clock.now()
        async with self.svc.db.transaction() as session:
            org = await ensure_organisation(session, PLATFORM, team_id, now)
            person = await ensure_slack_person(session, org.id, user_id, now)
        if person.locale is None and learn_profile:
            profile = await self._profile(user_id)
            if profile:
                async with self.svc.db.transaction() as session:
                    await update_slack_profile(session, person.id, now=now, **profile)
                person.locale, person.tz = profile["locale"], profile["tz"]
        return self._actor_of(org.id, user_id, person)

    def _actor_of(self, org_id: int, user_id: str, person: Person) -> Actor:
        settings = self.svc.settings
        return Actor(org_id=org_id, person_id=person.id, platform_user_id=user_id,
                     lang=language_of(person.locale, settings.language), tz=person.tz or settings.timezone)

    def _remember(self, team_id: str, actor: Actor) -> Actor:
        if len(self._actors) > ACTORS_REMEMBERED:
            self._actors.clear()
        self._actors[(team_id, actor.platform_user_id)] = (actor, time.monotonic() + ACTOR_TTL)
        return actor

    def forget(self, team_id: str, user_id: str) -> None:
        """A profile changed (language, time zone): read it afresh next time."""
        self._actors.pop((team_id, user_id), None)

    async def _profile(self, user_id: str) -> dict[str, Any] | None:
        try:
            response = await asyncio.wait_for(self.client.users_info(user=user_id, include_locale=True),
                                              timeout=PROFILE_TIMEOUT)
        except (SlackApiError, asyncio.TimeoutError, OSError) as exc:
            log.info("could not read the profile of %s: %s", user_id, exc)
            return None
        user = response["user"]
        return {"name": user.get("real_name") or user.get("name"), "email": (user.get("profile") or {}).get("email"),
                "locale": user.get("locale") or "", "tz": user.get("tz")}

    async def first_delivery(self, event_id: str | None) -> bool:
        """Slack retries events it thinks we missed; only the first delivery does anything."""
        if not event_id:
            return True
        async with self.svc.db.transaction() as session:
            return await insert_ignore(session, ProcessedEvent,
                                       {"event_id": event_id, "received_at": self.svc.clock.now()}, ["event_id"])

    # ---- listeners ------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        # Bolt tries listeners in the order registered, each costing a little: reporting comes first.
        app.command(COMMAND)(self.on_command)
        app.view_submission(incidents.FORM_ID)(self.on_report_submitted)
        app.command(CASES_COMMAND)(self.on_cases_command)
        app.action(home.LIST_ACTION)(self.on_home_case_list)
        app.action(home.EXPORT_INCIDENTS)(self.on_export)
        app.action(home.EXPORT_BREACHES)(self.on_export)
        app.shortcut(GLOBAL_SHORTCUT)(self.on_global_shortcut)
        app.shortcut(MESSAGE_SHORTCUT)(self.on_message_shortcut)
        app.action(home.REPORT_ACTION)(self.on_home_report)
        app.action(SHOW_ACTION)(self.on_show_incident)
        for action in (casefile.TAKE, casefile.ASSESS, casefile.NOTE, casefile.STATUS, casefile.GDPR, casefile.WORKENV):
            app.action(action)(self.on_case_action)
        for form_id in followup.FORMS.values():
            app.view_submission(form_id)(self.on_case_form)
        app.event("app_home_opened")(self.on_home_opened)
        app.error(self.on_error)
        register_directory(self)
        register_training(self)
        register_review(self)
        register_classification(self)
        register_facts(self)

    async def on_command(self, ack, body) -> None:
        await ack()
        await self._safely(self._open_report(body["team_id"], body["user_id"], body["trigger_id"], time.monotonic()))

    async def on_global_shortcut(self, ack, body) -> None:
        await ack()
        await self._safely(self._open_report(body["team"]["id"], body["user"]["id"], body["trigger_id"],
                                             time.monotonic()))

    async def on_home_report(self, ack, body) -> None:
        await ack()
        await self._safely(self._open_report(body["team"]["id"], body["user"]["id"], body["trigger_id"],
                                             time.monotonic()))

    async def on_message_shortcut(self, ack, body) -> None:
        await ack()
        message = body.get("message") or {}
        await self._safely(self._open_report(body["team"]["id"], body["user"]["id"], body["trigger_id"],
                                             time.monotonic(), prefill=message.get("text") or None,
                                             channel=(body.get("channel") or {}).get("id"), ts=message.get("ts")))

    async def _open_report(self, team_id: str, user_id: str, trigger_id: str, received: float, *,
                           prefill: str | None = None, channel: str | None = None, ts: str | None = None) -> None:
        actor = await self.actor(team_id, user_id)
        link = await self._permalink(channel, ts) if channel and ts else None
        if prefill is None and link is None:
            view = self._report_view(actor)
        else:
            view = await self._form_view(incidents.report_form(self.svc, actor, prefill=prefill, link=link))
        if time.monotonic() - received > TRIGGER_LIFETIME:
            raise TriggerExpired()
        await self.client.views_open(trigger_id=trigger_id, view=view)

    def _report_view(self, actor: Actor) -> dict:
        """The empty report form in Block Kit. From one modal to the next only the discovery time changes (it
        starts at now), so the rest is built once per language: about a fifth of the CPU of an /incident."""
        built = self._report_views.get(actor.lang)
        if built is None:
            built = self._report_views[actor.lang] = form_view(incidents.report_form(self.svc, actor))
        now = int(self.svc.clock.now().timestamp())
        blocks = [{**block, "element": {**block["element"], "initial_date_time": now}}
                  if block.get("block_id") == incidents.DISCOVERED_AT else block for block in built["blocks"]]
        return {**built, "blocks": blocks}

    async def _permalink(self, channel: str, ts: str) -> str | None:
        try:
            response = await asyncio.wait_for(self.client.chat_getPermalink(channel=channel, message_ts=ts),
                                              timeout=PROFILE_TIMEOUT)
            return response.get("permalink")
        except (SlackApiError, asyncio.TimeoutError, OSError):
            return None

    async def on_report_submitted(self, ack, body, view) -> None:
        lang = self.svc.settings.language
        try:
            actor = await self.actor(body["team"]["id"], body["user"]["id"], learn_profile=False)
            lang = actor.lang
            # Slack gives up after 3 seconds and shows the person an error; better to say "not saved, try again"
            # ourselves (what missed the deadline is not stored; a retry of the same form is recognised by its
            # view id).
            result = await incidents.submit_report(self.svc, actor, form_values(view),
                                                   source_key=f"slack:view:{view['id']}",
                                                   link=form_metadata(view).get("link"), within=SUBMIT_DEADLINE)
        except Exception:  # noqa: BLE001 — whatever failed, the person keeps the form and is told
            log.exception("could not store an incident report")
            await ack(response_action="errors",
                      errors={"description": self.svc.texts.t(lang, "incident.error.not_saved")})
            return
        if isinstance(result, FormErrors):
            await ack(response_action="errors", errors=result.errors)
            return
        await ack(response_action="update", view=screen_view(saved_screen(self.svc, actor, result.incident)))

    # ---- following cases ----------------------------------------------------

    async def on_cases_command(self, ack, body) -> None:
        await ack()
        await self._safely(self._case_list(body["team_id"], body["user_id"], body["trigger_id"], body.get("text", "")))

    async def on_home_case_list(self, ack, body) -> None:
        await ack()
        await self._safely(self._case_list(body["team"]["id"], body["user"]["id"], body["trigger_id"], ""))

    async def _case_list(self, team_id: str, user_id: str, trigger_id: str, text: str) -> None:
        actor = await self.actor(team_id, user_id)
        screen = await caselist.case_list_screen(self.svc, actor, caselist.parse_filter(self.svc, text))
        await self.client.views_open(trigger_id=trigger_id, view=screen_view(screen))

    async def on_export(self, ack, body) -> None:
        await ack()
        await self._safely(self._export(body["team"]["id"], body["user"]["id"], body["actions"][0]["action_id"]))

    async def _export(self, team_id: str, user_id: str, action: str) -> None:
        actor = await self.actor(team_id, user_id)
        t = self.svc.texts.t
        dm = (await self.client.conversations_open(users=user_id))["channel"]["id"]
        if action == home.EXPORT_BREACHES:
            if not await exports.may_export_breaches(self.svc, actor):
                await self.client.chat_postMessage(channel=dm, text=t(actor.lang, "exports.breaches.denied"))
                return
            export, posted = await exports.breach_log(self.svc, actor.org_id, actor.lang), "exports.breaches.posted"
        else:
            export = await exports.incident_log(self.svc, actor.org_id, actor.lang, actor)
            posted = "exports.incidents.posted"
        await self.client.files_upload_v2(channel=dm, content=export.content, filename=export.filename,
                                          title=export.title, initial_comment=t(actor.lang, posted, rows=export.rows))

    # ---- following a case -------------------------------------------------

    async def on_show_incident(self, ack, body) -> None:
        await ack()

        async def show() -> None:
            actor = await self.actor(body["team"]["id"], body["user"]["id"])
            await self._present(body, await followup.show(self.svc, actor, button_number(body)))
        await self._safely(show())

    async def on_case_action(self, ack, body) -> None:
        await ack()

        async def act() -> None:
            actor = await self.actor(body["team"]["id"], body["user"]["id"])
            action = body["actions"][0]["action_id"]
            await self._present(body, await followup.open_action(self.svc, actor, action, button_number(body)))
        await self._safely(act())

    async def _present(self, body, result: Form | Screen) -> None:
        """Inside a modal, a form is pushed on top and a screen replaces the modal; from a message, both open."""
        in_modal = (body.get("container") or {}).get("type") == "view" and body.get("view")
        if isinstance(result, Form):
            view = await self._form_view(result)
            if in_modal:
                await self.client.views_push(trigger_id=body["trigger_id"], view=view)
                return
        else:
            view = screen_view(result)
            if in_modal:
                await self.client.views_update(view_id=body["view"]["id"], view=view)
                return
        await self.client.views_open(trigger_id=body["trigger_id"], view=view)

    async def on_case_form(self, ack, body, view) -> None:
        async def save(actor: Actor):
            values = await self._people_in(actor, view, form_values(view))
            return await followup.submit(self.svc, actor, view["callback_id"], form_metadata(view), values,
                                         submission_key=f"slack:view:{view['id']}")
        await self.answer_form(ack, body, view, save, "could not save a case form")

    async def answer_form(self, ack, body, view, save: Callable[[Actor], Awaitable[Any]],
                          failure: str) -> tuple[Actor, Screen] | None:
        """Validate and store inside the ack: the modal shows the field errors, "could not be saved", or the
        saved screen. Returns who saved and the screen, for work after the ack; None when nothing was saved."""
        lang = self.svc.settings.language
        try:
            actor = await self.actor(body["team"]["id"], body["user"]["id"], learn_profile=False)
            lang = actor.lang
            result = await save(actor)
        except Exception:  # noqa: BLE001 — the person keeps the form and is told
            log.exception(failure)
            first = next((b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"), "")
            await ack(response_action="errors", errors={first: self.svc.texts.t(lang, "incident.error.not_saved")})
            return None
        if isinstance(result, FormErrors):
            await ack(response_action="errors", errors=result.errors)
            return None
        await ack(response_action="update", view=screen_view(result))
        return actor, result

    async def _people_in(self, actor: Actor, view: dict, values: dict) -> dict:
        """users_select answers are Slack user ids; handlers speak person ids."""
        picked = {b["block_id"] for b in view.get("blocks", []) if (b.get("element") or {}).get("type") == "users_select"}
        now = self.svc.clock.now()
        for block_id in picked:
            if values.get(block_id):
                async with self.svc.db.transaction() as session:
                    values[block_id] = (await ensure_slack_person(session, actor.org_id, values[block_id], now)).id
        return values

    async def _form_view(self, form: Form) -> dict:
        ids = [f.initial for f in form.fields if isinstance(f, PersonField) and f.initial is not None]
        slack_ids: dict[int, str] = {}
        if ids:
            async with self.svc.db.transaction() as session:
                rows = await session.execute(select(Person.id, Person.slack_user_id).where(Person.id.in_(ids)))
                slack_ids = {pid: uid for pid, uid in rows if uid}
        return form_view(form, slack_ids)

    async def on_home_opened(self, body, event) -> None:
        if event.get("tab") not in (None, "home"):
            return
        if not await self.first_delivery(body.get("event_id")):
            return
        await self._safely(self._publish_home(body["team_id"], event["user"]))

    async def _publish_home(self, team_id: str, user_id: str) -> None:
        actor = await self.actor(team_id, user_id)
        screen = await home.home_screen(self.svc, actor)
        await self.client.views_publish(user_id=user_id, view=screen_view(screen, home=True))

    async def on_error(self, error, body) -> None:
        log.error("unhandled error in a Slack listener: %s", error, exc_info=error)

    async def _safely(self, work) -> None:
        """Post-ack work, run after the answer has gone (bot/background.py). Returns at once: the listener
        ends, and Bolt (process_before_response) answers Slack right then. The work waits while other
        requests are still being answered; it started while its own one was, and that one is not waited for."""
        self._after_ack.start(_expired_triggers_logged(work),
                              first=lambda: self.ingress.give_way(AFTER_ACK_GIVES_WAY, besides=1))

    async def idle(self) -> None:
        """Wait until the work after answers is done (shutdown, tests)."""
        await self._after_ack.idle()


async def _expired_triggers_logged(work) -> None:
    try:
        await work
    except TriggerExpired:
        log.warning("a modal was not opened: Slack's trigger expired while the bot was busy")


class TriggerExpired(Exception):
    """Too late to open a modal: Slack would refuse the trigger_id."""
