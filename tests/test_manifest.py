"""manifest.yml against the running bot: whatever the manifest tells Slack to send, the bot handles.

Each entry point is driven with a signed request into the real endpoint, as Slack would send it once the
app is created from this manifest. Bolt answers 404 to a request no listener matches, so a 200 and the
Web API call that follows show that the bot listens for it.
"""

from __future__ import annotations

import ast
import importlib
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from bot.runtime import SLACK_PATH
from tests.slackdriver import TEAM

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text("utf-8"))
FEATURES = MANIFEST.get("features", {})
SETTINGS = MANIFEST.get("settings", {})
COMMANDS = [c["command"] for c in FEATURES.get("slash_commands", [])]
SHORTCUTS = [(s["type"], s["callback_id"]) for s in FEATURES.get("shortcuts", [])]
BOT_EVENTS = SETTINGS.get("event_subscriptions", {}).get("bot_events", [])
SCOPES = MANIFEST.get("oauth_config", {}).get("scopes", {}).get("bot", [])
ANNA = "U0ANNA"


def request_urls() -> list[str]:
    urls = [c.get("url") for c in FEATURES.get("slash_commands", [])]
    urls.append(SETTINGS.get("event_subscriptions", {}).get("request_url"))
    urls.append(SETTINGS.get("interactivity", {}).get("request_url"))
    return urls


# ---- the manifest itself ------------------------------------------------------------------------------


def test_the_manifest_declares_entry_points():
    assert COMMANDS and SHORTCUTS and BOT_EVENTS


def test_every_request_url_is_the_same_slack_endpoint():
    urls = request_urls()
    assert all(urls), f"a request URL is missing: {urls}"
    assert len(set(urls)) == 1, f"different request URLs: {sorted(set(urls))}"
    url = urlparse(urls[0])
    assert url.scheme == "https"
    assert url.path == SLACK_PATH == "/slack/events"


def test_the_bot_scopes_cover_what_the_bot_calls():
    # chat.postMessage, slash commands and shortcuts, DMs to a user id, users.info with locale, e-mail;
    # conversations.history in DMs and channels (a message possibly sent before a crash is looked up there).
    assert {"chat:write", "commands", "im:write", "users:read", "users:read.email", "im:history",
            "channels:history", "groups:history"} <= set(SCOPES)


def test_interactivity_is_on_and_http_mode_matches_the_urls():
    assert SETTINGS.get("interactivity", {}).get("is_enabled") is True
    # The request URLs only matter in HTTP mode, which is what the manifest is set up for.
    assert SETTINGS.get("socket_mode_enabled") is False


def test_the_home_tab_is_enabled_when_the_bot_publishes_it():
    if "app_home_opened" in BOT_EVENTS:
        assert FEATURES.get("app_home", {}).get("home_tab_enabled") is True


def test_shortcut_types_are_known():
    assert {kind for kind, _ in SHORTCUTS} <= {"global", "message"}


