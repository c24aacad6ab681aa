"""Issue #6: Ledningens genomgång compiled from what the bot gathered, drafted, published, decided on."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from docx import Document
from pypdf import PdfReader
from sqlalchemy import func, select

from handlers import facts, review
from storage.models import Incident, Person, PersonRole, PlanActivity, Review, ReviewDecision
from tests.conftest import LEADERSHIP_CHANNEL, eventually
from tests.test_incident_report import ANNA, SAM, open_report, valid_values

CEO = "U0CEO"
SEED_FACTS = Path(__file__).parent.parent / "examples" / "facts-2023.yaml"
SEED = Path(__file__).parent.parent.parent / "shared" / "seed" / "ledningens-genomgang.txt"
T2023 = datetime(2023, 12, 12, 13, 0, tzinfo=timezone.utc)  # a Tuesday, when the 2023 review is written


@pytest.fixture
async def leaders(bot, clock):
    clock.set(T2023)
    bot.fake.add_user(CEO, name="vd", real_name="Malin Bolagschef", email="vd@example.se")
    people = {u: await bot.runtime.slack.actor("T0001", u) for u in (ANNA, SAM, CEO)}
    async with bot.db.transaction() as session:
        session.add(PersonRole(person_id=people[SAM].person_id, role="informationssakerhetssamordnare"))
        session.add(PersonRole(person_id=people[CEO].person_id, role="bolagschef"))
        (await session.get(Person, people[ANNA].person_id)).name = "Anna Andersson"
    result = await facts.import_facts(bot.runtime.svc, people[SAM].org_id, SEED_FACTS.read_bytes())
    assert result.stored, result.problems
    return people


async def draft(bot, user=SAM, year="2023"):
    """/genomgang as the coordinator types it; waits until the draft and its documents reached their DM."""
    await bot.slack.command(user, command="/genomgang", text=year)

    async def delivered():
        bot.runtime.clock.advance(timedelta(seconds=6))  # the files wait for their message to be sent first
        await bot.runtime.deliverer.drain_once()
        return len(bot.fake.calls_to("files.completeUploadExternal")) >= 1
    await eventually(delivered, timeout=30, interval=0.2)
    async with bot.db.transaction() as session:
        return (await session.execute(select(Review).where(Review.status == "draft"))).scalar_one()


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def docx_text(data: bytes) -> str:
    document = Document(io.BytesIO(data))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


async def test_the_seed_review_compiled_from_facts_entered_through_the_bot(bot, leaders):
    """The seed document's facts, compiled: each of its sections is there with its substance."""
    d = await draft(bot)
    seed = SEED.read_text("utf-8") if SEED.exists() else ""
    for text in (pdf_text(d.pdf), docx_text(d.docx), d.markdown):
        for heading in ("Intern kontroll", "Risk- och sårbarhetsanalys", "Dataskyddsombudets årsrapport",
                        "Incidenter", "Utbildning", "Informationstillgångar", "Plan för de kommande tre åren",
                        "Beslut som ledningen ombeds fatta"):
            assert heading in text, heading
    md = d.markdown
    # 1.1.1/1.1.3: procurement control and its finding; 1.1.2: the two-year RSA cycle.
    assert "Informationssäkerhet i upphandling" in md and "kontrollpunkt" in md
    assert "tvåårscykel" in md
    # 1.1.4: the DPO's deficiencies, graded.
    assert "Bristande incidentrapportering" in md and "Omfattande brister" in md
    # 2.2.1–2.2.3: the plan for 2024, 2025 and 2026, as in the seed.
    for year, activity in ((2024, "AI-strategi"), (2025, "kontinuitetsplaner"), (2026, "Revidering av lokal anvisning")):
        assert f"Under {year}" in md and activity in md
        assert activity.lower() in seed.lower() or not seed
    # A first year with thin data says plainly what is missing.
    assert "Ingen utbildningskampanj för 2023" in md and "inget register över informationstillgångar" in md.lower()
    assert len(PdfReader(io.BytesIO(d.pdf)).pages) >= 3
    # The draft reached the coordinator: a message with buttons and both documents in its thread.
    uploads = list(bot.fake.uploaded_files.values())
    assert sorted(u["filename"].rsplit(".", 1)[1] for u in uploads) == ["docx", "pdf"]
    assert all(u["thread_ts"] for u in uploads)


