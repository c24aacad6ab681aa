"""Slack listeners for information classification: /klassning, the owners' review buttons, the register's
edit and new-asset forms, starting a round. Forms are validated and stored inside the ack; a review answered
from the owner's message updates that message in place afterwards."""

from __future__ import annotations

import dataclasses
import logging

from slack_sdk.errors import SlackApiError

from bot.slack.payloads import button_value, message_ref
from bot.model import Form
from bot.slack.blocks import form_metadata, form_values, message_payload, screen_view
from handlers import assets, classification

log = logging.getLogger(__name__)

COMMAND = "/klassning"
FORMS = (assets.REVIEW_FORM, assets.EDIT_FORM, assets.START_FORM)


class SlackClassification:
    def __init__(self, adapter) -> None:
        self.adapter, self.svc, self.client = adapter, adapter.svc, adapter.client

    def register(self, app) -> None:
        app.command(COMMAND)(self.on_command)
        app.action(assets.REVIEW_ACTION)(self.on_review)
        app.action(assets.EDIT_ACTION)(self.on_edit)
        app.action(assets.NEW_ASSET_ACTION)(self.on_edit)
        app.action(assets.START_ACTION)(self.on_start)
        app.action(assets.OPEN_ACTION)(self.on_open)
        for form_id in FORMS:
            app.view_submission(form_id)(self.on_form)

    async def on_command(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team_id"], body["user_id"])
            text = (body.get("text") or "").strip()
            if text.casefold() == "start":
                result = await classification.open_start(self.svc, actor)
            else:
                result = await classification.overview(self.svc, actor, text)
            view = await self.adapter._form_view(result) if isinstance(result, Form) else screen_view(result)
            await self.client.views_open(trigger_id=body["trigger_id"], view=view)
        await self.adapter._safely(run())

    async def on_open(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team"]["id"], body["user"]["id"])
            await self._show(body, await classification.overview(self.svc, actor))
        await self.adapter._safely(run())

    async def on_review(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team"]["id"], body["user"]["id"])
            asset_id, round_id = classification.button_target(button_value(body))
            result = await classification.open_review(self.svc, actor, asset_id, round_id)
            ref = message_ref(body)
            if isinstance(result, Form) and ref:
                # Remember the owner's message, so it can show the review once the form is saved.
                result = dataclasses.replace(result, metadata={**result.metadata, "message": ref})
            await self._show(body, result)
        await self.adapter._safely(run())

    async def on_edit(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team"]["id"], body["user"]["id"])
            asset_id, _ = classification.button_target(button_value(body))
            await self._show(body, await assets.open_edit(self.svc, actor, asset_id))
        await self.adapter._safely(run())

    async def on_start(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team"]["id"], body["user"]["id"])
            await self._show(body, await classification.open_start(self.svc, actor))
        await self.adapter._safely(run())

    async def _show(self, body, result) -> None:
        """Inside a modal a form is pushed on top and a screen replaces it; from a message or the App Home tab,
        either opens a new modal."""
        view = body.get("view") or {}
        in_modal = (body.get("container") or {}).get("type") == "view" and view.get("type") == "modal"
        if isinstance(result, Form):
            payload = await self.adapter._form_view(result)
            if in_modal:
                await self.client.views_push(trigger_id=body["trigger_id"], view=payload)
                return
        else:
            payload = screen_view(result)
            if in_modal:
                await self.client.views_update(view_id=view["id"], view=payload)
                return
        await self.client.views_open(trigger_id=body["trigger_id"], view=payload)

    async def on_form(self, ack, body, view) -> None:
        metadata = form_metadata(view)

        async def save(actor):
            values = await self.adapter._people_in(actor, view, form_values(view))
            key = f"slack:view:{view['id']}"
            callback = view["callback_id"]
            if callback == assets.REVIEW_FORM:
                return await classification.submit_review(self.svc, actor, metadata, values, submission_key=key)
            if callback == assets.EDIT_FORM:
                return await assets.submit_edit(self.svc, actor, metadata, values, submission_key=key)
            return await classification.submit_start(self.svc, actor, values, submission_key=key)
        saved = await self.adapter.answer_form(ack, body, view, save, "could not save a classification form")
        if saved and view["callback_id"] == assets.REVIEW_FORM and metadata.get("message") and metadata.get("round"):
            actor = saved[0]
            await self.adapter._safely(self._refresh(metadata["message"], actor.lang, int(metadata["round"]),
                                                     actor.person_id))

    async def _refresh(self, ref: dict, lang: str, round_id: int, owner_id: int) -> None:
        """The owner's message shows what is reviewed and what is left."""
        message = await classification.owner_message_now(self.svc, lang, round_id, owner_id)
        if message is None:
            return
        try:
            await self.client.chat_update(channel=ref["channel"], ts=ref["ts"], **message_payload(message))
        except SlackApiError as exc:
            log.info("could not update the classification message: %s", exc.response.get("error"))


def register_classification(adapter) -> SlackClassification:
    """Called at the end of SlackAdapter._register."""
    handler = SlackClassification(adapter)
    handler.register(adapter.app)
    return handler
