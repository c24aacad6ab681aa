"""Ledningens genomgång: compile the draft, publish it to leadership, record leadership's decisions.

A draft is compiled from `review_data.gather` (the inputs), rendered by the editable template in
templates/review/ into Markdown and from that into PDF and Word. Publishing freezes it: the row, its
inputs and its documents are never changed again; decisions are stored beside it and become activities
in next year's plan."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from bot.documents import Chart, markdown_to_docx, markdown_to_pdf, render_chart
from bot.documents.markdown import link_charts
from bot.model import Actor, Button, Buttons, DateField, Divider, Form, FormErrors, Header, Message, Note, Screen, Text, TextField
from handlers import notify
from handlers.access import ADMIN, CEO, COORDINATOR, roles_of
from handlers.coverage import add_months
from handlers.incidents import KINDS
from handlers.review_data import gather
from handlers.services import Services
from storage.models import Person, PlanActivity, ProcessedEvent, Review, ReviewDecision
from storage.outbox import enqueue
from storage.upsert import insert_ignore

PUBLISH, REGENERATE, DECIDE = "review_publish", "review_regenerate", "review_decide"
DECISION_FORM = "review_decision_form"
LIGHT_AREAS = ("incidents", "training", "classification", "internal_control", "gdpr")
# Inputs the review names as missing when they are, in the order the document has them.
INPUTS = ("internal_control", "rsa", "gdpr", "training", "classification")
PLAN_DUE_MONTHS = 3  # a missing three-year plan is asked for within this many months of the review


@dataclass(frozen=True)
class Documents:
    markdown: str
    pdf: bytes
    docx: bytes
    charts: dict[str, bytes]


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{round(100 * share)} %"


def missing_inputs(inputs: dict) -> list[str]:
    """The inputs the review has nothing on (keys of review.missing.*)."""
    facts = inputs.get("facts") or {}
    return [area for area in INPUTS
            if (not facts.get("rsa") if area == "rsa" else inputs["lights"].get(area) == "grey")]


def plan_due(inputs: dict) -> str:
    """When a missing three-year plan is to be put before leadership."""
    today = date.fromisoformat(inputs.get("today") or inputs["compiled_at"][:10])
    return add_months(today, PLAN_DUE_MONTHS).isoformat()


def requested_decisions(svc: Services, lang: str, inputs: dict) -> list[str]:
    """What leadership is asked to decide, from where the areas stand."""
    t = lambda key, **kw: svc.texts.t(lang, f"review.decision.{key}", **kw)  # noqa: E731
    year, lights = inputs["year"], inputs["lights"]
    why = inputs.get("why") or {}
    if (inputs.get("facts") or {}).get("plan"):
        asks = [t("adopt_plan", first=year + 1, last=year + 3)]
    else:  # nothing to adopt: ask for the plan to be drawn up, as section 2.1 says
        asks = [t("draw_up_plan", first=year + 1, last=year + 3, due=plan_due(inputs))]
    timeliness = inputs["incidents"]["timeliness"]
    if why.get("incidents") == "none_reported":
        asks.append(t("incidents_none", year=year))
    elif lights["incidents"] in ("red", "yellow"):
        asks.append(t("incidents", late=timeliness["late"] + timeliness["overdue_open"] + timeliness["closed_undecided"]))
    if lights["training"] in ("red", "yellow"):
        asks.append(t("training", share=_pct(inputs["training"]["overall"]["share"])))
    if lights["classification"] in ("red", "yellow"):
        asks.append(t("classification", share=_pct((inputs.get("classification") or {}).get("valid_share"))))
    if lights["internal_control"] in ("red", "yellow"):
        asks.append(t("internal_control"))
    if lights["gdpr"] in ("red", "yellow"):
        asks.append(t("gdpr"))
    missing = [svc.texts.t(lang, f"review.missing.{area}") for area in missing_inputs(inputs)]
    if missing:
        asks.append(t("missing", what=", ".join(missing)))
    return asks


def charts(svc: Services, lang: str, inputs: dict) -> list[Chart]:
    t = lambda key: svc.texts.t(lang, f"review.chart.{key}")  # noqa: E731
    out = [Chart(key="incidents_per_month", title=t("incidents_per_month"), categories=t("months").split(","),
                 series={svc.texts.t(lang, f"incident.kind.{k}"): inputs["incidents"]["by_month"][k] for k in KINDS},
                 stacked=True, y_label=t("count"))]
    departments = _weakest(inputs["training"]["departments"])
    if departments:
        out.append(Chart(key="training_per_department", title=t("training_per_department"),
                         categories=[name or "–" for name in departments],
                         series={t("share"): [100 * (d["share"] or 0) for d in departments.values()]},
                         percent=True, horizontal=True))
    coverage = _weakest((inputs.get("classification") or {}).get("by_department") or {}, key="valid_share")
    if coverage:
        out.append(Chart(key="classification_coverage", title=t("classification_coverage"),
                         categories=[name or "–" for name in coverage],
                         series={t("share"): [100 * (d.get("valid_share") or 0) for d in coverage.values()]},
                         percent=True, horizontal=True))
    return out


CHART_BARS = 25  # a bar per department stays readable up to about this many; the table lists them all


def _weakest(departments: dict, key: str = "share") -> dict:
    """The departments with the lowest shares, in their original order, when there are too many to draw."""
    if len(departments) <= CHART_BARS:
        return departments
    weakest = set(sorted(departments, key=lambda name: departments[name].get(key) or 0)[:CHART_BARS])
    return {name: d for name, d in departments.items() if name in weakest}


def count(n: int, one: str, many: str) -> str:
    """"1 incident", "3 incidenter": the number and the word in the form that agrees with it."""
    return f"{n} {one if n == 1 else many}"


def ceo(svc: Services, lang: str) -> str:
    """Who the review is for: LISBOT_REVIEW_RECIPIENT, or the template's neutral wording."""
    return getattr(svc.settings, "review_recipient", None) or svc.texts.t(lang, "review.ceo")


