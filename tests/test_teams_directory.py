"""Issue #7: the HR file sent to lisbot in a Teams 1:1 chat (supportsFiles), as in Slack's DM.

Files arrive as file.download.info attachments with a short-lived, pre-authorised download address on a fake
file host on 127.0.0.1; the report comes back in the chat through the outbox; "import the good rows" is an
Action.Execute answered in place."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from storage.models import Person
from tests.adaptivecards import assert_valid_card
from tests.fakebotconnector import actions_of, card_of, card_text
from tests.test_teams import COORDINATOR, count, microsoft, replaced_card, tbot  # noqa: F401 — fixtures
from tests.test_teams_flows import add_role

DATA = Path(__file__).parent / "data"


async def chat(bot, member) -> list[dict]:
    await bot.runtime.teams.idle()
    await bot.deliver()
    return [card_of(a) for a in bot.fake.sent(f"a:personal-{member.id}")]


async def emails(bot) -> set[str]:
    async with bot.db.transaction() as session:
        return {e for e in (await session.execute(select(Person.email))).scalars() if e}


async def test_a_coordinator_sends_the_hr_file_in_the_chat_and_it_is_imported(tbot):
    t = tbot.runtime.svc.texts.t
    await add_role(tbot, tbot.sam, COORDINATOR)
    await add_role(tbot, tbot.anna, "chef")
    data = (DATA / "hr_people_excel_cp1252.csv").read_bytes()

    # Not an admin or coordinator: thanked and told, and nothing is read.
    url = tbot.fake.add_file(data)
    before = await count(tbot, Person)
    await tbot.teams.send_file(tbot.anna, "personal.csv", url)
    assert t("sv", "directory.refused") in card_text((await chat(tbot, tbot.anna))[-1])
    assert tbot.fake.downloads == [] and await count(tbot, Person) == before

    await tbot.teams.send_file(tbot.sam, "personal.csv", url)
    report = (await chat(tbot, tbot.sam))[-1]
    assert_valid_card(report)
    assert "Personallistan är inläst" in card_text(report)
    assert {"anna@example.se", "erik@example.se", "sam@example.se"} <= await emails(tbot)
    assert tbot.fake.card_problems == []


async def test_a_file_with_bad_rows_imports_the_good_rows_only_when_asked(tbot):
    t = tbot.runtime.svc.texts.t
    await add_role(tbot, tbot.sam, COORDINATOR)
    await tbot.teams.message(tbot.anna, "hej")  # Anna is known before she presses anything
    await tbot.runtime.teams.idle()
    url = tbot.fake.add_file((DATA / "hr_people_bad_rows.csv").read_bytes())
    before = await emails(tbot)
    await tbot.teams.send_file(tbot.sam, "personal.csv", url)
    report = (await chat(tbot, tbot.sam))[-1]
    assert "Ingenting är inläst än" in card_text(report) and "inte-en-adress" in card_text(report)
    assert await emails(tbot) == before
    good_rows = next(a for a in actions_of(report) if a["verb"] == "directory_import_good_rows")
    assert good_rows["type"] == "Action.Execute"

    # Anna pressing it (a forwarded or forged card) is refused; Sam's press replaces the buttons in place.
    status, answer = await tbot.teams.execute(tbot.anna, good_rows)
    assert t("sv", "directory.refused") in card_text(replaced_card(answer))
    assert await emails(tbot) == before
    status, answer = await tbot.teams.execute(tbot.sam, good_rows)
    replaced = replaced_card(answer)
    assert t("sv", "directory.decision.importing") in card_text(replaced) and not actions_of(replaced)
    result = (await chat(tbot, tbot.sam))[-1]
    assert "De korrekta raderna" in card_text(result)
    after = await emails(tbot)
    assert "kim@example.se" in after - before and "inte-en-adress" not in after  # good rows only


async def test_a_changed_expired_or_foreign_file_is_asked_for_again(tbot):
    await add_role(tbot, tbot.sam, COORDINATOR)
    url = tbot.fake.add_file((DATA / "hr_people_bad_rows.csv").read_bytes())
    await tbot.teams.send_file(tbot.sam, "personal.csv", url)
    good_rows = next(a for a in actions_of((await chat(tbot, tbot.sam))[-1])
                     if a["verb"] == "directory_import_good_rows")
    before = await emails(tbot)

    tbot.fake.replace_file(url, (DATA / "hr_people_excel_cp1252.csv").read_bytes())
    await tbot.teams.execute(tbot.sam, good_rows)
    assert "har ändrats sedan kontrollen" in card_text((await chat(tbot, tbot.sam))[-1])
    tbot.fake.expire_file(url)
    await tbot.teams.send_file(tbot.sam, "ny.csv", url)
    assert "går inte att hämta längre" in card_text((await chat(tbot, tbot.sam))[-1])
    downloads = len(tbot.fake.downloads)
    await tbot.teams.send_file(tbot.sam, "annan.csv", "https://evil.example/files/x?tempauth=1")
    assert "kunde inte hämta filen annan.csv" in card_text((await chat(tbot, tbot.sam))[-1])
    assert len(tbot.fake.downloads) == downloads
    assert await emails(tbot) == before
