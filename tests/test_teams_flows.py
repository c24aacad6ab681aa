"""Issue #7: the flows Slack has as slash commands, in Teams: the review's facts (`fakta`), improvement
proposals (`förbättring`) and starting a training campaign (`utbildning start`), through /api/messages with
the answers and forms as cards replaced in place, and the same roles as in Slack."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import DpoFinding, ImprovementProposal, PersonRole, RiskAnalysis, TrainingCampaign
from tests.adaptivecards import assert_valid_card
from tests.fakebotconnector import actions_of, card_of, card_text, inputs_of
from tests.test_teams import COORDINATOR, count, microsoft, replaced_card, tbot  # noqa: F401 — fixtures

DPO = "dataskyddsombud"


async def said(bot, member, text: str) -> dict:
    """Write to lisbot in the 1:1 chat; the card it answers with."""
    await bot.teams.message(member, text)
    await bot.runtime.teams.idle()
    card = card_of(bot.fake.sent(f"a:personal-{member.id}")[-1])
    assert_valid_card(card)
    return card


def button(card: dict, verb: str, value: str | None = None) -> dict:
    return next(a for a in actions_of(card) if a.get("verb") == verb
                and (value is None or a["data"]["value"] == value))


async def add_role(bot, member, role: str) -> None:
    await bot.teams.message(member, "hej")
    await bot.runtime.teams.idle()
    person = await bot.person(member)
    async with bot.db.transaction() as session:
        session.add(PersonRole(person_id=person.id, role=role))


async def test_facts_for_the_review_are_entered_in_teams_by_coordinators_and_the_dpo(tbot):
    t = tbot.runtime.svc.texts.t
    await add_role(tbot, tbot.sam, COORDINATOR)
    await add_role(tbot, tbot.erik, DPO)

    # An employee is told who enters facts.
    assert t("sv", "facts.denied") in card_text(await said(tbot, tbot.anna, "fakta"))

    # The coordinator: the year's sections; the risk analysis section, its form, an error, then saved.
    menu = await said(tbot, tbot.sam, "fakta 2026")
    sections = {a["data"]["value"] for a in actions_of(menu) if a.get("verb") == "facts_section"}
    assert {"2026:internal_control", "2026:rsa", "2026:context"} <= sections
    status, answer = await tbot.teams.execute(tbot.sam, button(menu, "facts_section", "2026:rsa"))
    section = replaced_card(answer)
    status, answer = await tbot.teams.execute(tbot.sam, button(section, "facts_edit"))
    form = replaced_card(answer)
    assert {"cycle", "summary", "processes_with_risks"} <= set(inputs_of(form))
    submit = actions_of(form)[0]
    status, answer = await tbot.teams.execute(tbot.sam, submit, {"cycle": "2025–2026", "processes_with_risks": "-3"},
                                              card=form)
    again = replaced_card(answer)
    assert any(e.get("color") == "Attention" for e in again["body"])
    assert await count(tbot, RiskAnalysis) == 0
    status, answer = await tbot.teams.execute(tbot.sam, actions_of(again)[0],
                                              {"cycle": "2025–2026", "processes_with_risks": "12"}, card=again)
    assert "2025–2026" in card_text(replaced_card(answer))
    async with tbot.db.transaction() as session:
        [rsa] = (await session.execute(select(RiskAnalysis))).scalars().all()
    assert rsa.year == 2026 and rsa.cycle == "2025–2026" and rsa.processes_with_risks == 12

    # The DPO sees only the DPO's findings, and records one.
    dpo_menu = await said(tbot, tbot.erik, "fakta 2026")
    assert {a["data"]["value"] for a in actions_of(dpo_menu) if a.get("verb") == "facts_section"} == {
        "2026:dpo_findings"}
    status, answer = await tbot.teams.execute(tbot.erik, button(dpo_menu, "facts_section"))
    edit = button(replaced_card(answer), "facts_edit")
    status, answer = await tbot.teams.execute(tbot.erik, edit)
    form = replaced_card(answer)
    grade = inputs_of(form)["grade"]["choices"][0]["value"]
    status, answer = await tbot.teams.execute(tbot.erik, actions_of(form)[0], {"grade": grade,
                                                                                "findings": "Registret saknar två system."},
                                              card=form)
    replaced_card(answer)
    assert await count(tbot, DpoFinding) == 1
    # Anna pressing the coordinator's button (a forwarded card) is refused and changes nothing.
    status, answer = await tbot.teams.execute(tbot.anna, button(section, "facts_edit"))
    assert t("sv", "facts.denied") in card_text(replaced_card(answer))
    assert tbot.fake.card_problems == []


async def test_anyone_sends_an_improvement_proposal_and_coordinators_triage_it(tbot):
    t = tbot.runtime.svc.texts.t
    await add_role(tbot, tbot.sam, COORDINATOR)

    # With the text in the message: stored at once, once even if Teams sends the activity again.
    activity = tbot.teams.activity(tbot.anna, "message", text="förbättring Inför lösenordshanterare för alla",
                                   textFormat="plain")
    for _ in range(2):
        status, _ = await tbot.teams.post(activity)
        assert status == 200
    await tbot.runtime.teams.idle()
    async with tbot.db.transaction() as session:
        [proposal] = (await session.execute(select(ImprovementProposal))).scalars().all()
    assert proposal.text == "Inför lösenordshanterare för alla"  # case kept
    assert str(proposal.id) in card_text(card_of(tbot.fake.sent(f"a:personal-{tbot.anna.id}")[-1]))

    # Without text: the form as a card; empty is refused, then sent.
    form = await said(tbot, tbot.erik, "förbättring")
    status, answer = await tbot.teams.execute(tbot.erik, actions_of(form)[0], {"text": ""}, card=form)
    assert any(e.get("color") == "Attention" for e in replaced_card(answer)["body"])
    assert await count(tbot, ImprovementProposal) == 1
    status, answer = await tbot.teams.execute(tbot.erik, actions_of(form)[0], {"text": "Kortare utbildning"},
                                              card=form)
    replaced_card(answer)
    assert await count(tbot, ImprovementProposal) == 2

    # The coordinators' list and triage; an employee may not triage.
    listing = await said(tbot, tbot.sam, "förbättring lista")
    assert "lösenordshanterare" in card_text(listing)
    triage = button(listing, "improvement_triage", str(proposal.id))
    status, answer = await tbot.teams.execute(tbot.anna, triage)
    assert t("sv", "improvement.denied") in card_text(replaced_card(answer))
    status, answer = await tbot.teams.execute(tbot.sam, triage)
    form = replaced_card(answer)
    status, answer = await tbot.teams.execute(tbot.sam, actions_of(form)[0], {"status": "accepted", "note": "Bra."},
                                              card=form)
    replaced_card(answer)
    async with tbot.db.transaction() as session:
        stored = await session.get(ImprovementProposal, proposal.id)
    assert stored.status == "accepted"
    assert tbot.fake.card_problems == []


async def test_a_coordinator_starts_a_training_campaign_from_teams(tbot):
    t = tbot.runtime.svc.texts.t
    await add_role(tbot, tbot.sam, COORDINATOR)
    assert t("sv", "training.start.denied") in card_text(await said(tbot, tbot.anna, "utbildning start"))
    form = await said(tbot, tbot.sam, "utbildning start")
    assert {"courses", "deadline", "remind_every_days"} <= set(inputs_of(form))
    status, answer = await tbot.teams.execute(tbot.sam, actions_of(form)[0], {"courses": ""}, card=form)
    assert any(e.get("color") == "Attention" for e in replaced_card(answer)["body"])
    assert await count(tbot, TrainingCampaign) == 0
    status, answer = await tbot.teams.execute(tbot.sam, actions_of(form)[0],
                                              {"courses": "Informationssäkerhet grund", "deadline": "2026-12-31"},
                                              card=form)
    replaced_card(answer)
    async with tbot.db.transaction() as session:
        [campaign] = (await session.execute(select(TrainingCampaign))).scalars().all()
    assert "Informationssäkerhet grund" in str(campaign.courses)