def registrations() -> list[tuple[str, str, object]]:
    """What the code registers with Bolt: app.command(X), app.shortcut(X), app.event(X) anywhere in bot/, with X
    evaluated in its module (so COMMAND = "/incident" reads as "/incident")."""
    found = []
    for path in sorted((ROOT / "bot").glob("**/*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                 and node.func.attr in ("command", "shortcut", "event") and node.args
                 and ast.unparse(node.func.value).split(".")[-1] == "app"]
        if not calls:
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for call in calls:
            found.append((f"{path.relative_to(ROOT)}:{call.lineno}", call.func.attr,
                          eval(ast.unparse(call.args[0]), vars(module))))  # noqa: S307 — our own source
    return found


def test_everything_the_bot_listens_for_is_in_the_manifest():
    """The other direction: a listener the manifest does not declare never hears from Slack."""
    found = registrations()
    assert any(kind == "command" for _, kind, _ in found), "found no registrations; has the Bolt wiring moved?"
    undeclared = []
    for where, kind, what in found:
        if kind == "command":
            declared = what in COMMANDS
        elif kind == "shortcut":
            declared = what in {callback_id for _, callback_id in SHORTCUTS}
        else:
            event_type = what.get("type") if isinstance(what, dict) else what
            declared = (any(e.startswith("message.") for e in BOT_EVENTS) if event_type == "message"
                        else event_type in BOT_EVENTS)
        if not declared:
            undeclared.append(f"{where}: app.{kind}({what!r})")
    assert not undeclared, "missing from manifest.yml:\n" + "\n".join(undeclared)


# ---- driving the bot ---------------------------------------------------------------------------------


async def test_an_undeclared_command_is_not_handled(bot):
    """The control for the tests below: Bolt says 404 to what nobody listens for, and nothing opens."""
    reply = await bot.slack.command(ANNA, command="/not-in-the-manifest")
    assert reply.status == 404
    assert not bot.fake.calls_to("views.open")


# Commands that answer where they were typed instead of opening a modal (the review drafts in a DM).
ANSWERS_IN_PLACE = {"/genomgang"}


@pytest.mark.parametrize("command", COMMANDS)
async def test_every_slash_command_answers(bot, command):
    reply = await bot.slack.command(ANNA, command=command)
    assert reply.status == 200, reply.text
    if command in ANSWERS_IN_PLACE:
        said = (await bot.fake.wait_for("chat.postEphemeral"))[-1].params
        assert said["user"] == ANNA and said["text"]
        return
    view = (await bot.fake.wait_for("views.open"))[-1].response["view"]
    assert view["type"] == "modal"


@pytest.mark.parametrize("kind,callback_id", SHORTCUTS, ids=[f"{k}:{c}" for k, c in SHORTCUTS])
async def test_every_shortcut_opens_a_modal(bot, kind, callback_id):
    # Bolt's app.shortcut() matches both payload types, so each is sent as Slack sends it for its type.
    message_text = "Någon har lämnat en dator olåst."
    if kind == "global":
        reply = await bot.slack.shortcut(ANNA, callback_id=callback_id)
    else:
        reply = await bot.slack.message_shortcut(ANNA, channel="C0GENERAL", ts="1764000000.000100",
                                                 text=message_text, callback_id=callback_id)
    assert reply.status == 200, reply.text
    view = (await bot.fake.wait_for("views.open"))[-1].response["view"]
    assert view["type"] == "modal"
    if kind == "message":
        # A message shortcut works on that message: its text is carried into the form.
        assert message_text in str(view["blocks"])


# The manifest subscribes to message events per conversation kind ("message.im"); the payload Slack then
# sends has type "message" and says the kind in channel_type.
CHANNEL_TYPES = {"im": ("im", "D0ANNA"), "channels": ("channel", "C0GENERAL"), "groups": ("group", "G0PRIVATE"),
                 "mpim": ("mpim", "G0GROUPDM")}


def sample_event(name: str) -> dict:
    """The event as Slack delivers it for a manifest subscription `name`."""
    stamp = f"{time.time():.6f}"
    if name.startswith("message."):
        channel_type, channel = CHANNEL_TYPES[name.split(".", 1)[1]]
        return {"type": "message", "channel_type": channel_type, "channel": channel, "user": ANNA,
                "text": "Hej!", "ts": stamp, "event_ts": stamp}
    if name in ("team_join", "user_change"):
        return {"type": name, "event_ts": stamp, "user": {
            "id": "U0NEW", "team_id": TEAM, "name": "nina", "real_name": "Nina Nilsson", "deleted": False,
            "is_bot": False, "tz": "Europe/Stockholm", "locale": "sv-SE",
            "profile": {"real_name": "Nina Nilsson", "display_name": "nina", "email": "nina@example.se"}}}
    event = {"type": name, "user": ANNA, "channel": "D0ANNA", "event_ts": stamp}
    if name == "app_home_opened":
        event["tab"] = "home"
    return event


@pytest.mark.parametrize("name", BOT_EVENTS)
async def test_every_bot_event_is_handled(bot, name):
    reply = await bot.slack.event(sample_event(name), event_id=f"Ev{name}01")
    assert reply.status == 200, f"{name}: HTTP {reply.status} {reply.text}"
    if name == "app_home_opened":
        published = (await bot.fake.wait_for("views.publish"))[-1]
        assert published.params["user_id"] == ANNA


async def test_an_undeclared_event_is_not_handled(bot):
    reply = await bot.slack.event({"type": "reaction_added", "user": ANNA, "reaction": "eyes",
                                   "item": {"type": "message", "channel": "C0GENERAL", "ts": "1.2"},
                                   "event_ts": f"{time.time():.6f}"}, event_id="EvControl01")
    assert reply.status == 404
