"""What a new user's trial of the management review found (issue 6), through the real compile path: the
inputs gathered from a real database, the template, the documents.

Traffic lights that do not mislead, decisions consistent with the document, singular and plural by count,
no operator commands in the CEO's document, neutral wording, and Markdown whose images are real files."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from bot.clock import FrozenClock
from bot.config import load_settings
from bot.i18n import Texts
from bot.model import Text
from handlers import facts, review, review_data
from handlers.services import Services
from storage.models import Person, Review, TrainingAssignment, TrainingCampaign
from tests.test_review_data import NOW, ORG, Rows, local, svc  # noqa: F401  (svc is a fixture)

FACTS = """\
year: 2026
dpo_findings:
  - area: styrdokument
    grade: 2
    findings: Brister i det systematiska dataskyddsarbetet.
  - area: registerforteckning
    grade: 3
  - area: personuppgiftsincidenter
    grade: 2
plan:
  - year: 2027
    title: Revidera den lokala anvisningen
    priority: 1
    status: planned
    origin: coordinator
"""
COMMANDS = re.compile(r"/fakta|/utbildning|/genomgang|lisbot (facts|import|training|review)")


def summary_row(markdown: str, area: str) -> str:
    return next(line for line in markdown.splitlines() if line.startswith(f"| {area} |"))


def decisions(markdown: str) -> list[str]:
    part = markdown.split("### 2.2", 1)[1].split("---", 1)[0]
    return re.findall(r"^\d+\. (.+)$", part, re.MULTILINE)


async def compiled(svc, lang: str = "sv") -> tuple[dict, str]:  # noqa: F811
    inputs = await review_data.gather(svc, ORG, 2026)
    return inputs, review.render_markdown(svc, lang, inputs)


async def test_open_unassessed_cases_are_in_progress_not_green(db, svc):  # noqa: F811
    """The trial: 3 new cases, none assessed, one a personal-data breach whose 72 hours are still running."""
    rows = Rows()
    rows.incident(NOW - timedelta(days=20), "work_env", status="new")
    rows.incident(NOW - timedelta(days=2), "infosec", status="new")
    rows.incident(NOW - timedelta(hours=2), "personal_data", status="new", personal_data="yes")
    await rows.store(db)
    inputs, sv = await compiled(svc)
    en = review.render_markdown(svc, "en", inputs)

    assert inputs["lights"]["incidents"] == "pending"
    row = summary_row(sv, "Incidenthantering")
    assert "🔵 Pågår" in row and "🟢" not in row
    assert "3 incidenter, varav 3 ännu inte bedömda; 1 personuppgiftsincident: fristen löper ännu för 1" in row
    assert "Under året rapporterades 1 personuppgiftsincident." in sv
    for wrong in ("0 av 1", "1 personuppgiftsincidenter", "Av 1 personuppgiftsincidenter"):
        assert wrong not in sv
    assert "1 personal data breach: 1 still within the deadline" in summary_row(en, "Incident management")
    assert "1 personal data breach was reported during the year" in en and "1 personal data breaches" not in en
    # Nothing to decide on yet: no incident decision is asked for.
    assert not any("incident" in d for d in decisions(sv))


async def test_a_year_without_reports_is_not_green_and_the_document_says_why(db, svc):  # noqa: F811
    await Rows().store(db)
    inputs, sv = await compiled(svc)

    assert inputs["lights"]["incidents"] == "yellow" and inputs["why"]["incidents"] == "none_reported"
    assert "🟡 Behöver uppmärksamhet | Inga incidenter rapporterade" in summary_row(sv, "Incidenthantering")
    assert "ett helt år utan rapporter tyder på att incidentrutinen inte är känd eller inte används" in sv
    assert any("incidentrutinen" in d and "inga incidenter rapporterades under 2026" in d for d in decisions(sv))
    # The legend explains each light without repeating its own label.
    legend = next(line for line in sv.splitlines() if line.startswith("Förklaring:"))
    assert "Underlag saknas – underlag saknas" not in legend and "🔵 Pågår –" in legend


async def test_a_running_campaign_is_judged_after_its_deadline(db, svc):  # noqa: F811
    rows = Rows()
    rows.add(TrainingCampaign, id=1, org_id=ORG, year=2026, courses=["Grund"], joiner_days=30,
             deadline=date(2027, 1, 31), remind_every_days=7, max_reminders=3, status="active", started_at=NOW)
    for pid in range(2, 12):
        rows.add(TrainingAssignment, campaign_id=1, person_id=pid, department_id=None, deadline=date(2027, 1, 31),
                 status="pending", reminders_sent=0, exemption_rejected=False, updated_at=NOW)
        rows.add(Person, **rows.person(pid))
    await rows.store(db)
    inputs, sv = await compiled(svc)

    assert inputs["lights"]["training"] == "pending"
    row = summary_row(sv, "Utbildning")
    assert "🔵 Pågår | Kampanjen pågår till 2027-01-31; hittills har 0 % genomfört utbildningen" in row
    assert "🔴" not in row and not any("utbildning" in d for d in decisions(sv))

    after = Services(db=svc.db, texts=svc.texts, clock=FrozenClock(NOW.replace(year=2027, month=2)),
                     settings=svc.settings)
    inputs = await review_data.gather(after, ORG, 2026)
    assert inputs["lights"]["training"] == "red"
    assert any("utbildning" in d for d in decisions(review.render_markdown(after, "sv", inputs)))


async def test_data_protection_names_the_worst_areas_and_their_grade(db, svc):  # noqa: F811
    await Rows().store(db)
    result = await facts.import_facts(svc, ORG, FACTS.encode())
    assert result.stored, result.problems
    inputs, sv = await compiled(svc)

    assert inputs["lights"]["gdpr"] == "red"
    row = summary_row(sv, "Dataskydd (GDPR)")
    assert ("Omfattande brister som kräver omgående åtgärder: styrdokument, personuppgiftsincidenter "
            "(3 av 6 områden bedömda)") in row
    assert "registerförteckning" not in row  # graded 3: not among the worst
    en = summary_row(review.render_markdown(svc, "en", inputs), "Data protection (GDPR)")
    assert "policies and guidelines, personal-data breaches (3 of 6 areas assessed)" in en


async def test_without_a_plan_leadership_is_asked_for_one_and_missing_inputs_include_the_rsa(db, svc):  # noqa: F811
    await Rows().store(db)
    inputs, sv = await compiled(svc)

    first = decisions(sv)[0]
    assert "ta fram en plan för informationssäkerhetsarbetet 2027–2029" in first and "senast 2027-03-10" in first
    assert "Fastställa planen" not in sv
    assert "Någon plan för 2027–2029 finns inte registrerad" in sv and "senast 2027-03-10 (se 2.2)" in sv
    assert "⚪ Underlag saknas" in summary_row(sv, "Risk- och sårbarhetsanalys")
    assert "risk- och sårbarhetsanalys (RSA)" in decisions(sv)[-1] and "underlag som saknas" in decisions(sv)[-1]
    assert "risk- och sårbarhetsanalys (RSA)" in next(line for line in sv.splitlines()
                                                      if line.startswith("**Underlag som saknas:**"))

    # With a plan and an RSA: the plan is adopted, and the RSA is no longer missing.
    result = await facts.import_facts(svc, ORG, (FACTS + "rsa:\n  cycle: 2025–2026\n").encode())
    assert result.stored, result.problems
    inputs, sv = await compiled(svc)
    assert decisions(sv)[0].startswith("Fastställa planen för informationssäkerhetsarbetet 2027–2029")
    assert "| Risk- och sårbarhetsanalys |" not in sv and "(RSA)" not in decisions(sv)[-1]
    assert "bedrivs i en tvåårscykel (aktuell cykel: 2025–2026)" in sv


async def test_the_ceo_document_says_what_is_missing_not_how_and_the_draft_says_how(db, svc):  # noqa: F811
    await Rows().store(db)
    inputs, sv = await compiled(svc)
    en = review.render_markdown(svc, "en", inputs)
    for markdown in (sv, en):
        assert not COMMANDS.search(markdown), COMMANDS.search(markdown)
        assert "`" not in markdown
    assert "Ingen utbildningskampanj för 2026 finns registrerad" in sv
    for city in ("stadens", "Stadens", "förvaltningschef/bolagschef", "förvaltningschef eller bolagschef"):
        assert city not in sv
    assert "rapport till högsta ledningen" in sv and "report to top management" in en

    # The coordinator's draft message carries the how-to.
    draft = review.draft_message(svc, "sv", Review(id=1, year=2026, inputs=inputs))
    how = "\n".join(b.text for b in draft.blocks if isinstance(b, Text))
    assert "/utbildning start" in how and "lisbot facts import" in how and "lisbot import assets" in how


async def test_a_past_years_draft_does_not_ask_to_start_its_campaign(db, svc):  # noqa: F811
    await Rows().store(db)
    inputs = await review_data.gather(svc, ORG, 2023)
    markdown = review.render_markdown(svc, "sv", inputs)
    assert "Ingen utbildningskampanj för 2023 finns registrerad" in markdown and "/utbildning" not in markdown
    draft = review.draft_message(svc, "sv", Review(id=1, year=2023, inputs=inputs))
    assert "/utbildning start" not in str(draft.blocks) and "lisbot facts import" in str(draft.blocks)


async def test_the_recipient_is_a_setting(db, database_url):
    settings = load_settings(env_file=None, DATABASE_URL=database_url, LISBOT_REVIEW_RECIPIENT="förvaltningschefen")
    named = Services(db=db, texts=Texts(), clock=FrozenClock(NOW), settings=settings)
    await Rows().store(db)
    markdown = review.render_markdown(named, "sv", await review_data.gather(named, ORG, 2026))
    assert "rapport till förvaltningschefen" in markdown and "Rapporten ger förvaltningschefen underlag" in markdown
    with pytest.raises(Exception, match="LISBOT_REVIEW_RECIPIENT"):
        load_settings(env_file=None, DATABASE_URL=database_url, LISBOT_REVIEW_RECIPIENT="a | b")
