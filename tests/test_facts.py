"""Issue #6, the facts no prompt collects: the YAML file (import, errors, export, round trip), the /fakta
modals for coordinators and the data-protection officer, and improvement proposals (/forbattring)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from handlers import facts
from storage import facts as store
from storage.models import (
    AuditFinding, ContextNote, ControlResult, DpoFinding, ImprovementProposal, Person, PersonRole, PlanActivity,
    RiskAnalysis,
)
from tests.conftest import SECURITY_CHANNEL, eventually
from tests.slackdriver import TEAM, state_values
from tests.test_cli import LISBOT, clean_env
from tests.test_followup import dms_to
from tests.test_incident_report import ANNA, ERIK, SAM

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "facts-2023.yaml"
DANA = "U0DANA"  # the data-protection officer
YEAR = 2026      # the tests' clock stands in November 2026
TABLES = (ControlResult, DpoFinding, RiskAnalysis, AuditFinding, PlanActivity, ContextNote)

BAD_FILE = """\
år: 2023
intern_kontroll:
  - rutin: Behörighetshantering
    resultat: bra
  - routine: incidenthantering
    result: brist
  - routine: behorighetshantring
    result: ok
dpo_findings:
  - area: registerförteckning
    grade: 5
  - area: okänt
    grade: 2
    färg: röd
rsa:
  action_plans: -1
audit_findings:
  - source: Internrevision
    finding: ""
    severity: medel
    due: 2024-13-01
plan:
  - year: 2030
    title: Något
    owner: Anna Andersson
  - year: 2024
    titel: x
    title: y
context:
  external: hej
  internal:
    - Samma sak
    - samma  sak
