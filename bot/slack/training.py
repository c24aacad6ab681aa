"""Slack listeners for the training campaign: /utbildning, the prompt's buttons, managers' buttons, forms."""

from __future__ import annotations

import dataclasses
import logging

from slack_sdk.errors import SlackApiError

from bot.slack.payloads import button_number, message_ref
from bot.model import Form, Message
from bot.slack.blocks import form_metadata, form_values, message_payload, screen_view
from handlers import training

log = logging.getLogger(__name__)

COMMAND = "/utbildning"
FORMS = (training.START_FORM, training.DONE_FORM, training.EXEMPT_FORM, training.CONFIRM_FORM)


class SlackTraining:
    def __init__(self, adapter) -> None:
        self.adapter, self.svc, self.client = adapter, adapter.svc, adapter.client

    def register(self, app) -> None:
        app.command(COMMAND)(self.on_command)
        for action in training.ANSWER_ACTIONS:
            app.action(action)(self.on_answer)
        for action in training.MANAGER_ACTIONS:
            app.action(action)(self.on_manager_action)
        for form_id in FORMS:
            app.view_submission(form_id)(self.on_form)

    async def on_command(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team_id"], body["user_id"])
            if (body.get("text") or "").strip().lower() == "start":
                if await training.may_run_campaigns(self.svc, actor):
                    view = await self.adapter._form_view(training.start_form(self.svc, actor))
                else:
                    view = screen_view(training._screen(self.svc, actor.lang, "training.start.denied"))
            else:
                view = screen_view(await training.status_screen(self.svc, actor))
            await self.client.views_open(trigger_id=body["trigger_id"], view=view)
        await self.adapter._safely(run())

    async def on_answer(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team"]["id"], body["user"]["id"])
            action = body["actions"][0]["action_id"]
            result = await training.answer(self.svc, actor, action, button_number(body))
            if isinstance(result, Form):
                # Remember the prompt, so it can say what was answered once the form is saved.
                form = dataclasses.replace(result, metadata={**result.metadata, "message": message_ref(body)})
                await self.client.views_open(trigger_id=body["trigger_id"], view=await self.adapter._form_view(form))
            else:
                await self._replace(message_ref(body), result)
        await self.adapter._safely(run())

    async def on_manager_action(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team"]["id"], body["user"]["id"])
            result = await training.manager_action(self.svc, actor, body["actions"][0]["action_id"], button_number(body))
            if isinstance(result, Form):
                await self.client.views_open(trigger_id=body["trigger_id"], view=await self.adapter._form_view(result))
                return
            ref = message_ref(body)
            if ref:
                # The list stays as it is for the manager's other people; the outcome is said beside it.
                await self.client.chat_postEphemeral(channel=ref["channel"], user=body["user"]["id"],
                                                     **message_payload(result))
        await self.adapter._safely(run())

    async def on_form(self, ack, body, view) -> None:
        metadata = form_metadata(view)
        saved = await self.adapter.answer_form(
            ack, body, view, lambda actor: training.submit(self.svc, actor, view["callback_id"], metadata,
                                                            form_values(view)),
            "could not save a training form")
        if saved and metadata.get("message") and metadata.get("assignment"):
            await self.adapter._safely(self._show_answer(metadata["message"], saved[0].lang, int(metadata["assignment"])))

    async def _show_answer(self, ref: dict, lang: str, assignment_id: int) -> None:
        state = await training.state_message(self.svc, lang, assignment_id)
        if state is not None:
            await self._replace(ref, state)

    async def _replace(self, ref: dict | None, message: Message) -> None:
        """The answered prompt loses its buttons and says what was answered."""
        if not ref:
            return
        try:
            await self.client.chat_update(channel=ref["channel"], ts=ref["ts"], **message_payload(message))
        except SlackApiError as exc:
            log.info("could not update the training prompt: %s", exc.response.get("error"))


def register_training(adapter) -> SlackTraining:
    handler = SlackTraining(adapter)
    handler.register(adapter.app)
    return handler