async def test_publish_posts_summary_and_documents_and_freezes_the_review(bot, leaders, clock):
    d = await draft(bot)
    dm = next(c for c in bot.fake.calls_to("chat.postMessage") if "review_publish" in str(c.params.get("blocks")))
    await bot.slack.click(SAM, "review_publish", str(d.id),
                          container={"type": "message", "channel_id": dm.response["channel"], "message_ts": dm.response["ts"]})
    await bot.fake.wait_for("chat.postEphemeral", 2)
    for _ in range(3):
        clock.advance(timedelta(seconds=6))
        await bot.runtime.deliverer.drain_once()
    post = next(c for c in bot.fake.calls_to("chat.postMessage") if c.params["channel"] == LEADERSHIP_CHANNEL)
    blocks = post.params["blocks"]
    assert len(blocks) <= 50 and "Ledningens genomgång 2023" in str(blocks) and "review_decide" in str(blocks)
    files = [f for f in bot.fake.uploaded_files.values() if f["channel_id"] == LEADERSHIP_CHANNEL]
    assert sorted(f["filename"] for f in files) == ["ledningens-genomgang-2023.docx", "ledningens-genomgang-2023.pdf"]
    assert all(f["thread_ts"] == post.response["ts"] for f in files)
    async with bot.db.transaction() as session:
        published = (await session.execute(select(Review).where(Review.status == "published"))).scalar_one()
    frozen = (dict(published.inputs), published.markdown, published.pdf)
    # Later data change nothing in the published review.
    await bot.slack.submit(ANNA, await open_report(bot), valid_values(discovered_at=clock.now()))
    await bot.slack.click(SAM, "review_publish", str(d.id),
                          container={"type": "message", "channel_id": dm.response["channel"], "message_ts": dm.response["ts"]})
    said = await bot.fake.wait_for("chat.postEphemeral", 3)
    assert "redan publicerad" in str(said[-1].params)
    async with bot.db.transaction() as session:
        again = await session.get(Review, published.id, populate_existing=True)
        assert (again.inputs, again.markdown, again.pdf) == frozen
        assert (await session.execute(select(func.count()).select_from(Review)
                                      .where(Review.status == "published"))).scalar_one() == 1


async def test_leadership_decisions_go_into_next_years_plan_and_are_followed_up(bot, leaders, clock):
    d = await draft(bot)
    await review.publish(bot.runtime.svc, leaders[SAM], d.id)
    before = len(bot.fake.calls_to("views.open"))
    await bot.slack.click(CEO, "review_decide", str(d.id), container={"type": "message", "channel_id": LEADERSHIP_CHANNEL,
                                                                       "message_ts": "1.1"})
    form = (await bot.fake.wait_for("views.open", before + 1))[-1].response["view"]
    bad = await bot.slack.submit(CEO, form, {"decision": " "})
    assert bad.json["errors"] == {"decision": "Skriv beslutet."}
    ok = await bot.slack.submit(CEO, form, {"decision": "Alla chefer följer upp utbildningen kvartalsvis.",
                                            "owner": "HR-chef", "due": (clock.now() + timedelta(days=120)).date()})
    assert "planen för 2024" in str(ok.json["view"])
    await bot.slack.submit(CEO, form, {"decision": "Alla chefer följer upp utbildningen kvartalsvis."})  # a repeat
    async with bot.db.transaction() as session:
        [activity] = (await session.execute(select(PlanActivity).where(PlanActivity.origin == "review_decision"))).scalars().all()
        assert (activity.year, activity.owner) == (2024, "HR-chef")
        assert (await session.execute(select(func.count()).select_from(ReviewDecision))).scalar_one() == 1
    # Anna, an employee, may not record decisions.
    before = len(bot.fake.calls_to("views.open"))
    await bot.slack.click(ANNA, "review_decide", str(d.id), container={"type": "message", "channel_id": LEADERSHIP_CHANNEL,
                                                                        "message_ts": "1.1"})
    refusal = (await bot.fake.wait_for("views.open", before + 1))[-1].params["view"]
    assert "Bara ledningsgruppen" in str(refusal)
    # A year later, the decision is followed up in the next review.
    clock.set(T2023.replace(year=2024))
    nxt = await review.compile_draft(bot.runtime.svc, leaders[SAM].org_id, 2024, created_by=None)
    assert "Alla chefer följer upp utbildningen kvartalsvis." in nxt.markdown
    assert "Uppföljning av tidigare beslut" in nxt.markdown


async def test_no_personal_names_reach_the_review(bot, leaders, clock):
    incident = None
    await bot.slack.submit(ANNA, await open_report(bot), valid_values(discovered_at=clock.now()))
    async with bot.db.transaction() as session:
        incident = (await session.execute(select(Incident))).scalar_one()
        incident.status, incident.closed_at = "closed", clock.now()
        incident.lessons = "Anna Andersson påminde oss: dubbelkolla mottagaren (anna@example.se)."
    d = await draft(bot)
    for text in (d.markdown, pdf_text(d.pdf), docx_text(d.docx), str(d.inputs)):
        for name in ("Anna Andersson", "anna@example.se", "Malin Bolagschef", "Sam Samordnare"):
            assert name not in text
    assert "dubbelkolla mottagaren" in d.markdown and "[namn borttaget]" in d.markdown


async def test_only_coordinators_compile(bot, leaders):
    await bot.slack.command(ANNA, command="/genomgang")
    said = await bot.fake.wait_for("chat.postEphemeral")
    assert "Bara informationssäkerhetssamordnare" in str(said[-1].params)
    async with bot.db.transaction() as session:
        assert (await session.execute(select(func.count()).select_from(Review))).scalar_one() == 0


async def test_the_pdf_tables_break_words_only_with_a_hyphen(bot, leaders):
    """The seed's internal-control table has long compounds in narrow columns ("informationssäkerhetsrelaterade")."""
    from tests.test_documents import broken_without_hyphen

    d = await review.compile_draft(bot.runtime.svc, leaders[SAM].org_id, 2023, created_by=None)
    assert broken_without_hyphen(d.markdown) == []
    lines = pdf_text(d.pdf).splitlines()
    assert "Behörighetshantering" in lines and "Informationssäkerhet" in lines
    assert any(line.endswith("-") and line[-2].isalpha() for line in lines)  # hyphenated where needed
