"""Slack listeners for Ledningens genomgång: /genomgang, Publicera, Nytt utkast, Registrera beslut."""

from __future__ import annotations

import logging

from bot.slack.blocks import form_metadata, form_values, screen_view
from handlers import review
from storage.models import Review

log = logging.getLogger(__name__)

COMMAND = "/genomgang"


class SlackReview:
    def __init__(self, adapter) -> None:
        self.adapter, self.svc, self.client = adapter, adapter.svc, adapter.client

    def register(self, app) -> None:
        app.command(COMMAND)(self.on_command)
        app.action(review.REGENERATE)(self.on_regenerate)
        app.action(review.PUBLISH)(self.on_publish)
        app.action(review.DECIDE)(self.on_decide)
        app.view_submission(review.DECISION_FORM)(self.on_decision)

    async def on_command(self, ack, body) -> None:
        await ack()
        text = (body.get("text") or "").strip()
        year = int(text) if text.isdigit() and len(text) == 4 else None
        await self.adapter._safely(self._draft(body["team_id"], body["user_id"], body["channel_id"], year))

    async def on_regenerate(self, ack, body) -> None:
        await ack()
        value = body["actions"][0].get("value", "")
        channel = (body.get("container") or {}).get("channel_id") or body["user"]["id"]
        await self.adapter._safely(self._draft(body["team"]["id"], body["user"]["id"], channel,
                                               int(value) if value.isdigit() else None))

    async def _draft(self, team_id: str, user_id: str, channel: str, year: int | None) -> None:
        actor = await self.adapter.actor(team_id, user_id)
        t = self.svc.texts.t
        if not await review.may_compile(self.svc, actor):
            await self._say(channel, user_id, t(actor.lang, "review.draft.denied"))
            return
        year = year or self.svc.clock.now().astimezone(self.svc.org_tz).year
        done = await review.published(self.svc, actor.org_id, year)
        if done is not None:
            await self._say(channel, user_id, t(actor.lang, "review.publish.already", year=year,
                                                at=done.published_at.astimezone(self.svc.org_tz).date().isoformat()))
            return
        await self._say(channel, user_id, t(actor.lang, "review.draft.working", year=year))
        draft = await review.compile_draft(self.svc, actor.org_id, year, created_by=actor.person_id)
        await review.tell_coordinator(self.svc, actor, draft)

    async def on_publish(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team"]["id"], body["user"]["id"])
            channel = (body.get("container") or {}).get("channel_id") or body["user"]["id"]
            t = self.svc.texts.t
            if not await review.may_compile(self.svc, actor):
                await self._say(channel, body["user"]["id"], t(actor.lang, "review.draft.denied"))
                return
            outcome = await review.publish(self.svc, actor, int(body["actions"][0].get("value") or 0))
            await self._say(channel, body["user"]["id"], t(actor.lang, outcome.key, year=outcome.year, at=outcome.at))
        await self.adapter._safely(run())

    async def on_decide(self, ack, body) -> None:
        await ack()

        async def run() -> None:
            actor = await self.adapter.actor(body["team"]["id"], body["user"]["id"])
            review_id = int(body["actions"][0].get("value") or 0)
            if not await review.may_decide(self.svc, actor):
                screen = review._screen(self.svc, actor.lang,
                                        self.svc.texts.t(actor.lang, "review.decision_form.denied"))
                await self.client.views_open(trigger_id=body["trigger_id"], view=screen_view(screen))
                return
            year = await self._year_of(review_id)
            form = review.decision_form(self.svc, actor, review_id, year)
            await self.client.views_open(trigger_id=body["trigger_id"], view=await self.adapter._form_view(form))
        await self.adapter._safely(run())

    async def _year_of(self, review_id: int) -> int:
        async with self.svc.db.transaction() as session:
            found = await session.get(Review, review_id)
        return found.year if found else self.svc.clock.now().year

    async def on_decision(self, ack, body, view) -> None:
        await self.adapter.answer_form(
            ack, body, view, lambda actor: review.record_decision(self.svc, actor, form_metadata(view), form_values(view),
                                                                  submission_key=f"slack:view:{view['id']}"),
            "could not record a decision")

    async def _say(self, channel: str, user: str, text: str) -> None:
        """A short word to the one who asked, where they asked."""
        await self.client.chat_postEphemeral(channel=channel, user=user, text=text)


def register_review(adapter) -> SlackReview:
    handler = SlackReview(adapter)
    handler.register(adapter.app)
    return handler