def render_markdown(svc: Services, lang: str, inputs: dict) -> str:
    """The review as Markdown; images link `chart:<key>`, which the PDF and Word writers resolve."""
    t = lambda key, **kw: svc.texts.t(lang, key, **kw)  # noqa: E731
    compiled = inputs.get("today") or inputs["compiled_at"][:10]
    return svc.texts.render(
        f"review/{lang}.md.j2", **{**inputs, "why": inputs.get("why") or {}}, compiled=compiled, kinds=KINDS, t=t,
        pct=_pct, count=count,
        light=lambda color: t(f"review.light.{color}"), kind=lambda code: t(f"incident.kind.{code}"),
        chart=lambda key: f"chart:{key}", requested_decisions=requested_decisions(svc, lang, inputs),
        missing=missing_inputs(inputs), plan_due=plan_due(inputs), ceo=ceo(svc, lang),
        rsa_cycle_years=_cycle_years((inputs.get("facts") or {}).get("rsa")),
        classification_text=classification_text(svc, lang, inputs.get("classification")))


def _cycle_years(rsa: dict | None) -> int | None:
    """2 for an RSA cycle written "2022–2023"; None when the cycle does not say."""
    found = re.fullmatch(r"\s*(\d{4})\s*[-–/]\s*(\d{4})\s*", (rsa or {}).get("cycle") or "")
    return int(found.group(2)) - int(found.group(1)) + 1 if found and found.group(2) > found.group(1) else None


def chart_file(name: str, key: str) -> str:
    """The file a chart is written to beside the Markdown document `name`.md."""
    return f"{name}-{key}.png"


def classification_text(svc: Services, lang: str, coverage: dict | None) -> str:
    if not coverage:
        return ""
    return svc.texts.render(f"review/{lang}-classification.md.j2", c=coverage, pct=_pct,
                            t=lambda key, **kw: svc.texts.t(lang, key, **kw))


def documents(svc: Services, lang: str, inputs: dict) -> Documents:
    """Markdown from the template, then charts, PDF and Word. CPU-bound: callers run it in a thread."""
    markdown = render_markdown(svc, lang, inputs)
    images = {chart.key: render_chart(chart) for chart in charts(svc, lang, inputs)}
    title = svc.texts.t(lang, "review.title", year=inputs["year"])
    if inputs.get("organisation"):
        title = f"{title} – {inputs['organisation']}"
    footer = svc.texts.t(lang, "review.footer", year=inputs["year"], organisation=inputs.get("organisation"))
    language = "sv-SE" if lang == "sv" else "en-GB"
    return Documents(markdown, markdown_to_pdf(markdown, title=title, charts=images, footer=footer, language=language),
                     markdown_to_docx(markdown, title=title, charts=images, footer=footer, language=language), images)


def standalone_markdown(docs: Documents, name: str) -> str:
    """The Markdown document `name`.md to write beside its charts: the images link the chart files."""
    return link_charts(docs.markdown, {key: chart_file(name, key) for key in docs.charts})


# ---- drafts and publishing ------------------------------------------------------------------


async def may_compile(svc: Services, actor: Actor) -> bool:
    async with svc.db.transaction() as session:
        return bool({COORDINATOR, ADMIN} & await roles_of(session, actor.person_id))


async def published(svc: Services, org_id: int, year: int) -> Review | None:
    async with svc.db.transaction() as session:
        return (await session.execute(select(Review).where(
            Review.org_id == org_id, Review.year == year, Review.status == "published"))).scalar_one_or_none()


