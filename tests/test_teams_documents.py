"""Issue #7: documents in Teams, as signed, expiring links to lisbot itself.

The review's draft (to the coordinator's chat) and the leadership post (in the channel's thread) get a card
with each document's name, size and an Action.OpenUrl link; the link is followed over HTTP and the bytes are
compared with the stored document. Forged, altered, expired and replaced links get a short page in Swedish.
Exports (incident log, breach log) are links too, made for the person who asked, with their rights then.
"""

from __future__ import annotations

import base64
import json
import socket
from datetime import timedelta
from urllib.parse import unquote

import aiohttp
import jwt
import pytest
from sqlalchemy import select

from bot.runtime import TEAMS_PATH
from handlers import exports, review
from storage.models import OutboxMessage, PersonRole, Review
from tests.adaptivecards import assert_valid_card
from tests.conftest import bot_settings
from tests.fakebotconnector import TeamsDriver, actions_of, card_of, card_text
from tests.test_teams import (  # noqa: F401 — fixtures
    COORDINATOR, LEADERSHIP, SECURITY, TeamsBot, _channel, microsoft, replaced_card, start_bot,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def dbot(database_url, fake_slack, microsoft, clock):  # noqa: F811
    """Teams with LISBOT_PUBLIC_URL pointing at the bot itself, so the links can be followed."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    settings = bot_settings(database_url, fake_slack, **microsoft.settings(), LISBOT_PUBLIC_URL=public)
    settings = settings.model_copy(update={"security_channel": SECURITY, "leadership_channel": LEADERSHIP})
    from aiohttp import web

    from bot.runtime import Runtime

    runtime = Runtime(settings, clock=clock)
    await runtime.start(deliver=False)
    runner = web.AppRunner(runtime.web_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    driver = TeamsDriver(public + TEAMS_PATH, microsoft)
    bot = TeamsBot(runtime, runner, public, driver, microsoft, fake_slack)
    bot.http = aiohttp.ClientSession()
    yield bot
    await bot.http.close()
    await driver.close()
    await runner.cleanup()
    await runtime.stop()


async def fetch(bot, url: str) -> tuple[int, bytes, dict]:
    async with bot.http.get(url) as response:
        return response.status, await response.read(), dict(response.headers)


async def deliver_all(bot, clock) -> None:
    """Documents wait for the message they answer: drain, let the short wait pass, drain again."""
    await bot.deliver()
    clock.advance(timedelta(seconds=10))
    await bot.deliver()


def document_cards(bot, conversation: str) -> list[tuple[dict, dict]]:
    return [(activity, card_of(activity)) for activity in bot.fake.sent(conversation)
            if any(a["type"] == "Action.OpenUrl" for a in actions_of(card_of(activity)))]


async def the_review(bot, status: str) -> Review:
    async with bot.db.transaction() as session:
        return (await session.execute(select(Review).where(Review.status == status))).scalar_one()


def swap_claim(token: str, **changes) -> str:
    """The same signature on other claims: what someone editing a link would try."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def test_the_draft_and_the_leadership_post_get_their_documents_as_working_links(dbot, clock):
    bot = dbot
    await bot.make_coordinator(bot.sam)
    await bot.teams.message(bot.sam, "genomgång 2026")
    await bot.runtime.teams.idle()
    await deliver_all(bot, clock)
    chat = f"a:personal-{bot.sam.id}"

    # The draft's documents: one card in Sam's chat, answering the draft message, a link per document.
    draft = await the_review(bot, "draft")
    [(activity, card)] = document_cards(bot, chat)
    assert_valid_card(card)
    draft_message = next(a for a in bot.fake.sent(chat) if any(
        b.get("verb") == review.PUBLISH for b in actions_of(card_of(a))))
    posted = [c for c in bot.fake.calls if c.body is draft_message][0]
    assert activity["replyToId"] == posted.response["id"]
    links = {a["title"]: a["url"] for a in actions_of(card)}
    assert set(links) == {"Öppna ledningens-genomgang-2026-utkast.pdf", "Öppna ledningens-genomgang-2026-utkast.docx"}
    text = card_text(card)
    assert "ledningens-genomgang-2026-utkast.pdf" in text and " kB" in text and "Länkarna gäller till 2026-12-25" in text
    for title, url in links.items():
        assert url.startswith(bot.base + "/documents/")
        status, body, headers = await fetch(bot, url)
        assert status == 200
        expected = draft.pdf if title.endswith(".pdf") else draft.docx
        assert body == expected
        assert headers["Content-Type"].startswith("application/pdf" if title.endswith(".pdf") else
                                                  "application/vnd.openxmlformats-officedocument")
        assert unquote(headers["Content-Disposition"]).endswith(title.removeprefix("Öppna "))
        assert headers["Cache-Control"] == "no-store"
    async with bot.db.transaction() as session:
        rows = [m for m in (await session.execute(select(OutboxMessage))).scalars() if m.payload.get("files")]
    assert [r.status for r in rows] == ["sent"]

    # Published: the post in the leadership channel and, in its thread, the documents.
    publish = next(a for a in actions_of(card_of(draft_message)) if a["verb"] == review.PUBLISH)
    await bot.teams.execute(bot.sam, publish)
    await deliver_all(bot, clock)
    [post] = bot.fake.sent(LEADERSHIP)
    post_id = next(c.response["id"] for c in bot.fake.calls if c.body is post)
    thread = f"{LEADERSHIP};messageid={post_id}"
    [(reply, card)] = document_cards(bot, thread)
    assert reply["replyToId"] == post_id
    assert_valid_card(card)
    published = await the_review(bot, "published")
    for action in actions_of(card):
        status, body, _ = await fetch(bot, action["url"])
        assert status == 200 and body == (published.pdf if action["url"] == actions_of(card)[0]["url"] else
                                          published.docx)
    assert bot.fake.card_problems == []


async def test_links_cannot_be_forged_edited_or_used_after_they_expire(dbot, clock):
    bot = dbot
    await bot.make_coordinator(bot.sam)
    await bot.teams.message(bot.sam, "genomgång 2026")
    await bot.runtime.teams.idle()
    await deliver_all(bot, clock)
    [(_, card)] = document_cards(bot, f"a:personal-{bot.sam.id}")
    pdf_url = next(a["url"] for a in actions_of(card) if a["title"].endswith(".pdf"))
    token = pdf_url.rsplit("/", 1)[1]
    base = bot.base + "/documents/"

    not_found = {
        "no token": "x",
        "a broken signature": token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
        "the Word file on the PDF's signature": swap_claim(token, format="docx"),
        "another review on the PDF's signature": swap_claim(token, review=999),
        "signed with another key": jwt.encode({"kind": "review", "review": 1, "format": "pdf", "name": "x.pdf",
                                               "aud": "lisbot-document", "exp": 4_000_000_000}, "guess" * 8,
                                              algorithm="HS256"),
        "unsigned": jwt.encode({"kind": "review", "review": 1, "format": "pdf", "name": "x.pdf",
                                "aud": "lisbot-document", "exp": 4_000_000_000}, None, algorithm="none"),
    }
    for what, bad in not_found.items():
        status, body, headers = await fetch(bot, base + bad)
        assert status == 404, what
        assert "Dokumentet finns inte" in body.decode() and headers["Content-Type"].startswith("text/html"), what
        assert b"%PDF" not in body

    # A draft compiled again is another document: the old link says so rather than serving the new one.
    async with bot.db.transaction() as session:
        draft = (await session.execute(select(Review))).scalar_one()
        original = draft.pdf
        draft.pdf = original + b"\n% compiled again"
    status, body, _ = await fetch(bot, pdf_url)
    assert status == 410 and "Länken har slutat gälla" in body.decode()
    async with bot.db.transaction() as session:
        (await session.execute(select(Review))).scalar_one().pdf = original
    assert (await fetch(bot, pdf_url))[0] == 200

    clock.advance(timedelta(days=31))
    status, body, _ = await fetch(bot, pdf_url)
    assert status == 410 and "Länken har slutat gälla" in body.decode() and b"%PDF" not in body


async def test_without_a_public_address_documents_fail_with_a_clear_error(tbot, clock):
    await tbot.make_coordinator(tbot.sam)
    await tbot.teams.message(tbot.sam, "genomgång 2026")
    await tbot.runtime.teams.idle()
    await deliver_all(tbot, clock)
    async with tbot.db.transaction() as session:
        [row] = [m for m in (await session.execute(select(OutboxMessage))).scalars() if m.payload.get("files")]
    assert row.status == "failed" and "LISBOT_PUBLIC_URL" in row.last_error


async def test_exports_are_links_made_for_the_person_with_their_rights(dbot, clock):
    bot = dbot
    await bot.make_coordinator(bot.sam)
    sam = await bot.person(bot.sam)
    await bot.teams.message(bot.sam, "hej")
    await bot.runtime.teams.idle()
    home = card_of(bot.fake.sent(f"a:personal-{bot.sam.id}")[-1])
    buttons = {a.get("verb"): a for a in actions_of(home)}
    assert {"home_export_incidents", "home_export_breaches"} <= set(buttons)

    # The breach log from the home card's button: the card is replaced by one with the link.
    status, answer = await bot.teams.execute(bot.sam, buttons["home_export_breaches"])
    card = replaced_card(answer)
    [link] = actions_of(card)
    assert link["type"] == "Action.OpenUrl"
    status, body, headers = await fetch(bot, link["url"])
    from bot.model import Actor

    actor = Actor(sam.org_id, sam.id, bot.sam.id, "sv", "Europe/Stockholm")
    expected = await exports.breach_log(bot.runtime.svc, sam.org_id, "sv")
    assert status == 200 and body == expected.content and body.startswith(b"\xef\xbb\xbf")
    assert headers["Content-Type"].startswith("text/csv")

    # The incident log by command; Anna may have hers but not the breach log.
    await bot.teams.message(bot.sam, "exportera")
    await bot.runtime.teams.idle()
    card = card_of(bot.fake.sent(f"a:personal-{bot.sam.id}")[-1])
    status, body, _ = await fetch(bot, actions_of(card)[0]["url"])
    assert body == (await exports.incident_log(bot.runtime.svc, sam.org_id, "sv", actor)).content
    await bot.teams.message(bot.anna, "exportera dataskydd")
    await bot.runtime.teams.idle()
    refused = card_of(bot.fake.sent(f"a:personal-{bot.anna.id}")[-1])
    assert not actions_of(refused)
    assert bot.runtime.svc.texts.t("sv", "exports.breaches.denied") in card_text(refused)

    # Rights are checked again when the link is followed; and an export link lives minutes, not days.
    status, answer = await bot.teams.execute(bot.sam, buttons["home_export_breaches"])
    url = actions_of(replaced_card(answer))[0]["url"]
    async with bot.db.transaction() as session:
        for role in (await session.execute(select(PersonRole).where(PersonRole.person_id == sam.id))).scalars():
            await session.delete(role)
    status, body, _ = await fetch(bot, url)
    assert status == 404 and b"reference" not in body.lower()
    async with bot.db.transaction() as session:
        session.add(PersonRole(person_id=sam.id, role=COORDINATOR))
    assert (await fetch(bot, url))[0] == 200
    clock.advance(timedelta(minutes=16))
    assert (await fetch(bot, url))[0] == 410


from tests.test_teams import tbot  # noqa: E402,F401 — the fixture without a public address
