"""Teams activities in (POST /api/messages), neutral handler calls, Adaptive Cards out.

Every request is checked first (bot.teams.auth): no valid Bot Framework token, 401, nothing read further.
Teams wants the HTTP answer within 15 seconds. Invokes (a dialog opening, a form submitted, a card button)
are answered in the response itself, so they must finish well inside that (INVOKE_BUDGET); they only do
database work. A chat message is answered with 200 at once and replied to through the Bot Connector
afterwards; receipts, notices and reminders go through the outbox as for Slack.

Where the person acts:
- a message "rapportera"/"incident"/"report" (or the bot command) -> a card whose button opens the report
  dialog; the message extension "Rapportera incident" opens it directly (on a message: prefilled);
- the dialog (task/fetch, task/submit) -> handlers.incidents, with the same validation and errors in it;
- a card button (Action.Execute, adaptiveCard/action) -> handlers.followup / handlers.training; the
  answer (a screen, or a form to fill in) replaces the card in place, for the person who pressed it;
- "fakta", "förbättring [text|lista]", "utbildning start" and "exportera [dataskydd]" -> the review's facts,
  improvement proposals, a training campaign and the CSV exports, as in Slack. Documents are signed links to
  lisbot itself (bot.teams.documents): a Teams bot cannot attach files without SharePoint and Graph.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import httpx
from aiohttp import web
from microsoft_teams.api import (
    ActivityTypeAdapter, AdaptiveCardActionCardResponse, AdaptiveCardActionMessageResponse, Attachment,
    CardTaskModuleTaskInfo, MessageActivityInput, TaskModuleContinueResponse, TaskModuleMessageResponse,
    TaskModuleResponse,
)
from microsoft_teams.cards import AdaptiveCard, OpenUrlAction, SubmitAction, TextBlock
from pydantic import ValidationError

from bot.background import Background
from bot.i18n import language_of
from bot.model import Actor, Form, FormErrors, Message, Screen
from bot.teams import cards
from bot.teams.auth import BotToken, InboundAuth, Unauthorized
from bot.teams.directory import TeamsDirectory, files_in
from bot.teams.documents import EXPORT_LINK_MINUTES, DocumentLinks, DocumentRoute, export_for, size_text
from bot.teams.transport import api_client
from handlers import directory as people_file
from handlers import (
    assets, caselist, casefile, classification, facts, followup, home, improvements, incidents, review,
    training,
)
from handlers.incident_views import SHOW_ACTION, saved_screen
from handlers.services import Services
from storage.teams import (
    TeamsAccount, attach_teams_account, names_by_slack_id, people_to_pick, person_by_teams_id,
    remember_conversation, remember_personal_conversation, teams_organisation,
)

log = logging.getLogger(__name__)

PATH = "/api/messages"
INVOKE_BUDGET = 10.0     # seconds for an invoke's answer; Teams gives up after 15
PROFILE_TIMEOUT = 1.0    # seconds spent learning a new person's e-mail from the connector
ACTOR_TTL = 300.0
ACTORS_REMEMBERED = 50_000
AFTER_RESPONSE_AT_ONCE = 16
CARD = "application/vnd.microsoft.card.adaptive"
REPORT_DIALOG = home.REPORT_ACTION          # the button that opens the report dialog
DIALOGS = frozenset({REPORT_DIALOG})
MESSAGE_EXTENSION_COMMAND = "report_incident"
CASE_ACTIONS = (casefile.TAKE, casefile.ASSESS, casefile.NOTE, casefile.STATUS, casefile.GDPR, casefile.WORKENV)
REPORT_WORDS = {"rapportera", "incident", "report", "rapport", "anmäl"}
CASES_WORDS = {"incidenter", "ärenden", "cases", "incidents"}
TRAINING_WORDS = {"utbildning", "training"}
CLASSIFICATION_WORDS = {"klassning", "klassa", "informationsklassning", "classification"}
REVIEW_WORDS = {"genomgång", "genomgang", "review"}
CHANNEL_WORDS = {"kanal", "kanal-id", "channel", "channel-id"}
FACTS_WORDS = {"fakta", "facts"}
PROPOSAL_WORDS = {"förbättring", "forbattring", "förbättringsförslag", "förslag", "improvement", "proposal"}
EXPORT_WORDS = {"exportera", "export"}
BREACH_WORDS = {"dataskydd", "personuppgiftsincidenter", "personuppgifter", "gdpr", "breaches", "breach"}
EXPORT_ACTIONS = {home.EXPORT_INCIDENTS: "incidents", home.EXPORT_BREACHES: "breaches"}


@dataclass
class Spec:
    """A form the adapter can show and take back: how to build it again (to read and re-show a submission)
    and how to submit it."""

    rebuild: Callable[[Services, Actor, dict], Awaitable[Form | None]]
    submit: Callable[[Services, Actor, str, dict, dict, str], Awaitable[Any]]


class TeamsAdapter:
    def __init__(self, svc: Services, http: httpx.AsyncClient) -> None:
        self.svc, self.settings = svc, svc.settings
        self.token = BotToken(self.settings, http)
        self.api = api_client(self.settings, self.token, http)
        self.auth = InboundAuth(self.settings)
        self._actors: dict[tuple[str, str], tuple[Actor, float]] = {}
        self._conversations: set[str] = set()
        self._after = Background(AFTER_RESPONSE_AT_ONCE, "Teams work")
        self.forms = self._form_specs()
        self.links = DocumentLinks(self.settings)
        self.documents = DocumentRoute(svc, self.links)
        self.directory = TeamsDirectory(svc, http)

    # ---- the endpoint ----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
        except ValueError:
            return _json({"error": "not JSON"}, 400)
        if not isinstance(body, dict):
            return _json({"error": "not an activity"}, 400)
        try:
            await self.auth.check(request.headers.get("Authorization", ""), body.get("serviceUrl"))
        except Unauthorized as exc:
            log.warning("Teams request refused (401): %s", exc)
            return _json({"error": "Unauthorized"}, 401)
        try:
            activity = ActivityTypeAdapter.validate_python(body)
        except ValidationError as exc:
            log.warning("Teams sent an activity lisbot cannot read: %s", exc.errors()[:1])
            return _json({"error": "malformed activity"}, 400)
        tenant = tenant_of(activity)
        if not tenant or tenant != self.settings.teams_tenant_id:
            log.warning("Teams activity from another tenant (%s) refused", tenant)
            return _json({"error": "Forbidden"}, 403)
        kind = activity.type
        if kind == "invoke":
            try:
                status, answer = await asyncio.wait_for(self._invoke(activity), INVOKE_BUDGET)
            except Exception:  # noqa: BLE001 — the person sees an error, never a hang
                log.exception("Teams invoke %s failed", getattr(activity, "name", "?"))
                status, answer = 200, await self._failure(activity)
            return _json(answer, status)
        if kind == "message":
            self._later(self._on_message(activity))
        elif kind in ("conversationUpdate", "installationUpdate"):
            self._later(self._on_install(activity))
        return web.Response(status=200)

    def _later(self, work) -> None:
        """After the HTTP answer: bounded, and nothing escapes."""
        self._after.start(work)

    async def idle(self) -> None:
        """Wait until the work after responses is done (tests, shutdown)."""
        await self._after.idle()

    # ---- who is acting -------------------------------------------------------------------

    async def actor(self, activity, *, learn: bool = True) -> Actor:
        tenant, user = tenant_of(activity), activity.from_
        lang_hint, tz_hint = activity.locale, client_timezone(activity)
        cached = self._actors.get((tenant, user.id))
        if cached and cached[1] > time.monotonic() and activity.conversation.id in self._conversations:
            return self._with_locale(cached[0], lang_hint)
        now = self.svc.clock.now()
        async with self.svc.db.transaction() as session:
            org = await teams_organisation(session, tenant, link_to=self.settings.teams_org, now=now)
            person = await person_by_teams_id(session, org.id, user.id, user.aad_object_id)
        email = None
        if (person is None or not person.email) and learn:
            email = await self._email_of(activity)
        async with self.svc.db.transaction() as session:
            if person is None or email or person.aad_object_id != (user.aad_object_id or person.aad_object_id):
                person = await attach_teams_account(session, org.id, TeamsAccount(
                    user_id=user.id, aad_object_id=user.aad_object_id, name=user.name, email=email,
                    locale=lang_hint, tz=tz_hint), now)
            else:
                person = await session.merge(person)
            await self._remember(session, org.id, person, activity)
            actor = Actor(org_id=org.id, person_id=person.id, platform_user_id=user.id,
                          lang=language_of(person.locale, self.settings.language),
                          tz=person.tz or tz_hint or self.settings.timezone)
        if len(self._actors) > ACTORS_REMEMBERED:
            self._actors.clear()
        self._actors[(tenant, user.id)] = (actor, time.monotonic() + ACTOR_TTL)
        return self._with_locale(actor, lang_hint)

    def _with_locale(self, actor: Actor, locale: str | None) -> Actor:
        """The Teams client says which language it shows; the bot answers in it."""
        lang = language_of(locale, actor.lang) if locale else actor.lang
        return actor if lang == actor.lang else Actor(actor.org_id, actor.person_id, actor.platform_user_id, lang,
                                                       actor.tz)

    async def _remember(self, session, org_id: int, person, activity) -> None:
        conversation, service_url = activity.conversation, activity.service_url
        if not service_url:
            return
        kind = getattr(conversation, "conversation_type", None)
        if kind == "personal":
            await remember_personal_conversation(session, person, conversation.id, service_url=service_url,
                                                 tenant_id=tenant_of(activity))
        else:
            await remember_conversation(session, org_id, conversation.id, kind=kind, service_url=service_url,
                                        tenant_id=tenant_of(activity), now=self.svc.clock.now())
        if person.teams_service_url is None:
            person.teams_service_url, person.teams_tenant_id = service_url, tenant_of(activity)
        self._conversations.add(conversation.id)

    async def _email_of(self, activity) -> str | None:
        if not activity.service_url:
            return None
        try:
            member = await asyncio.wait_for(
                self.api.from_service_url(activity.service_url).conversations.get_member_by_id(
                    activity.conversation.id, activity.from_.id), PROFILE_TIMEOUT)
        except (httpx.HTTPError, asyncio.TimeoutError, ValueError) as exc:
            log.info("could not read the Teams profile of %s: %s", activity.from_.id, exc)
            return None
        return member.email or member.user_principal_name

    # ---- messages and installs --------------------------------------------------------------

    async def _on_message(self, activity) -> None:
        actor = await self.actor(activity)
        files = files_in(activity)
        if files and getattr(activity.conversation, "conversation_type", None) == "personal":
            await self.directory.files_sent(actor, activity.id, files)  # the HR file, as in Slack's DM
            return
        words = command_words(activity.text or "")
        first = words[0] if words else ""
        t = lambda key, **kw: self.svc.texts.t(actor.lang, key, **kw)  # noqa: E731
        if first in CHANNEL_WORDS and getattr(activity.conversation, "conversation_type", None) == "channel":
            reply = cards.card([TextBlock(text=cards.markdown(t("teams.channel_id", id=activity.conversation.id)),
                                          wrap=True)])
        elif first in REPORT_WORDS:
            reply = self.report_prompt(actor)
        elif first in CASES_WORDS:
            screen = await caselist.case_list_screen(self.svc, actor, caselist.parse_filter(self.svc, " ".join(words[1:])))
            reply = await self._screen_card(screen)
        elif first in TRAINING_WORDS and words[1:2] == ["start"]:
            reply = await self._training_start(actor)
        elif first in TRAINING_WORDS:
            reply = await self._screen_card(await training.status_screen(self.svc, actor))
        elif first in FACTS_WORDS:
            reply = await self._card_of(actor, await facts.menu(self.svc, actor,
                                                                facts.parse_year(self.svc, " ".join(words[1:]))))
        elif first in PROPOSAL_WORDS:
            reply = await self._proposal(actor, activity, words)
        elif first in EXPORT_WORDS:
            reply = await self._export_card(actor, "breaches" if set(words[1:]) & BREACH_WORDS else "incidents")
        elif first in CLASSIFICATION_WORDS:
            result = await classification.overview(self.svc, actor, " ".join(words[1:]))
            reply = await self._screen_card(result)
        elif first in REVIEW_WORDS:
            year = int(words[1]) if len(words) > 1 and words[1].isdigit() and len(words[1]) == 4 else None
            text = await self._draft(actor, year)
            reply = cards.card([TextBlock(text=cards.markdown(text), wrap=True)])
        else:
            reply = await self._screen_card(await home.home_screen(self.svc, actor))
        await self.send(activity, reply, summary=t("teams.summary"))

    async def _training_start(self, actor: Actor) -> AdaptiveCard:
        if await training.may_run_campaigns(self.svc, actor):
            return await self._card_of(actor, training.start_form(self.svc, actor))
        return await self._screen_card(training._screen(self.svc, actor.lang, "training.start.denied"))

    async def _proposal(self, actor: Actor, activity, words: list[str]) -> AdaptiveCard:
        """`förbättring` opens the form; `förbättring lista` is the coordinators' list; with text, it is sent."""
        if len(words) == 1:
            return await self._card_of(actor, improvements.proposal_form(self.svc, actor))
        if len(words) == 2 and words[1] in improvements.LIST_WORDS:
            return await self._screen_card(await improvements.list_screen(self.svc, actor))
        try:
            result = await improvements.submit_proposal(self.svc, actor, after_first_word(activity.text or ""),
                                                        source_key=f"teams:message:{activity.id}"[:64])
        except Exception:  # noqa: BLE001 — the person is told (their text stays in the chat) and may send it again
            log.exception("could not store an improvement proposal from Teams")
            result = FormErrors({"text": self.svc.texts.t(actor.lang, "errors.generic")})
        if isinstance(result, FormErrors):
            text = next(iter(result.errors.values()))
        else:
            text = improvements.saved_text(self.svc, actor, result.proposal)
        return cards.card([TextBlock(text=cards.markdown(text), wrap=True)])

    async def _export_card(self, actor: Actor, which: str) -> AdaptiveCard:
        """A CSV export as a link to lisbot (files cannot be attached in Teams without Graph), made for this
        person when the link is followed, with their rights then; the link lives a few minutes."""
        t = lambda key, **kw: self.svc.texts.t(actor.lang, key, **kw)  # noqa: E731
        text = lambda value: cards.card([TextBlock(text=cards.markdown(value), wrap=True)])  # noqa: E731
        export = await export_for(self.svc, actor, which)
        if export is None:
            return text(t("exports.breaches.denied"))
        if not self.links.available:
            return text(t("teams.documents.no_public_url"))
        url, _ = self.links.export_link(which, actor, export.filename, self.svc.clock.now())
        return cards.card([
            TextBlock(text=cards.markdown(t("teams.documents.export_ready", title=export.title, rows=export.rows)),
                      wrap=True),
            TextBlock(text=cards.markdown(t("teams.documents.file", name=export.filename,
                                            size=size_text(self.svc.texts, actor.lang, len(export.content)))),
                      wrap=True, spacing="Small"),
            TextBlock(text=cards.markdown(t("teams.documents.export_valid", minutes=EXPORT_LINK_MINUTES)),
                      size="Small", is_subtle=True, wrap=True),
        ], [OpenUrlAction(title=cards.plain(t("teams.documents.open", name=export.filename))[:60], url=url)])

    def report_prompt(self, actor: Actor) -> AdaptiveCard:
        t = lambda key, **kw: self.svc.texts.t(actor.lang, key, **kw)  # noqa: E731
        return cards.card([TextBlock(text=cards.markdown(t("teams.report.prompt")), wrap=True)], [
            SubmitAction(title=cards.plain(t("home.report_button")), style="positive",
                         data={"msteams": {"type": "task/fetch"}, cards.DATA_DIALOG: REPORT_DIALOG})])

    async def send(self, activity, card: AdaptiveCard, *, summary: str) -> None:
        message = MessageActivityInput(summary=summary).add_card(card)
        await self.api.from_service_url(activity.service_url).conversations.create_activity(
            activity.conversation.id, message)

    async def _on_install(self, activity) -> None:
        """The app was added for a person or to a team: remember where to reach them."""
        if activity.from_ and activity.from_.id and activity.service_url:
            await self.actor(activity)

    # ---- invokes -----------------------------------------------------------------------------------

    async def _invoke(self, activity) -> tuple[int, Any]:
        name = activity.name
        if name in ("task/fetch", "composeExtension/fetchTask"):
            return 200, await self._open_dialog(activity)
        if name in ("task/submit", "composeExtension/submitAction"):
            return 200, await self._dialog_submitted(activity)
        if name == "adaptiveCard/action":
            return 200, await self._card_action(activity)
        log.info("Teams invoke %s is not handled", name)
        return 200, {}

    async def _open_dialog(self, activity) -> dict:
        actor = await self.actor(activity)
        prefill, link = None, None
        payload = getattr(activity.value, "message_payload", None)
        if payload is not None:
            prefill = message_text(payload)
            link = getattr(payload, "link_to_message", None)
        form = incidents.report_form(self.svc, actor, prefill=prefill, link=link)
        card = await self._form_card(actor, form, mode="dialog", token=uuid.uuid4().hex)
        return _dialog(card, form.title)

    async def _dialog_submitted(self, activity) -> dict:
        actor = await self.actor(activity, learn=False)
        data = activity.value.data if isinstance(getattr(activity.value, "data", None), dict) else {}
        meta = data.get(cards.DATA_META) if isinstance(data.get(cards.DATA_META), dict) else {}
        token = str(data.get(cards.DATA_TOKEN) or activity.id)[:64]
        form = incidents.report_form(self.svc, actor, link=meta.get("link"))
        values = cards.form_values(form, data, actor.tz)
        try:
            result = await incidents.submit_report(self.svc, actor, values, source_key=f"teams:form:{token}",
                                                   link=meta.get("link"))
        except Exception:  # noqa: BLE001 — the person keeps the form and is told
            log.exception("could not store an incident report from Teams")
            result = FormErrors({"description": self.svc.texts.t(actor.lang, "incident.error.not_saved")})
        if isinstance(result, FormErrors):
            card = await self._form_card(actor, form, mode="dialog", raw=data, errors=result.errors, token=token)
            return _dialog(card, form.title)
        return _dialog(await self._screen_card(saved_screen(self.svc, actor, result.incident)), form.title)

    async def _card_action(self, activity) -> dict:
        actor = await self.actor(activity)
        action = activity.value.action
        verb, data = action.verb or "", action.data or {}
        if verb == cards.FORM_VERB:
            return await self._form_submitted(actor, activity, data)
        number = _number(data.get(cards.DATA_VALUE))
        if verb == SHOW_ACTION:
            return await self._answer(actor, await followup.show(self.svc, actor, number))
        if verb in CASE_ACTIONS:
            return await self._answer(actor, await followup.open_action(self.svc, actor, verb, number))
        if verb in training.ANSWER_ACTIONS:
            return await self._answer(actor, await training.answer(self.svc, actor, verb, number))
        if verb in training.MANAGER_ACTIONS:
            result = await training.manager_action(self.svc, actor, verb, number)
            if isinstance(result, Message):
                # The list stays for the manager's other people; the outcome is said beside it.
                return _dump(AdaptiveCardActionMessageResponse(value=cards.plain(result.text)))
            return await self._answer(actor, result)
        if verb == home.LIST_ACTION:
            return await self._answer(actor, await caselist.case_list_screen(self.svc, actor,
                                                                             caselist.parse_filter(self.svc, "")))
        if verb in (assets.REVIEW_ACTION, assets.EDIT_ACTION, assets.NEW_ASSET_ACTION):
            asset_id, round_id = classification.button_target(str(data.get(cards.DATA_VALUE) or ""))
            result = (await classification.open_review(self.svc, actor, asset_id, round_id)
                      if verb == assets.REVIEW_ACTION else await assets.open_edit(self.svc, actor, asset_id))
            return await self._answer(actor, result)
        if verb == assets.START_ACTION:
            return await self._answer(actor, await classification.open_start(self.svc, actor))
        if verb == assets.OPEN_ACTION:
            return await self._answer(actor, await classification.overview(self.svc, actor))
        if verb in (review.PUBLISH, review.REGENERATE, review.DECIDE):
            return await self._review_action(actor, verb, number)
        if verb in (people_file.IMPORT_ACTION, people_file.CANCEL_ACTION):
            text, work = await self.directory.decided(actor, str(data.get(cards.DATA_VALUE) or ""),
                                                      import_rows=verb == people_file.IMPORT_ACTION)
            if work is not None:
                self._later(work)
            return _card_response(cards.card([TextBlock(text=cards.markdown(text), wrap=True)]))
        if verb in EXPORT_ACTIONS:
            return _card_response(await self._export_card(actor, EXPORT_ACTIONS[verb]))
        if verb in facts.ACTIONS:
            value = str(data.get(cards.DATA_VALUE) or "")
            if verb == facts.MENU_ACTION:
                result = await facts.menu(self.svc, actor, facts.parse_year(self.svc, value))
            elif verb == facts.SECTION_ACTION:
                result = await facts.open_section(self.svc, actor, value)
            else:
                result = await facts.open_edit(self.svc, actor, value)
            return await self._answer(actor, result)
        if verb == improvements.LIST_ACTION:
            return await self._answer(actor, await improvements.list_screen(self.svc, actor))
        if verb == improvements.TRIAGE_ACTION:
            return await self._answer(actor, await improvements.open_triage(self.svc, actor, number, from_list=False))
        return _dump(AdaptiveCardActionMessageResponse(value=self.svc.texts.t(actor.lang, "teams.unsupported")))

    async def _review_action(self, actor: Actor, verb: str, number: int) -> dict:
        t = lambda key, **kw: self.svc.texts.t(actor.lang, key, **kw)  # noqa: E731
        if verb == review.DECIDE:
            if not await review.may_decide(self.svc, actor):
                return _card_response(await self._screen_card(
                    review._screen(self.svc, actor.lang, t("review.decision_form.denied"))))
            form = await _decision_form(self.svc, actor, number)
            return await self._answer(actor, form)
        if not await review.may_compile(self.svc, actor):
            return _dump(AdaptiveCardActionMessageResponse(value=cards.plain(t("review.draft.denied"))))
        if verb == review.PUBLISH:
            outcome = await review.publish(self.svc, actor, number)
            return _dump(AdaptiveCardActionMessageResponse(
                value=cards.plain(t(outcome.key, year=outcome.year, at=outcome.at))))
        return _dump(AdaptiveCardActionMessageResponse(value=cards.plain(await self._draft(actor, number or None))))

    async def _draft(self, actor: Actor, year: int | None) -> str:
        """Start compiling a draft review (slow: documents) after the answer; say so now."""
        t = lambda key, **kw: self.svc.texts.t(actor.lang, key, **kw)  # noqa: E731
        if not await review.may_compile(self.svc, actor):
            return t("review.draft.denied")
        year = year or self.svc.clock.now().astimezone(self.svc.org_tz).year
        done = await review.published(self.svc, actor.org_id, year)
        if done is not None:
            return t("review.publish.already", year=year,
                     at=done.published_at.astimezone(self.svc.org_tz).date().isoformat())

        async def compile_() -> None:
            draft = await review.compile_draft(self.svc, actor.org_id, year, created_by=actor.person_id)
            await review.tell_coordinator(self.svc, actor, draft)
        self._later(compile_())
        return t("review.draft.working", year=year)

    async def _form_submitted(self, actor: Actor, activity, data: dict) -> dict:
        form_id = str(data.get(cards.DATA_FORM) or "")
        meta = data.get(cards.DATA_META) if isinstance(data.get(cards.DATA_META), dict) else {}
        token = str(data.get(cards.DATA_TOKEN) or activity.id)[:64]
        spec = self.forms.get(form_id)
        form = await spec.rebuild(self.svc, actor, meta) if spec else None
        if form is None:
            return _dump(AdaptiveCardActionMessageResponse(value=self.svc.texts.t(actor.lang, "teams.unsupported")))
        values = cards.form_values(form, data, actor.tz)
        try:
            result = await spec.submit(self.svc, actor, form_id, meta, values, f"teams:form:{token}")
        except Exception:  # noqa: BLE001
            log.exception("could not save a form from Teams")
            result = FormErrors({form.fields[0].id if form.fields else "_":
                                 self.svc.texts.t(actor.lang, "incident.error.not_saved")})
        if isinstance(result, FormErrors):
            return _card_response(await self._form_card(actor, form, mode="execute", raw=data, errors=result.errors,
                                                        token=token))
        if form_id == assets.REVIEW_FORM and meta.get("round"):
            message = await classification.owner_message_now(self.svc, actor.lang, int(meta["round"]), actor.person_id)
            if message is not None:
                return _card_response(await self._message_card(message))
        if meta.get("assignment") and form_id in (training.DONE_FORM, training.EXEMPT_FORM):
            state = await training.state_message(self.svc, actor.lang, int(meta["assignment"]))
            if state is not None:
                return _card_response(await self._message_card(state))
        return await self._answer(actor, result)

    async def _answer(self, actor: Actor, result: Form | Screen | Message) -> dict:
        """A handler's answer as the card that replaces the pressed one."""
        return _card_response(await self._card_of(actor, result))

    async def _card_of(self, actor: Actor, result: Form | Screen | Message) -> AdaptiveCard:
        if isinstance(result, Form):
            return await self._form_card(actor, result, mode="execute", token=uuid.uuid4().hex)
        if isinstance(result, Screen):
            return await self._screen_card(result)
        return await self._message_card(result)

    async def _failure(self, activity) -> dict:
        lang = language_of(getattr(activity, "locale", None), self.settings.language)
        text = self.svc.texts.t(lang, "errors.generic")
        if getattr(activity, "name", "") == "adaptiveCard/action":
            return _dump(AdaptiveCardActionMessageResponse(value=text))
        return _dump(TaskModuleResponse(task=TaskModuleMessageResponse(value=text)))

    # ---- cards -------------------------------------------------------------------------------------

    async def _names(self, texts: list[str]) -> dict[str, str]:
        found = cards.mentions_in(texts)
        if not found:
            return {}
        async with self.svc.db.transaction() as session:
            return await names_by_slack_id(session, found)

    async def _screen_card(self, screen: Screen) -> AdaptiveCard:
        names = await self._names([getattr(b, "text", "") for b in screen.blocks]
                                  + [f for b in screen.blocks for f in getattr(b, "fields", ())])
        return cards.screen_card(screen, names, dialogs=DIALOGS)

    async def _message_card(self, message: Message) -> AdaptiveCard:
        names = await self._names([message.text] + [getattr(b, "text", "") for b in message.blocks])
        return cards.message_card(message, names, dialogs=DIALOGS)

    async def _form_card(self, actor: Actor, form: Form, *, mode: str, token: str, raw: dict | None = None,
                         errors: dict | None = None) -> AdaptiveCard:
        people: dict[int, str] = {}
        if any(f.kind == "person" for f in form.fields):
            async with self.svc.db.transaction() as session:
                people = await people_to_pick(session, actor.org_id)
        t = self.svc.texts.t
        return cards.form_card(form, mode=mode, tz=actor.tz, raw=raw, errors=errors, people=people, token=token,
                               texts={"required": t(actor.lang, "teams.form.required"),
                                      "time": t(actor.lang, "teams.form.time")})

    # ---- forms shown in place ----------------------------------------------------------------------

    def _form_specs(self) -> dict[str, Spec]:
        async def case_form(svc, actor, meta):
            action = followup.FORM_ACTION.get(meta.get("_form_id", ""))
            return None if action is None else await _form_or_none(
                followup.open_action(svc, actor, action, _number(meta.get("incident"))))

        async def case_submit(svc, actor, form_id, meta, values, key):
            return await followup.submit(svc, actor, form_id, meta, values, submission_key=key)

        async def training_form(svc, actor, meta):
            form_id, number = meta.get("_form_id"), _number(meta.get("assignment"))
            if form_id == training.START_FORM:
                return training.start_form(svc, actor)
            if form_id == training.CONFIRM_FORM:
                return await _form_or_none(training.manager_action(svc, actor, training.CONFIRM_FOR, number))
            answer = training.DONE if form_id == training.DONE_FORM else training.NOT_APPLICABLE
            return await _form_or_none(training.answer(svc, actor, answer, number))

        async def training_submit(svc, actor, form_id, meta, values, key):
            return await training.submit(svc, actor, form_id, meta, values)

        async def classification_form(svc, actor, meta):
            form_id = meta.get("_form_id")
            if form_id == assets.REVIEW_FORM:
                return await _form_or_none(classification.open_review(svc, actor, _number(meta.get("asset")),
                                                                      _number(meta.get("round"))))
            if form_id == assets.EDIT_FORM:
                return await _form_or_none(assets.open_edit(svc, actor, _number(meta.get("asset"))))
            return await _form_or_none(classification.open_start(svc, actor))

        async def classification_submit(svc, actor, form_id, meta, values, key):
            if form_id == assets.REVIEW_FORM:
                return await classification.submit_review(svc, actor, meta, values, submission_key=key)
            if form_id == assets.EDIT_FORM:
                return await assets.submit_edit(svc, actor, meta, values, submission_key=key)
            return await classification.submit_start(svc, actor, values, submission_key=key)

        async def decision_form(svc, actor, meta):
            return await _decision_form(svc, actor, _number(meta.get("review")))

        async def decision_submit(svc, actor, form_id, meta, values, key):
            return await review.record_decision(svc, actor, meta, values, submission_key=key)

        specs = {form_id: Spec(case_form, case_submit) for form_id in followup.FORMS.values()}
        for form_id in (training.START_FORM, training.DONE_FORM, training.EXEMPT_FORM, training.CONFIRM_FORM):
            specs[form_id] = Spec(training_form, training_submit)
        for form_id in (assets.REVIEW_FORM, assets.EDIT_FORM, assets.START_FORM):
            specs[form_id] = Spec(classification_form, classification_submit)
        specs[review.DECISION_FORM] = Spec(decision_form, decision_submit)

        async def facts_form(svc, actor, meta):
            value = f"{meta.get('year', '')}:{meta.get('section', '')}:{meta.get('item', '')}"
            return await _form_or_none(facts.open_edit(svc, actor, value))

        async def facts_submit(svc, actor, form_id, meta, values, key):
            return await facts.submit(svc, actor, form_id, meta, values, submission_key=key)

        for form_id in facts.FORMS.values():
            specs[form_id] = Spec(facts_form, facts_submit)

        async def proposal_form(svc, actor, meta):
            return improvements.proposal_form(svc, actor)

        async def proposal_submit(svc, actor, form_id, meta, values, key):
            result = await improvements.submit_proposal(svc, actor, values.get("text"), source_key=key)
            return result if isinstance(result, FormErrors) else improvements.saved_screen(svc, actor, result.proposal)

        async def triage_form(svc, actor, meta):
            return await _form_or_none(improvements.open_triage(svc, actor, _number(meta.get("proposal")),
                                                                from_list=bool(meta.get("list"))))

        async def triage_submit(svc, actor, form_id, meta, values, key):
            return await improvements.submit_triage(svc, actor, meta, values, submission_key=key)

        specs[improvements.PROPOSAL_FORM] = Spec(proposal_form, proposal_submit)
        specs[improvements.TRIAGE_FORM] = Spec(triage_form, triage_submit)
        return {form_id: _with_id(form_id, spec) for form_id, spec in specs.items()}