async def compile_draft(svc: Services, org_id: int, year: int, *, created_by: int | None) -> Review:
    """Gather, render and store this year's draft (replacing an earlier draft of the same year)."""
    inputs = await gather(svc, org_id, year)
    lang = svc.org_lang
    docs = await asyncio.to_thread(documents, svc, lang, inputs)
    async with svc.db.transaction() as session:
        draft = (await session.execute(select(Review).where(
            Review.org_id == org_id, Review.year == year, Review.status == "draft"))).scalar_one_or_none()
        if draft is None:
            draft = Review(org_id=org_id, year=year, status="draft")
            session.add(draft)
        draft.inputs, draft.markdown, draft.pdf, draft.docx = inputs, docs.markdown, docs.pdf, docs.docx
        draft.created_at, draft.created_by = svc.clock.now(), created_by
        await session.flush()
        return draft


def draft_message(svc: Services, lang: str, review: Review) -> Message:
    t = svc.texts.t
    blocks = [Text(t(lang, "review.draft.text", year=review.year)), *_area_blocks(svc, lang, review.inputs),
              *_how_to(svc, lang, review.inputs),
              Buttons((Button(PUBLISH, t(lang, "review.draft.publish"), str(review.id), "primary"),
                       Button(REGENERATE, t(lang, "review.draft.regenerate"), str(review.year))))]
    return Message(t(lang, "review.draft.summary", year=review.year), tuple(blocks))


def _how_to(svc: Services, lang: str, inputs: dict) -> list:
    """For the coordinator only: how to bring in what the document says is missing (the CEO's document says
    what is missing, never which command to run)."""
    current = inputs["year"] >= date.fromisoformat(inputs.get("today") or inputs["compiled_at"][:10]).year
    steps = [svc.texts.t(lang, f"review.howto.{area}") for area in missing_inputs(inputs)
             if current or area != "training"]  # a past year's campaign cannot be run any more
    if not (inputs.get("facts") or {}).get("plan"):
        steps.append(svc.texts.t(lang, "review.howto.plan"))
    if not steps:
        return []
    return [Text("\n".join([svc.texts.t(lang, "review.howto.intro"), *(f"• {step}" for step in steps)]))]


def _area_blocks(svc: Services, lang: str, inputs: dict) -> list:
    t = svc.texts.t
    lines = [t(lang, "review.post.area", light=t(lang, f"review.light.{inputs['lights'][a]}"),
               area=t(lang, f"review.area.{a}")) for a in LIGHT_AREAS]
    if "rsa" in missing_inputs(inputs):
        lines.append(t(lang, "review.post.area", light=t(lang, "review.light.grey"), area=t(lang, "review.area.rsa")))
    incidents, training = inputs["incidents"], inputs["training"]
    figures = t(lang, "review.post.figures", incidents=incidents["total"], personal=incidents["personal_data"],
                on_time=incidents["timeliness"]["on_time"], training=_pct(training["overall"]["share"]),
                classification=_pct((inputs.get("classification") or {}).get("valid_share")))
    return [Text(figures), Text("\n".join(lines))]


def leadership_post(svc: Services, lang: str, review: Review) -> Message:
    """The CEO reads this in the channel; the full document hangs under it."""
    t = svc.texts.t
    decisions = requested_decisions(svc, lang, review.inputs)
    blocks: list = [Header(t(lang, "review.post.header", year=review.year)), Text(t(lang, "review.post.intro")),
                    *_area_blocks(svc, lang, review.inputs), Divider(), Text(t(lang, "review.post.decisions")),
                    Text("\n".join(f"{n}. {d}" for n, d in enumerate(decisions, 1))),
                    Buttons((Button(DECIDE, t(lang, "review.post.decision_button"), str(review.id), "primary"),))]
    return Message(t(lang, "review.post.summary", year=review.year), tuple(blocks))


@dataclass(frozen=True)
class Outcome:
    """What became of a publish request, said to the coordinator with `key`'s text."""

    key: str
    year: int | None = None
    at: str = ""


async def publish(svc: Services, actor: Actor, review_id: int) -> Outcome:
    """Freeze the draft and queue the post and its documents for the leadership channel."""
    channel = svc.settings.leadership_channel
    if not channel:
        return Outcome("review.publish.no_channel")
    now = svc.clock.now()
    async with svc.db.transaction() as session:
        review = await session.get(Review, review_id)
        if review is None or review.org_id != actor.org_id:
            return Outcome("review.publish.not_found")
        done = (await session.execute(select(Review).where(
            Review.org_id == review.org_id, Review.year == review.year, Review.status == "published"))).scalar()
        if done is not None:
            return Outcome("review.publish.already", done.year,
                           done.published_at.astimezone(svc.org_tz).date().isoformat())
        review.status, review.published_at, review.published_by = "published", now, actor.person_id
        lang = svc.org_lang
        post_key = f"review:{review.id}:post"
        await enqueue(session, org_id=review.org_id, dedupe_key=post_key, recipient_kind="channel", recipient=channel,
                      payload={"message": leadership_post(svc, lang, review).to_dict()}, now=now)
        filename = svc.texts.t(lang, "review.filename", year=review.year)
        await enqueue(session, org_id=review.org_id, dedupe_key=f"review:{review.id}:files", recipient_kind="channel",
                      recipient=channel, now=now, payload={
                          "files": [{"review_id": review.id, "format": "pdf", "filename": f"{filename}.pdf"},
                                    {"review_id": review.id, "format": "docx", "filename": f"{filename}.docx"}],
                          "comment": svc.texts.t(lang, "review.post.files", year=review.year),
                          "thread_of": post_key})
        year = review.year
    svc.wake_delivery()
    return Outcome("review.publish.done", year)