"""


@pytest.fixture
async def people(bot):
    """Sam is the information-security coordinator, Dana the data-protection officer; Anna and Erik work here."""
    bot.fake.add_user(DANA, name="dana", real_name="Dana Dataskydd", email="dana@example.se", locale="sv-SE")
    actors = {u: await bot.runtime.slack.actor(TEAM, u) for u in (ANNA, ERIK, SAM, DANA)}
    async with bot.db.transaction() as session:
        session.add(PersonRole(person_id=actors[SAM].person_id, role="informationssakerhetssamordnare"))
        session.add(PersonRole(person_id=actors[DANA].person_id, role="dataskyddsombud"))
        for user, name in ((ANNA, "Anna Andersson"), (ERIK, "Erik Eriksson"), (SAM, "Sam Samordnare"),
                           (DANA, "Dana Dataskydd")):
            (await session.get(Person, actors[user].person_id)).name = name
    return actors


async def counts(bot) -> dict[str, int]:
    async with bot.db.transaction() as session:
        return {m.__tablename__: (await session.execute(select(func.count()).select_from(m))).scalar_one()
                for m in TABLES}


async def import_file(bot, org_id: int, data: bytes) -> facts.ImportResult:
    return await facts.import_facts(bot.runtime.svc, org_id, data)


# ---- the file ----------------------------------------------------------------------------------------------


async def test_the_seed_example_imports_with_every_fact(bot, people):
    org = people[SAM].org_id
    result = await import_file(bot, org, EXAMPLE.read_bytes())
    assert result.stored and not result.problems
    assert {s: c.added for s, c in result.counts[2023].items()} == {
        "internal_control": 5, "dpo_findings": 3, "rsa": 1, "audit_findings": 1, "plan": 13, "context": 6}
    async with bot.db.transaction() as session:
        review = await store.facts_for_review(session, org, 2023,
                                              routine_names=facts.routine_names(bot.runtime.svc.texts, "sv"))
    # 1.1.1/1.1.3: the five routines; only procurement was checked this year, and showed a deficiency.
    assert [c.routine for c in review.internal_control] == list(store.MANDATORY_ROUTINES)
    assert [c.result for c in review.internal_control] == ["not_checked"] * 4 + ["deficiency"]
    procurement = review.internal_control[-1]
    assert procurement.name == "Informationssäkerhet i upphandling" and procurement.mandatory
    assert "kontrollpunkt måste införas" in procurement.findings
    # 1.1.4: four deficiencies "omfattande eller allvarliga" in three of the six areas.
    assert [(a.area, a.grade) for a in review.dpo_findings] == [
        ("styrdokument", 2), ("tekniska_organisatoriska", 2), ("personuppgiftsincidenter", 2)]
    assert "mailloggar" in review.dpo_findings[1].findings and "känsliga" in review.dpo_findings[1].findings
    assert "endast en personuppgiftsincident" in review.dpo_findings[2].findings
    assert review.missing_areas == ("registerforteckning", "konsekvensbedomningar", "individens_rattigheter")
    # 1.1.2 and 1.1.5.
    assert review.rsa.cycle == "2022–2023" and review.rsa.processes_with_risks is None
    [workshop] = review.audit_findings
    assert "Kompetenslyft" in workshop.source and (workshop.severity, workshop.status) == ("observation", "open")
    # 2.2.1–2.2.3: the plan for the three coming years, in the seed's order.
    assert sorted(review.plan) == [2024, 2025, 2026]
    assert [len(review.plan[y]) for y in (2024, 2025, 2026)] == [7, 3, 3]
    assert review.plan[2024][0].owner == "Chefer" and review.plan[2024][3].owner == "Objektledare"
    assert review.plan[2024][4].origin == "internal_control"
    assert [a.title for a in review.plan[2026]] == [
        "Revidering av lokal anvisning", "Granska hur väl lokal rutin för regelbundna informationsklassningar följs",
        "Öva utifrån kontinuitetsplaner"]
    assert set(review.context) == set(store.CONTEXT_KINDS) and review.context["feedback"] == ()
    assert review.proposals.total == 0 and review.proposals.by_status["new"] == 0
    # A public document: no names, not even the CEO's from 2.1.1.
    assert "Dahlberg" not in json.dumps(str(review))


async def test_importing_again_updates_and_never_duplicates(bot, people):
    org = people[SAM].org_id
    await import_file(bot, org, EXAMPLE.read_bytes())
    before = await counts(bot)
    again = await import_file(bot, org, EXAMPLE.read_bytes())
    assert again.stored
    assert all(c.added == c.updated == 0 for c in again.counts[2023].values())
    assert await counts(bot) == before
    # An activity entered in Slack is kept; an edited file changes rows in place.
    async with bot.db.transaction() as session:
        session.add(PlanActivity(org_id=org, year=2025, title="Inventera molntjänster", owner="IT-chef", priority=2,
                                 status="planned", origin="coordinator", updated_at=bot.runtime.clock.now()))
    edited = EXAMPLE.read_text("utf-8").replace("result: ej_kontrollerad", "result: OK", 1)
    edited = edited.replace("title: Revidering av lokal anvisning\n    owner: null\n    priority: 1\n    status: planned",
                            "title: Revidering av lokal anvisning\n    owner: null\n    priority: 1\n    status: pågår")
    result = await import_file(bot, org, edited.encode())
    assert result.stored, result.problems
    assert (result.counts[2023]["internal_control"].updated, result.counts[2023]["plan"].updated) == (1, 1)
    assert await counts(bot) == {**before, "plan_activities": before["plan_activities"] + 1}
    async with bot.db.transaction() as session:
        access = (await session.execute(select(ControlResult).where(
            ControlResult.routine == "behorighetshantering"))).scalar_one()
        revision = (await session.execute(select(PlanActivity).where(
            PlanActivity.title == "Revidering av lokal anvisning"))).scalar_one()
    assert access.result == "ok" and revision.status == "in_progress"


async def test_export_writes_the_same_format_back(bot, people):
    org = people[SAM].org_id
    svc = bot.runtime.svc
    await import_file(bot, org, EXAMPLE.read_bytes())
    exported = await facts.export_facts(svc, org, 2023, "sv")
    assert exported.startswith("# Fakta för Ledningens genomgång 2023")
    assert "result: brist" in exported and "routine: informationssakerhet_i_upphandling" in exported
    # The same facts as the example, read the same way.
    original, back = facts.parse_facts(EXAMPLE.read_bytes()), facts.parse_facts(exported.encode())
    assert not back.problems
    assert back.years[0].data == original.years[0].data
    # Importing the export changes nothing, and exporting again gives the same file.
    before = await counts(bot)
    result = await import_file(bot, org, exported.encode())
    assert all(c.added == c.updated == 0 for c in result.counts[2023].values())
    assert await counts(bot) == before
    assert await facts.export_facts(svc, org, 2023, "sv") == exported
    # A year with nothing in it exports an empty template to fill in.
    empty = yaml.safe_load(await facts.export_facts(svc, org, 2020, "en"))
    assert empty["year"] == 2020 and empty["internal_control"] == [] and empty["rsa"] is None
    assert empty["context"] == {"external": [], "internal": [], "interested_parties": [], "feedback": []}


async def test_a_file_with_problems_reports_every_one_and_stores_nothing(bot, people):
    org = people[SAM].org_id
    result = await import_file(bot, org, BAD_FILE.encode())
    assert not result.stored
    found = {(p.line, p.path, p.kind) for p in result.problems}
    assert found == {
        (4, "intern_kontroll[0].resultat", "choice"),
        (5, "intern_kontroll[1].findings", "findings_required"),
        (7, "intern_kontroll[2].routine", "routine_typo"),
        (11, "dpo_findings[0].grade", "between"),
        (12, "dpo_findings[1].area", "choice"),
        (14, "dpo_findings[1].färg", "unknown_key"),
        (16, "rsa.action_plans", "between"),
        (19, "audit_findings[0].finding", "empty"),
        (21, "audit_findings[0].due", "date"),
        (23, "plan[0].year", "plan_year"),
        (25, "plan[0].owner", "owner_is_person"),
        (27, "plan[1].titel", "alias_twice"),
        (30, "context.external", "not_a_list"),
        (33, "context.internal[1]", "item_twice"),
    }
    assert await counts(bot) == dict.fromkeys((m.__tablename__ for m in TABLES), 0)
    svc = bot.runtime.svc
    swedish = facts.import_report(svc, "sv", result, filename="fakta.yaml")
    assert swedish.startswith("fakta.yaml: inget är inläst – 14 fel att rätta:")
    assert "rad 4, intern_kontroll[0].resultat: okänt värde bra – skriv ett av: ok, brist, allvarlig_brist" in swedish
    assert "rad 11, dpo_findings[0].grade: ska vara ett heltal från 1 till 4." in swedish
    assert "rad 25, plan[0].owner: Anna Andersson är en person i katalogen" in swedish
    english = facts.import_report(svc, "en", result, filename="facts.yaml")
    assert "line 7, intern_kontroll[2].routine: behorighetshantring looks like the mandatory routine" in english


@pytest.mark.parametrize("content,line,kind", [
    (b"year: 2023\ninternal_control:\n  - routine: x\n   result: ok\n", 4, "syntax"),
    (b"year: 2023\nyear: 2024\n", 2, "key_twice"),
    (b"", None, "empty_file"),
    (b"- 1\n- 2\n", 1, "not_a_mapping"),
    (b"year: 2023\nrsa:\n  cycle: \xe5r\n", 3, "not_utf8"),
    (b"year: 2023\n---\nyear: 2023\n", 3, "year_twice"),
    (b"year: 2023\nrsa: &a\n  cycle: *a\n", 1, "too_complex"),
    (b"year: 2023\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     b"e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n", 1, "too_complex"),
])
async def test_a_broken_file_is_told_where(bot, people, content, line, kind):
    result = await import_file(bot, people[SAM].org_id, content)
    assert not result.stored
    assert [(p.line, p.kind) for p in result.problems] == [(line, kind)]


def test_swedish_keys_and_values_read_like_english():
    swedish = """\