def _with_id(form_id: str, spec: Spec) -> Spec:
    async def rebuild(svc, actor, meta):
        return await spec.rebuild(svc, actor, {**meta, "_form_id": form_id})
    return Spec(rebuild, spec.submit)


async def _decision_form(svc: Services, actor: Actor, review_id: int) -> Form:
    from storage.models import Review

    async with svc.db.transaction() as session:
        found = await session.get(Review, review_id)
    year = found.year if found else svc.clock.now().year
    return review.decision_form(svc, actor, review_id, year)


async def _form_or_none(result) -> Form | None:
    value = await result
    return value if isinstance(value, Form) else None


# ---- reading activities -----------------------------------------------------------------------------


def tenant_of(activity) -> str | None:
    conversation = getattr(activity, "conversation", None)
    if conversation is not None and getattr(conversation, "tenant_id", None):
        return conversation.tenant_id
    channel_data = getattr(activity, "channel_data", None)
    tenant = getattr(channel_data, "tenant", None) if channel_data is not None else None
    return getattr(tenant, "id", None)


def client_timezone(activity) -> str | None:
    for entity in getattr(activity, "entities", None) or []:
        data = entity.model_dump(by_alias=True) if hasattr(entity, "model_dump") else dict(entity)
        if data.get("type") == "clientInfo" and data.get("timezone"):
            return str(data["timezone"])
    return None