# ---- leadership's decisions -------------------------------------------------------------------


async def may_decide(svc: Services, actor: Actor) -> bool:
    async with svc.db.transaction() as session:
        return bool({CEO, COORDINATOR, ADMIN} & await roles_of(session, actor.person_id))


def decision_form(svc: Services, actor: Actor, review_id: int, year: int) -> Form:
    t = lambda key, **kw: svc.texts.t(actor.lang, f"review.decision_form.{key}", **kw)  # noqa: E731
    return Form(id=DECISION_FORM, title=t("title"), submit=t("submit"), close=svc.texts.t(actor.lang, "common.close"),
                intro=t("intro", year=year + 1), metadata={"review": review_id}, fields=(
                    TextField("decision", t("decision"), multiline=True, max_length=1000),
                    TextField("owner", t("owner"), optional=True, max_length=200, hint=t("owner_hint")),
                    DateField("due", t("due"), optional=True)))


async def record_decision(svc: Services, actor: Actor, metadata: dict[str, Any], values: dict[str, Any], *,
                          submission_key: str) -> FormErrors | Screen:
    lang = actor.lang
    t = lambda key, **kw: svc.texts.t(lang, f"review.decision_form.{key}", **kw)  # noqa: E731
    text = (values.get("decision") or "").strip()
    due: date | None = values.get("due")
    errors = {}
    if not text:
        errors["decision"] = t("error_required")
    if due and due < svc.clock.now().astimezone(svc.org_tz).date():
        errors["due"] = t("error_due_past")
    if errors:
        return FormErrors(errors)
    if not await may_decide(svc, actor):
        return _screen(svc, lang, t("denied"))
    now = svc.clock.now()
    async with svc.db.transaction() as session:
        review = await session.get(Review, int(metadata.get("review", 0)))
        if review is None or review.org_id != actor.org_id or review.status != "published":
            return _screen(svc, lang, svc.texts.t(lang, "review.publish.not_found"))
        if await insert_ignore(session, ProcessedEvent, {"event_id": submission_key[:64], "received_at": now},
                               ["event_id"]):
            decision = ReviewDecision(review_id=review.id, org_id=review.org_id, decision=text,
                                      owner=(values.get("owner") or "").strip() or None, due=due,
                                      recorded_by=actor.person_id, recorded_at=now, source_key=submission_key)
            session.add(decision)
            await session.flush()
            session.add(PlanActivity(org_id=review.org_id, year=review.year + 1, title=text, owner=decision.owner,
                                     priority=1, status="planned", origin="review_decision", decision_id=decision.id,
                                     updated_at=now))
        year = review.year + 1
    return _screen(svc, lang, t("saved", year=year))


def _screen(svc: Services, lang: str, text: str) -> Screen:
    return Screen(title=svc.texts.t(lang, "review.decision_form.title"), close=svc.texts.t(lang, "common.close"),
                  blocks=(Text(text),))


async def tell_coordinator(svc: Services, actor: Actor, review: Review) -> None:
    """The draft goes to the coordinator who asked: the message through the outbox, the files with it."""
    async with svc.db.transaction() as session:
        person = await session.get(Person, actor.person_id)
        key = f"review:{review.id}:draft:{review.created_at.isoformat()}"
        await notify.to_person(session, svc, person, key, lambda lang, tz: draft_message(svc, lang, review))
        filename = svc.texts.t(actor.lang, "review.draft_filename", year=review.year)
        await enqueue(session, org_id=review.org_id, dedupe_key=f"{key}:files", recipient_kind="person",
                      recipient=str(actor.person_id), now=svc.clock.now(), payload={
                          "files": [{"review_id": review.id, "format": "pdf", "filename": f"{filename}.pdf"},
                                    {"review_id": review.id, "format": "docx", "filename": f"{filename}.docx"}],
                          "comment": svc.texts.t(actor.lang, "review.draft.attached", year=review.year),
                          "thread_of": key})
    svc.wake_delivery()
