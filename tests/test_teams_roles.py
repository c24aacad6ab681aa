"""Issue #7: the role matrix behind Teams' card buttons (Action.Execute through /api/messages), as in Slack.

Training: Bo manages Anna and Erik (Scen); Carl manages Kansli; Sam is a coordinator. Only a person's own
manager (or a coordinator) may nudge, confirm on their behalf, or decide an exemption. Classification: an
object owner reviews their own assets only. Every answer replaces the pressed card in place.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from handlers import training
from storage.models import Asset, Classification, Department, Person, PersonRole, TrainingAssignment, TrainingCompletion
from tests.adaptivecards import assert_valid_card
from tests.conftest import T0
from tests.fakebotconnector import actions_of, card_of, card_text, inputs_of
from tests.test_teams import COORDINATOR, microsoft, replaced_card, tbot  # noqa: F401 — fixtures

MESSAGE = "application/vnd.microsoft.activity.message"


@pytest.fixture
async def staff(tbot):
    fake = tbot.fake
    tbot.bo = fake.add_member("29:1bo", "aad-bo-0004", "Bo Chef", "bo@example.se")
    tbot.carl = fake.add_member("29:1carl", "aad-carl-0005", "Carl Kanslichef", "carl@example.se")
    members = (tbot.anna, tbot.erik, tbot.sam, tbot.bo, tbot.carl)
    for member in members:
        await tbot.teams.message(member, "hej")
    await tbot.runtime.teams.idle()
    people = {m.name.split()[0].lower(): await tbot.person(m) for m in members}
    async with tbot.db.transaction() as session:
        org_id = people["anna"].org_id
        scen, kansli = Department(org_id=org_id, name="Scen"), Department(org_id=org_id, name="Kansli")
        session.add_all([scen, kansli])
        await session.flush()
        session.add_all([PersonRole(person_id=people["sam"].id, role=COORDINATOR),
                         PersonRole(person_id=people["bo"].id, role="chef"),
                         PersonRole(person_id=people["carl"].id, role="chef")])
        for name, dept, manager in (("anna", scen, "bo"), ("erik", scen, "bo"), ("bo", scen, None),
                                    ("sam", kansli, "carl"), ("carl", kansli, None)):
            person = await session.get(Person, people[name].id)
            person.department_id = dept.id
            person.manager_id = people[manager].id if manager else None
    return people


async def anna_s_assignment(bot, staff) -> TrainingAssignment:
    async with bot.db.transaction() as session:
        return (await session.execute(select(TrainingAssignment).where(
            TrainingAssignment.person_id == staff["anna"].id))).scalar_one()


def press(verb: str, value) -> dict:
    """A button as it would be on a card someone forwarded, or forged: the verb and the value."""
    return {"type": "Action.Execute", "verb": verb, "data": {"value": str(value)}}


async def test_training_manager_actions_follow_the_role_matrix(tbot, staff):
    t = tbot.runtime.svc.texts.t
    settings = training.CampaignSettings(courses=("Informationssäkerhet grund",), deadline=date(2026, 12, 31))
    await training.start_campaign(tbot.runtime.svc, staff["anna"].org_id, settings, started_by=None)
    await tbot.runtime.tick()
    await tbot.deliver()
    a = await anna_s_assignment(tbot, staff)
    denied = t("sv", "training.manager.denied")

    # Nudge: Anna herself and Carl (another department's manager) are refused; Bo and the coordinator may.
    for member in (tbot.anna, tbot.carl):
        status, answer = await tbot.teams.execute(member, press(training.NUDGE, a.id))
        assert status == 200 and answer["type"] == MESSAGE and answer["value"] == denied, member.name
    before = len(tbot.fake.sent(f"a:personal-{tbot.anna.id}"))
    status, answer = await tbot.teams.execute(tbot.bo, press(training.NUDGE, a.id))
    assert answer["type"] == MESSAGE and answer["value"] != denied and "Anna" in answer["value"]
    await tbot.deliver()
    assert len(tbot.fake.sent(f"a:personal-{tbot.anna.id}")) == before + 1  # the nudge reached her chat

    # Confirm on her behalf: refused for Carl; for Bo the form replaces the card, then the card says it is done.
    status, answer = await tbot.teams.execute(tbot.carl, press(training.CONFIRM_FOR, a.id))
    assert answer["value"] == denied
    status, answer = await tbot.teams.execute(tbot.bo, press(training.CONFIRM_FOR, a.id))
    form = replaced_card(answer)
    assert inputs_of(form)["completed_on"]["type"] == "Input.Date"
    status, answer = await tbot.teams.execute(tbot.carl, actions_of(form)[0], {"completed_on": "2026-11-20"},
                                              card=form)  # Carl submitting Bo's form: still refused
    async with tbot.db.transaction() as session:
        assert (await session.execute(select(TrainingCompletion))).scalars().all() == []
    status, answer = await tbot.teams.execute(tbot.bo, actions_of(form)[0], {"completed_on": "2026-11-20"}, card=form)
    replaced_card(answer)
    async with tbot.db.transaction() as session:
        [evidence] = (await session.execute(select(TrainingCompletion))).scalars().all()
    assert (evidence.source, evidence.recorded_by) == ("manager", staff["bo"].id)


async def test_an_exemption_is_decided_by_the_person_s_own_manager_only(tbot, staff):
    t = tbot.runtime.svc.texts.t
    settings = training.CampaignSettings(courses=("Informationssäkerhet grund",), deadline=date(2026, 12, 31))
    await training.start_campaign(tbot.runtime.svc, staff["anna"].org_id, settings, started_by=None)
    await tbot.runtime.tick()
    await tbot.deliver()
    prompt = card_of(tbot.fake.sent(f"a:personal-{tbot.anna.id}")[-1])
    not_mine = next(a for a in actions_of(prompt) if a["verb"] == training.NOT_APPLICABLE)
    status, answer = await tbot.teams.execute(tbot.anna, not_mine)
    form = replaced_card(answer)
    status, answer = await tbot.teams.execute(tbot.anna, actions_of(form)[0], {"reason": "Föräldraledig hela året"},
                                              card=form)
    replaced_card(answer)  # the prompt now says the request went to the manager
    await tbot.deliver()
    [request] = [card_of(x) for x in tbot.fake.sent(f"a:personal-{tbot.bo.id}")
                 if "Föräldraledig hela året" in card_text(card_of(x))]
    assert_valid_card(request)
    approve = next(a for a in actions_of(request) if a["verb"] == training.APPROVE)
    assert approve["type"] == "Action.Execute"
    for member in (tbot.anna, tbot.erik, tbot.carl):
        status, answer = await tbot.teams.execute(member, approve)
        assert answer["value"] == t("sv", "training.manager.denied"), member.name
    assert (await anna_s_assignment(tbot, staff)).status != "exempt"
    status, answer = await tbot.teams.execute(tbot.bo, approve)
    assert answer["type"] == MESSAGE and "Anna" in answer["value"]
    assert (await anna_s_assignment(tbot, staff)).status == "exempt"
    # Deciding again changes nothing and says so.
    status, answer = await tbot.teams.execute(tbot.bo, next(a for a in actions_of(request)
                                                            if a["verb"] == training.REJECT))
    assert (await anna_s_assignment(tbot, staff)).status == "exempt"


async def test_object_owners_classify_only_their_own_assets_in_place(tbot, staff):
    t = tbot.runtime.svc.texts.t
    async with tbot.db.transaction() as session:
        mine = Asset(org_id=staff["anna"].org_id, name="Biljettsystem", owner_id=staff["anna"].id, created_at=T0,
                     updated_at=T0)
        bos = Asset(org_id=staff["anna"].org_id, name="Lönesystem", owner_id=staff["bo"].id, created_at=T0,
                    updated_at=T0)
        session.add_all([mine, bos])
    await tbot.teams.message(tbot.anna, "klassning")
    await tbot.runtime.teams.idle()
    overview = card_of(tbot.fake.sent(f"a:personal-{tbot.anna.id}")[-1])
    assert_valid_card(overview)
    assert "Biljettsystem" in card_text(overview) and "Lönesystem" not in card_text(overview)
    review = next(a for a in actions_of(overview) if a["verb"] == "classification_review")
    assert review["data"]["value"].split(":")[0] == str(mine.id)

    # Bo's asset, pressed by Anna (a forged press) or by Erik: refused, nothing changes.
    for member in (tbot.anna, tbot.erik):
        status, answer = await tbot.teams.execute(member, press("classification_review", bos.id))
        assert t("sv", "classification.denied") in card_text(replaced_card(answer))
        status, answer = await tbot.teams.execute(member, press("classification_edit", bos.id))
        assert t("sv", "classification.denied") in card_text(replaced_card(answer))

    # Her own: the form replaces the card; a missing level is shown on it; then it is saved.
    status, answer = await tbot.teams.execute(tbot.anna, review)
    form = replaced_card(answer)
    assert {"confidentiality", "integrity", "availability", "classified_on"} <= set(inputs_of(form))
    submit = actions_of(form)[0]
    status, answer = await tbot.teams.execute(tbot.anna, submit, {"confidentiality": "3", "integrity": "2"}, card=form)
    assert any(e.get("color") == "Attention" for e in replaced_card(answer)["body"])
    status, answer = await tbot.teams.execute(tbot.anna, submit, {"confidentiality": "3", "integrity": "2",
                                                                  "availability": "1"}, card=form)
    replaced_card(answer)
    async with tbot.db.transaction() as session:
        [saved] = (await session.execute(select(Classification))).scalars().all()
    assert (saved.asset_id, saved.confidentiality, saved.integrity, saved.availability) == (mine.id, 3, 2, 1)
    # The coordinator may review anyone's asset.
    status, answer = await tbot.teams.execute(tbot.sam, press("classification_review", bos.id))
    assert "confidentiality" in inputs_of(replaced_card(answer))
    assert tbot.fake.card_problems == []