def command_words(text: str) -> list[str]:
    """The words of a chat message, without the bot's @mention (<at>lisbot</at>) or markup."""
    text = re.sub(r"<at>.*?</at>", " ", text)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return [w.strip(".,!?:;/").lower() for w in text.split() if w.strip(".,!?:;/")]


def after_first_word(text: str) -> str:
    """What follows the command word, as typed (case and line breaks kept), without the bot's @mention."""
    text = re.sub(r"<at>.*?</at>", " ", text)
    text = html.unescape(re.sub(r"<br\s*/?>|</p>|</div>", "\n", text))
    text = re.sub(r"<[^>]+>", "", text).strip()
    parts = text.split(None, 1)
    return parts[1].strip() if len(parts) > 1 else ""


def message_text(payload) -> str | None:
    """The text of the message a report starts from (Teams sends it as HTML)."""
    body = getattr(payload, "body", None)
    content = getattr(body, "content", None) if body is not None else None
    if not content:
        return None
    text = re.sub(r"<br\s*/?>|</p>|</div>", "\n", content)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip() or None


def _number(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def _dump(model) -> dict:
    return model.model_dump(by_alias=True, exclude_none=True)


def _card_response(card: AdaptiveCard) -> dict:
    return _dump(AdaptiveCardActionCardResponse(value=card))


def _dialog(card: AdaptiveCard, title: str) -> dict:
    info = CardTaskModuleTaskInfo(title=cards.plain(title)[:60], width="medium", height="large",
                                  card=Attachment(content_type=CARD, content=card))
    return _dump(TaskModuleResponse(task=TaskModuleContinueResponse(value=info)))


def _json(body: Any, status: int) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")