år: 2022
intern_kontroll:
  - rutin: Informationssäkerhet inom upphandlingsförfarandet
    resultat: Allvarlig brist
    iakttagelser: Ingen kontrollpunkt.
  - rutin: Loggranskning
    resultat: ok
dataskyddsombudet:
  - område: Tekniska och organisatoriska åtgärder
    grad: 3
treårsplan:
  - år: 2023
    aktivitet: Öva
    ansvarig: IT-chef
    läge: pågår
    ursprung: ledningens beslut
omvärld:
  intressenter: [Staden kräver en plan]
  återkoppling: [Revisorerna vill se loggar]
"""
    parsed = facts.parse_facts(swedish.encode())
    assert not parsed.problems
    data = parsed.years[0].data
    assert [(c.routine, c.result) for c in data.internal_control] == [
        ("informationssakerhet_i_upphandling", "serious"), ("Loggranskning", "ok")]
    assert (data.dpo_findings[0].area, data.dpo_findings[0].grade) == ("tekniska_organisatoriska", 3)
    assert (data.plan[0].status, data.plan[0].origin, data.plan[0].priority) == ("in_progress", "review_decision", 2)
    assert data.context.feedback == ["Revisorerna vill se loggar"]


def test_the_command_line_imports_and_exports(tmp_path):
    """`lisbot facts import FILE` and `lisbot facts export --year Y`, run as a person runs them."""
    db = tmp_path / "lisbot.db"
    env = {"DATABASE_URL": f"sqlite:///{db}"}
    assert subprocess.run([str(LISBOT), "db", "upgrade"], cwd=tmp_path, env=clean_env(**env), capture_output=True,
                          timeout=60).returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO organisations (platform, external_id, created_at) VALUES ('slack', 'T0001', "
                     "'2026-11-25 13:00:00')")

    def lisbot(*args):
        return subprocess.run([str(LISBOT), *args], cwd=tmp_path, env=clean_env(**env), capture_output=True,
                              text=True, timeout=60)

    done = lisbot("facts", "import", str(EXAMPLE))
    assert done.returncode == 0, done.stderr
    assert "facts-2023.yaml: inläst (2023)." in done.stdout
    assert "2023 treårsplan: nya 13, ändrade 0, oförändrade 0" in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_FILE, "utf-8")
    refused = lisbot("facts", "import", str(bad))
    assert refused.returncode == 1
    assert "inget är inläst" in refused.stdout and "rad 11, dpo_findings[0].grade" in refused.stdout
    exported = lisbot("facts", "export", "--year", "2023")
    assert exported.returncode == 0, exported.stderr
    assert facts.parse_facts(exported.stdout.encode()).years[0].data == \
        facts.parse_facts(EXAMPLE.read_bytes()).years[0].data
    out = tmp_path / "fakta-2023.yaml"
    assert lisbot("facts", "export", "--year", "2023", "--out", str(out)).returncode == 0
    assert out.read_text("utf-8").startswith("# Fakta för Ledningens genomgång 2023")
    assert lisbot("facts", "import", str(tmp_path / "missing.yaml")).returncode == 2


# ---- /fakta in Slack ------------------------------------------------------------------------------------------


async def press(bot, user, action, value, *, in_modal=None) -> tuple[str, dict]:
    """Press a button (in a modal when given one); returns how Slack was asked to show the answer, and the view."""
    methods = ("views.open", "views.push", "views.update")
    before = {m: len(bot.fake.calls_to(m)) for m in methods}
    container = ({"type": "view", "view_id": in_modal["id"]} if in_modal
                 else {"type": "message", "channel_id": SECURITY_CHANNEL, "message_ts": "1.1"})
    reply = await bot.slack.post_payload({
        "type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM}, "api_app_id": "A0LISBOT",
        "trigger_id": bot.fake.issue_trigger(), "container": container, **({"view": in_modal} if in_modal else {}),
        "actions": [{"type": "button", "action_id": action, "block_id": "b", "value": value}],
    })
    assert reply.status == 200

    def changed():
        return any(len(bot.fake.calls_to(m)) > before[m] for m in methods)
    await eventually(changed)
    method = next(m for m in methods if len(bot.fake.calls_to(m)) > before[m])
    return method, bot.fake.calls_to(method)[-1].response["view"]


async def command(bot, user, name="/fakta", text="") -> dict:
    before = len(bot.fake.calls_to("views.open"))
    reply = await bot.slack.command(user, command=name, text=text)
    assert reply.status == 200
    return (await bot.fake.wait_for("views.open", before + 1))[-1].response["view"]


def buttons(view) -> list[tuple[str, str]]:
    return [(e["action_id"], e.get("value", "")) for b in view["blocks"] if b["type"] == "actions"
            for e in b["elements"]]


async def open_form(bot, user, section, item, year=YEAR) -> dict:
    menu = await command(bot, user, text=str(year))
    assert ("facts_section", f"{year}:{section}") in buttons(menu)
    how, listing = await press(bot, user, "facts_section", f"{year}:{section}", in_modal=menu)
    assert how == "views.update"
    assert ("facts_edit", f"{year}:{section}:{item}") in buttons(listing)
    how, form = await press(bot, user, "facts_edit", f"{year}:{section}:{item}", in_modal=listing)
    assert how == "views.push" and form["callback_id"] == f"facts_{section}_form"
    return form


async def test_a_coordinator_enters_an_internal_control_result(bot, people):
    form = await open_form(bot, SAM, "internal_control", "incidenthantering")
    assert "Incidenthantering" in str(form["blocks"])
    values = {"checked": "Att incidentrutinen är känd", "method": "Stickprov bland chefer", "result": "brist"}
    bad = await bot.slack.submit(SAM, form, values)
    assert bad.json["response_action"] == "errors"
    assert bad.json["errors"] == {"findings": "Beskriv iakttagelserna när resultatet är brist eller allvarlig brist."}
    assert (await counts(bot))["control_results"] == 0
    updates = len(bot.fake.calls_to("views.update"))
    ok = await bot.slack.submit(SAM, form, {**values, "findings": "Två av tio chefer kände till rutinen."})
    assert ok.json["response_action"] == "update"
    assert "Sparat" in str(ok.json["view"]) and "Två av tio chefer" in str(ok.json["view"])
    async with bot.db.transaction() as session:
        [row] = (await session.execute(select(ControlResult))).scalars().all()
    assert (row.year, row.routine, row.result, row.updated_by) == (YEAR, "incidenthantering", "deficiency",
                                                                    people[SAM].person_id)
    # The section underneath the form is refreshed, so going back shows the result.
    refreshed = (await bot.fake.wait_for("views.update", updates + 1))[-1]
    assert refreshed.params["view_id"] == form["previous_view_id"]
    # The form opens again with what was saved; another control can be added beside the five.
    form = await open_form(bot, SAM, "internal_control", "incidenthantering")
    assert "Stickprov bland chefer" in str(form["blocks"])
    other = await open_form(bot, SAM, "internal_control", "new")
    typo = await bot.slack.submit(SAM, other, {"routine": "Incidenthanterng", "result": "ok"})
    assert "liknar det obligatoriska arbetssättet incidenthantering" in typo.json["errors"]["routine"]
    await bot.slack.submit(SAM, other, {"routine": "Loggranskning", "result": "ok"})
    async with bot.db.transaction() as session:
        assert {r.routine for r in await store.control_results(session, people[SAM].org_id, YEAR)} == {
            "incidenthantering", "Loggranskning"}


async def test_a_coordinator_adds_a_plan_activity_once(bot, people):
    form = await open_form(bot, SAM, "plan", "new")
    assert [o["value"] for b in form["blocks"] if b.get("block_id") == "year" for o in b["element"]["options"]] == [
        "2026", "2027", "2028", "2029"]
    values = {"year": "2027", "title": "Öva kontinuitetsplanen för biljettsystemet", "owner": "IT-chef",
              "priority": "1", "status": "planned", "origin": "rsa"}
    empty = await bot.slack.submit(SAM, form, {**values, "title": "   "})
    assert empty.json["errors"] == {"title": "får inte vara tomt."}
    named = await bot.slack.submit(SAM, form, {**values, "owner": "Anna Andersson"})
    assert "Anna Andersson är en person i katalogen" in named.json["errors"]["owner"]
    assert (await counts(bot))["plan_activities"] == 0
    ok = await bot.slack.submit(SAM, form, values)
    assert ok.json["response_action"] == "update"
    again = await bot.slack.submit(SAM, form, values)  # Slack retried the submission
    assert again.json["response_action"] == "update"
    async with bot.db.transaction() as session:
        [activity] = (await session.execute(select(PlanActivity))).scalars().all()
    assert (activity.year, activity.owner, activity.priority, activity.origin) == (2027, "IT-chef", 1, "rsa")
    # The same activity added a second time is refused: it is edited instead.
    second = await open_form(bot, SAM, "plan", "new")
    twice = await bot.slack.submit(SAM, second, {**values, "title": "öva kontinuitetsplanen för  biljettsystemet"})
    assert twice.json["errors"] == {"title": "Den här uppgiften finns redan för året – ändra den i stället."}
    edit = await open_form(bot, SAM, "plan", str(activity.id))
    await bot.slack.submit(SAM, edit, {**values, "status": "done"})
    async with bot.db.transaction() as session:
        [activity] = (await session.execute(select(PlanActivity))).scalars().all()
    assert activity.status == "done"
    # It is in next year's plan for the review of this year.
    async with bot.db.transaction() as session:
        review = await store.facts_for_review(session, people[SAM].org_id, YEAR)
    assert [a.title for a in review.plan[2027]] == ["Öva kontinuitetsplanen för biljettsystemet"]


async def test_the_dpo_grades_an_area_and_impossible_grades_are_refused(bot, people):
    menu = await command(bot, DANA)
    assert [v for a, v in buttons(menu) if a == "facts_section"] == [f"{YEAR}:dpo_findings"]
    form = await open_form(bot, DANA, "dpo_findings", "registerforteckning")
    values = {"grade": "2", "findings": "Registerförteckningen saknar tre system.", "recommendations": "Komplettera."}
    state = state_values(form, values)
    state["grade"]["value"]["selected_option"] = {"text": {"type": "plain_text", "text": "5"}, "value": "5"}
    forged = await bot.slack.post_payload({
        "type": "view_submission", "team": {"id": TEAM}, "user": {"id": DANA, "team_id": TEAM},
        "api_app_id": "A0LISBOT", "trigger_id": bot.fake.issue_trigger(), "view": {**form, "state": {"values": state}}})
    assert forged.json == {"response_action": "errors", "errors": {"grade": "ska vara ett heltal från 1 till 4."}}
    none = await bot.slack.submit(DANA, form, {**values, "grade": None})
    assert none.json["errors"] == {"grade": "får inte vara tomt."}
    assert (await counts(bot))["dpo_findings"] == 0
    ok = await bot.slack.submit(DANA, form, values)
    assert ok.json["response_action"] == "update"
    async with bot.db.transaction() as session:
        [finding] = (await session.execute(select(DpoFinding))).scalars().all()
    assert (finding.area, finding.grade, finding.updated_by) == ("registerforteckning", 2, people[DANA].person_id)
    # The data-protection officer enters the DPO findings only.
    control = await open_form(bot, SAM, "internal_control", "behorighetshantering")
    refused = await bot.slack.submit(DANA, control, {"result": "ok"})
    assert "informationssäkerhetssamordnarna" in str(refused.json["view"])
    assert (await counts(bot))["control_results"] == 0


async def test_others_are_refused_politely_and_change_nothing(bot, people):
    menu = await command(bot, ANNA)
    assert "Tack för att du vill hjälpa till" in str(menu["blocks"]) and not buttons(menu)
    form = await open_form(bot, SAM, "context", "new")
    for text in ("Ny lag om cybersäkerhet", ""):  # valid or not, the answer is the same
        reply = await bot.slack.submit(ANNA, form, {"kind": "external", "text": text})
        assert reply.json["response_action"] == "update"
        assert "Tack för att du vill hjälpa till" in str(reply.json["view"])
    how, view = await press(bot, ANNA, "facts_edit", f"{YEAR}:plan:new")
    assert how == "views.open" and "Tack för att du vill hjälpa till" in str(view["blocks"])
    assert await counts(bot) == dict.fromkeys((m.__tablename__ for m in TABLES), 0)


async def test_removing_an_entry(bot, people):
    form = await open_form(bot, SAM, "context", "new")
    await bot.slack.submit(SAM, form, {"kind": "external", "text": "Cybersäkerhetslagen träder i kraft"})
    async with bot.db.transaction() as session:
        [note] = (await session.execute(select(ContextNote))).scalars().all()
    edit = await open_form(bot, SAM, "context", str(note.id))
    assert any(b.get("block_id") == "remove" for b in edit["blocks"])
    await bot.slack.submit(SAM, edit, {"kind": "external", "text": "", "remove": ["remove"]})
    assert (await counts(bot))["context_notes"] == 0


# ---- improvement proposals -------------------------------------------------------------------------------------


async def proposals(bot) -> list[ImprovementProposal]:
    async with bot.db.transaction() as session:
        return list((await session.execute(select(ImprovementProposal).order_by(ImprovementProposal.id))).scalars())


def channel_messages(bot) -> list:
    return [c for c in bot.fake.calls_to("chat.postMessage") if c.params["channel"] == SECURITY_CHANNEL]


async def test_any_employee_sends_a_proposal_once_and_gets_a_receipt(bot, people):
    form = await command(bot, ANNA, "/forbattring")
    assert form["callback_id"] == "improvement_form"
    empty = await bot.slack.submit(ANNA, form, {"text": "  "})
    assert empty.json["errors"] == {"text": "Skriv ditt förslag."}
    text = "Inför en kontrollpunkt i upphandlingsmallen: samordnaren godkänner kraven innan publicering."
    ok = await bot.slack.submit(ANNA, form, {"text": text})
    assert ok.json["response_action"] == "update" and "Tack" in str(ok.json["view"])
    retried = await bot.slack.submit(ANNA, form, {"text": text})  # the same submission again
    assert retried.json["response_action"] == "update"
    [proposal] = await proposals(bot)
    assert (proposal.text, proposal.status, proposal.submitted_by) == (text, "new", people[ANNA].person_id)
    assert await bot.deliver() == 2
    [receipt] = dms_to(bot, ANNA)
    assert f"nr {proposal.id}" in receipt and "upphandlingsmallen" in receipt
    [notice] = channel_messages(bot)
    assert "upphandlingsmallen" in str(notice.params["blocks"]) and "improvement_triage" in str(notice.params["blocks"])
    assert "Anna" not in str(notice.params)  # the coordinators see the proposal, not who sent it
    # Straight from the command line, in the sender's language.
    reply = await bot.slack.command(ERIK, command="/forbattring", text="Lock the printer room")
    assert reply.status == 200 and "Thank you" in reply.text
    assert [p.text for p in await proposals(bot)] == [text, "Lock the printer room"]
    await bot.deliver()
    assert "Thank you for your improvement proposal" in dms_to(bot, ERIK)[0]


async def test_coordinators_triage_from_the_notice_and_from_the_list(bot, people):
    await bot.slack.command(ANNA, command="/forbattring", text="Lås skrivarrummet, Anna Andersson har sett olåst")
    await bot.slack.command(ERIK, command="/forbattring", text="More coffee")
    await bot.deliver()
    first, second = await proposals(bot)
    # Not for everyone.
    how, denied = await press(bot, ANNA, "improvement_triage", str(first.id))
    assert "Bara informationssäkerhetssamordnarna" in str(denied["blocks"])
    how, form = await press(bot, SAM, "improvement_triage", str(first.id))
    assert how == "views.open" and form["callback_id"] == "improvement_triage_form"
    missing = await bot.slack.submit(SAM, form, {"status": "accepted", "note": ""})
    assert missing.json["errors"] == {"note": "Skriv en kort anteckning."}
    ok = await bot.slack.submit(SAM, form, {"status": "accepted", "note": "Skrivarrummet får kodlås under 2027."})
    assert "Förslagsställaren får besked" in str(ok.json["view"])
    await bot.deliver()
    assert any("Antaget" in m and "kodlås" in m for m in dms_to(bot, ANNA))
    update = (await bot.fake.wait_for("chat.update"))[-1]
    assert update.params["channel"] == SECURITY_CHANNEL and "Antaget" in str(update.params["blocks"])
    # The list: what waits, and what was triaged; a triage there shows the list again.
    listing = await command(bot, SAM, "/forbattring", "lista")
    assert ("improvement_triage", str(second.id)) in buttons(listing)
    how, form = await press(bot, SAM, "improvement_triage", str(second.id), in_modal=listing)
    assert how == "views.push"
    done = await bot.slack.submit(SAM, form, {"status": "rejected", "note": "Inte en säkerhetsfråga."})
    assert "Bedömningen är sparad" in str(done.json["view"])
    assert [p.status for p in await proposals(bot)] == ["accepted", "rejected"]
    # The review counts them and shows the coordinator's note on the accepted one, never who sent it.
    async with bot.db.transaction() as session:
        review = await store.facts_for_review(session, people[SAM].org_id, YEAR)
    assert review.proposals.total == 2
    assert review.proposals.by_status == {"new": 0, "accepted": 1, "rejected": 1, "done": 0}
    assert review.proposals.accepted == ("Skrivarrummet får kodlås under 2027.",)
    assert "Anna" not in str(review.proposals)
    # Employees cannot see the list.
    refused = await command(bot, ERIK, "/forbattring", "lista")
    assert "Only the information-security coordinators" in str(refused["blocks"])


async def test_the_menu_shows_the_year_and_the_proposals_waiting(bot, people):
    await bot.slack.command(ANNA, command="/forbattring", text="Tvåfaktor på e-posten")
    menu = await command(bot, SAM, text="2025")
    text = str(menu["blocks"])
    assert "Ledningens genomgång 2025" in text and "1 väntar på bedömning" in text
    assert {v for a, v in buttons(menu) if a == "facts_section"} == {f"2025:{s}" for s in facts.SECTIONS}
    how, view = await press(bot, SAM, "facts_menu", "2024", in_modal=menu)
    assert how == "views.update" and "Ledningens genomgång 2024" in str(view["blocks"])
    how, view = await press(bot, SAM, "improvement_list", "facts", in_modal=view)
    assert how == "views.update" and "Tvåfaktor på e-posten" in str(view["blocks"])


async def test_without_a_security_channel_each_coordinator_is_told(bot, people):
    svc = bot.runtime.svc
    svc.settings = svc.settings.model_copy(update={"security_channel": None})
    await bot.slack.command(ANNA, command="/forbattring", text="Skärmlås efter fem minuter")
    await bot.deliver()
    [notice] = [m for m in dms_to(bot, SAM) if "Skärmlås" in m]
    assert "improvement_triage" in notice
    assert not channel_messages(bot) and not [m for m in dms_to(bot, DANA) if "Skärmlås" in m]
