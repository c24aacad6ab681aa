"""Slack listeners for the review's facts and for improvement proposals.

`/fakta [år]` opens a menu of the year's sections (coordinators; the data-protection officer sees the DPO
findings); a section replaces the menu, an item's form is pushed on top. A saved form shows its section again,
and the section left underneath is refreshed too. `/forbattring` opens a short form, `/forbattring text…` sends
the proposal at once; `/forbattring lista` is the coordinators' list. Forms are validated and stored inside the
ack, so a person sees a field error, or the saved result, in the open modal.
"""

from __future__ import annotations

import logging

from bot.slack.payloads import button_number
from bot.model import FormErrors
from bot.slack.blocks import form_metadata, form_values, screen_view
from handlers import facts, improvements

log = logging.getLogger(__name__)

FACTS_COMMAND = "/fakta"
PROPOSAL_COMMAND = "/forbattring"


class SlackFacts:
    def __init__(self, adapter) -> None:
        self.adapter, self.svc, self.client = adapter, adapter.svc, adapter.client

    def register(self, app) -> None:
        app.command(FACTS_COMMAND)(self.on_facts_command)
        app.command(PROPOSAL_COMMAND)(self.on_proposal_command)
        for action in facts.ACTIONS:
            app.action(action)(self.on_facts_action)
        app.action(improvements.LIST_ACTION)(self.on_proposal_list)
        app.action(improvements.TRIAGE_ACTION)(self.on_triage)
        for form_id in facts.FORMS.values():
            app.view_submission(form_id)(self.on_facts_form)
        app.view_submission(improvements.PROPOSAL_FORM)(self.on_proposal_form)
        app.view_submission(improvements.TRIAGE_FORM)(self.on_triage_form)

    # ---- /fakta --------------------------------------------------------------------------------------

    async def on_facts_command(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team_id"], body["user_id"])
            screen = await facts.menu(self.svc, actor, facts.parse_year(self.svc, body.get("text")))
            await self.client.views_open(trigger_id=body["trigger_id"], view=screen_view(screen))
        await self.adapter._safely(run())

    async def on_facts_action(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team"]["id"], body["user"]["id"])
            action = body["actions"][0]
            value = action.get("value", "")
            if action["action_id"] == facts.MENU_ACTION:
                result = await facts.menu(self.svc, actor, facts.parse_year(self.svc, value))
            elif action["action_id"] == facts.SECTION_ACTION:
                result = await facts.open_section(self.svc, actor, value)
            else:
                result = await facts.open_edit(self.svc, actor, value)
            await self.adapter._present(body, result)
        await self.adapter._safely(run())

    async def on_facts_form(self, ack, body, view) -> None:
        async def save(actor):
            return await facts.submit(self.svc, actor, view["callback_id"], form_metadata(view), form_values(view),
                                      submission_key=f"slack:view:{view['id']}")
        await self._form(ack, body, view, save, "could not save a facts form")

    # ---- /forbattring ----------------------------------------------------------------------------------

    async def on_proposal_command(self, ack, body) -> None:
        text = (body.get("text") or "").strip()
        if not text or text.casefold() in improvements.LIST_WORDS:
            await ack()

            async def run() -> None:
                actor = await self.adapter.actor(body["team_id"], body["user_id"])
                if text:
                    view = screen_view(await improvements.list_screen(self.svc, actor))
                else:
                    view = await self.adapter._form_view(improvements.proposal_form(self.svc, actor))
                await self.client.views_open(trigger_id=body["trigger_id"], view=view)
            await self.adapter._safely(run())
            return
        # The text came with the command: store it before the ack, and answer with the ack itself.
        lang = self.svc.settings.language
        try:
            actor = await self.adapter.actor(body["team_id"], body["user_id"], learn_profile=False)
            lang = actor.lang
            result = await improvements.submit_proposal(self.svc, actor, text,
                                                        source_key=f"slack:command:{body['trigger_id']}")
        except Exception:  # noqa: BLE001 — the person is told, and may send it again
            log.exception("could not store an improvement proposal")
            await ack(text=self.svc.texts.t(lang, "errors.generic"))
            return
        if isinstance(result, FormErrors):
            await ack(text=next(iter(result.errors.values())))
            return
        await ack(text=improvements.saved_text(self.svc, actor, result.proposal))

    async def on_proposal_form(self, ack, body, view) -> None:
        async def save(actor):
            result = await improvements.submit_proposal(self.svc, actor, form_values(view).get("text"),
                                                        source_key=f"slack:view:{view['id']}")
            return result if isinstance(result, FormErrors) else improvements.saved_screen(self.svc, actor,
                                                                                          result.proposal)
        await self._form(ack, body, view, save, "could not store an improvement proposal", refresh_previous=False)

    async def on_proposal_list(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team"]["id"], body["user"]["id"])
            await self.adapter._present(body, await improvements.list_screen(self.svc, actor))
        await self.adapter._safely(run())

    async def on_triage(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team"]["id"], body["user"]["id"])
            in_modal = (body.get("container") or {}).get("type") == "view" and bool(body.get("view"))
            result = await improvements.open_triage(self.svc, actor, button_number(body), from_list=in_modal)
            await self.adapter._present(body, result)
        await self.adapter._safely(run())

    async def on_triage_form(self, ack, body, view) -> None:
        async def save(actor):
            return await improvements.submit_triage(self.svc, actor, form_metadata(view), form_values(view),
                                                    submission_key=f"slack:view:{view['id']}")
        await self._form(ack, body, view, save, "could not save a triage")

    # ---- shared ----------------------------------------------------------------------------------------

    async def _form(self, ack, body, view, save, failure: str, *, refresh_previous: bool = True) -> None:
        """Validate and store inside the ack; the modal shows the field errors or the saved result. A pushed
        form's screen underneath is refreshed afterwards, so going back shows what was saved."""
        saved = await self.adapter.answer_form(ack, body, view, save, failure)
        if saved is None:
            return
        payload = screen_view(saved[1])
        previous = view.get("previous_view_id")
        if refresh_previous and previous:
            await self.adapter._safely(self.client.views_update(view_id=previous, view=payload))


def register_facts(adapter) -> SlackFacts:
    handler = SlackFacts(adapter)
    handler.register(adapter.app)
    return handler
