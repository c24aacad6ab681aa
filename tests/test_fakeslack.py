"""The fake Slack server, driven by slack_sdk's real AsyncWebClient."""

import asyncio
import json
import random
import re

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from tests.fakeslack import FakeSlack

TOKEN = "xoxb-test"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fake(clock):
    async with FakeSlack(clock=clock) as server:
        yield server


@pytest.fixture
def client(fake) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake.base_url)


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": text}


def section(text: str, **extra) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def modal(title: str = "Title", blocks: list | None = None, **extra) -> dict:
    return {"type": "modal", "title": plain(title), "blocks": blocks or [section("hi")], **extra}


async def slack_error(call) -> AsyncSlackResponse:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value.response


async def test_auth_and_team_info_parse_as_slack_responses(fake, client):
    auth = await client.auth_test()
    assert isinstance(auth, AsyncSlackResponse)
    assert auth.status_code == 200
    assert auth.headers["Content-Type"].startswith("application/json")
    assert (auth["user_id"], auth["team_id"]) == ("UBOT", "T0001")
    assert (await client.team_info())["team"]["id"] == "T0001"


async def test_missing_or_wrong_token_and_unknown_method(fake, client):
    for token, error in ((None, "not_authed"), ("xoxb-wrong", "invalid_auth")):
        response = await slack_error(AsyncWebClient(token=token, base_url=fake.base_url).auth_test())
        assert (response.status_code, response["error"]) == (200, error)
    assert (await slack_error(client.api_call("chat.frobnicate")))["error"] == "unknown_method"
    assert fake.calls_to("auth.test") == []
    assert len(fake.calls_to("auth.test", ok_only=False)) == 2


async def test_message_lifecycle(fake, client):
    blocks = [section("*hello*", block_id="greeting")]
    posted = await client.chat_postMessage(channel="C1", text="hello", blocks=blocks)
    assert re.fullmatch(r"\d{10}\.\d{6}", posted["ts"])
    assert posted["channel"] == "C1"
    assert posted["message"]["blocks"] == blocks
    assert fake.calls_to("chat.postMessage")[0].headers["Authorization"] == f"Bearer {TOKEN}"

    await client.chat_update(channel="C1", ts=posted["ts"], text="edited")
    assert [(m["ts"], m["text"]) for m in fake.messages["C1"]] == [(posted["ts"], "edited")]
    link = await client.chat_getPermalink(channel="C1", message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/C1/p{posted['ts'].replace('.', '')}")
    assert (await client.chat_postEphemeral(channel="C1", user="U1", text="psst"))["message_ts"]

    await client.chat_delete(channel="C1", ts=posted["ts"])
    assert fake.messages["C1"] == []
    response = await slack_error(client.chat_update(channel="C1", ts=posted["ts"], text="again"))
    assert response["error"] == "message_not_found"


async def test_form_json_and_query_arguments_all_arrive_decoded(fake, client):
    blocks = [section("hi")]
    await client.api_call("chat.postMessage", data={"channel": "C1", "text": "t", "blocks": json.dumps(blocks)})
    await client.api_call("chat.postMessage", json={"channel": "C1", "text": "t", "blocks": blocks})
    fake.add_user("U1", name="ada")
    await client.api_call("users.info", http_verb="GET", params={"user": "U1"})
    first, second = fake.calls_to("chat.postMessage")
    assert first.params["blocks"] == second.params["blocks"] == blocks
    assert fake.calls_to("users.info")[0].params["user"] == "U1"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_post_message_argument_errors(fake, client):
    assert (await slack_error(client.chat_postMessage(channel="", text="x")))["error"] == "channel_not_found"
    assert (await slack_error(client.chat_postMessage(channel="C1")))["error"] == "no_text"
    response = await slack_error(client.chat_postMessage(channel="C1", text="x" * 40_001))
    assert response["error"] == "msg_too_long"


async def test_ratelimited_fault_is_retried_by_the_rate_limit_handler(fake, client, monkeypatch):
    monkeypatch.setattr(random, "random", lambda: 0.0)  # the handler adds up to 1 s of jitter
    fake.fail_next("chat.postMessage", retry_after=0)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"]
    assert [c.status for c in fake.calls_to("chat.postMessage", ok_only=False)] == [429, 200]


async def test_ratelimited_fault_without_a_handler_raises_with_retry_after(fake, client):
    fake.fail_next("*", retry_after=7)
    response = await slack_error(client.chat_postMessage(channel="C1", text="hi"))
    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    assert response["error"] == "ratelimited"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_error_faults(fake, client, status):
    fake.fail_next("users.list", status=status)
    response = await slack_error(client.users_list())
    assert response.status_code == status
    assert fake.calls[-1].response is None


async def test_server_error_fault_is_retried_by_the_server_error_handler(fake, client):
    fake.fail_next("auth.test", status=500, count=2)
    no_wait = FixedValueRetryIntervalCalculator(fixed_internal=0)
    client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=no_wait))
    assert (await client.auth_test())["ok"]
    assert [c.status for c in fake.calls] == [500, 500, 200]


async def test_error_fault_and_delay_fault(fake):
    fake.fail_next("auth.test", error="account_inactive")
    fake.fail_next("auth.test", status=200, delay=5)
    impatient = AsyncWebClient(token=TOKEN, base_url=fake.base_url, timeout=0.1)
    assert (await slack_error(impatient.auth_test()))["error"] == "account_inactive"
    with pytest.raises(TimeoutError):
        await impatient.auth_test()


def text_input(**extra) -> dict:
    return {"type": "plain_text_input", "action_id": "in", **extra}


def input_block(label: str = "Label", **element) -> dict:
    return {"type": "input", "label": plain(label), "element": text_input(**element)}


def select(*options: tuple[str, str]) -> dict:
    return {"type": "static_select", "action_id": "s",
            "options": [{"text": plain(text), "value": value} for text, value in options]}


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([section("x")] * 51, "no more than 50 items allowed [json-pointer:/blocks]"),
        ([section("x" * 3001)], "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"),
        ([section("")], "must be more than 0 characters [json-pointer:/blocks/0/text/text]"),
        ([{"type": "section", "fields": [plain("f")] * 11}],
         "no more than 10 items allowed [json-pointer:/blocks/0/fields]"),
        ([{"type": "header", "text": plain("h" * 151)}],
         "must be less than 151 characters [json-pointer:/blocks/0/text/text]"),
        ([section("a", block_id="b"), section("b", block_id="b")],
         "duplicate block_id: b [json-pointer:/blocks/1/block_id]"),
        ([section("a", block_id="b" * 256)], "must be less than 256 characters [json-pointer:/blocks/0/block_id]"),
        ([{"type": "actions", "elements": [{"type": "button", "text": plain("b" * 76), "action_id": "a"}]}],
         "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"),
        ([{"type": "context", "elements": [plain("c")] * 11}],
         "no more than 10 items allowed [json-pointer:/blocks/0/elements]"),
        ([input_block()], "input blocks are not allowed in a message [json-pointer:/blocks/0/type]"),
        ([{"type": "carousel"}], "unsupported block type: carousel [json-pointer:/blocks/0/type]"),
        # Left to slack_sdk's own validators:
        ([{"type": "image", "image_url": "https://x.test/a.png", "alt_text": "a" * 2001}],
         "alt_text attribute cannot exceed 2000 characters [json-pointer:/blocks/0]"),
    ],
)
async def test_message_blocks_over_slack_limits_are_rejected(fake, client, blocks, expected):
    response = await slack_error(client.chat_postMessage(channel="C1", text="t", blocks=blocks))
    assert (response.status_code, response["error"]) == (200, "invalid_blocks")
    assert response["errors"] == [expected]
    assert response["response_metadata"]["messages"] == [f"[ERROR] {expected}"]
    assert "C1" not in fake.messages


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        (modal("t" * 25), "must be less than 25 characters [json-pointer:/view/title/text]"),
        (modal(submit=plain("s" * 25)), "must be less than 25 characters [json-pointer:/view/submit/text]"),
        (modal(blocks=[section("x")] * 101), "no more than 100 items allowed [json-pointer:/view/blocks]"),
        (modal(private_metadata="m" * 3001),
         "must be less than 3001 characters [json-pointer:/view/private_metadata]"),
        (modal(callback_id="c" * 256), "must be less than 256 characters [json-pointer:/view/callback_id]"),
        ({**modal(), "type": "home"}, "must be modal [json-pointer:/view/type]"),
        ({"type": "modal", "blocks": [section("x")]}, "missing required field: title [json-pointer:/view/title]"),
        (modal(blocks=[input_block()]),
         "must provide a submit property when using input blocks [json-pointer:/view/submit]"),
        (modal(submit=plain("Go"), blocks=[input_block("l" * 2001)]),
         "must be less than 2001 characters [json-pointer:/view/blocks/0/label/text]"),
        (modal(submit=plain("Go"), blocks=[input_block(max_length=5, initial_value="123456")]),
         "must be less than 6 characters [json-pointer:/view/blocks/0/element/initial_value]"),
        (modal(blocks=[section("x", accessory=select(*[("o", "v")] * 101))]),
         "no more than 100 items allowed [json-pointer:/view/blocks/0/accessory/options]"),
        (modal(blocks=[section("x", accessory=select(("o" * 76, "v")))]),
         "must be less than 76 characters [json-pointer:/view/blocks/0/accessory/options/0/text/text]"),
        (modal(blocks=[section("x", accessory=select(("o", "v" * 151)))]),
         "must be less than 151 characters [json-pointer:/view/blocks/0/accessory/options/0/value]"),
    ],
)
async def test_views_over_slack_limits_are_rejected(fake, client, view, expected):
    response = await slack_error(client.views_open(trigger_id=fake.issue_trigger(), view=view))
    assert response["error"] == "invalid_arguments"
    assert f"[ERROR] {expected}" in response["response_metadata"]["messages"]
    assert fake.views == {}


async def test_views_open_update_push_and_publish(fake, client):
    opened = (await client.views_open(trigger_id=fake.issue_trigger(), view=modal(callback_id="cb")))["view"]
    assert opened["id"].startswith("V") and opened["hash"]
    assert (opened["state"], opened["callback_id"], opened["root_view_id"]) == ({"values": {}}, "cb", opened["id"])

    updated = (await client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("Next")))["view"]
    assert fake.views[opened["id"]]["title"]["text"] == "Next"
    response = await slack_error(client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal()))
    assert response["error"] == "hash_conflict"

    pushed = (await client.views_push(trigger_id=fake.issue_trigger(), view=modal("Pushed")))["view"]
    assert (pushed["root_view_id"], pushed["previous_view_id"]) == (opened["id"], updated["id"])

    home = {"type": "home", "blocks": [section("welcome")]}
    published = (await client.views_publish(user_id="U1", view=home))["view"]
    assert fake.home_views["U1"]["id"] == published["id"]
    assert (await slack_error(client.views_publish(user_id="U1", view=modal())))["error"] == "invalid_arguments"


async def test_trigger_ids_are_single_use_and_expire(fake, client, clock):
    trigger = fake.issue_trigger()
    await client.views_open(trigger_id=trigger, view=modal())
    assert (await slack_error(client.views_open(trigger_id=trigger, view=modal())))["error"] == "exchanged_trigger_id"
    assert (await slack_error(client.views_open(trigger_id="1.2.abc", view=modal())))["error"] == "invalid_trigger_id"
    stale = fake.issue_trigger()
    clock.now += fake.trigger_ttl + 0.1
    assert (await slack_error(client.views_open(trigger_id=stale, view=modal())))["error"] == "expired_trigger_id"


async def test_users_list_pages_and_user_lookups(fake, client):
    for n in range(5):
        fake.add_user(f"U{n}", name=f"user{n}", email=f"user{n}@example.com", locale="en-GB")
    pages = []
    async for page in await client.users_list(limit=2, include_locale=True):  # follows next_cursor
        pages.append([(member["id"], member["locale"]) for member in page["members"]])
    assert [[user_id for user_id, _ in page] for page in pages] == [["U0", "U1"], ["U2", "U3"], ["U4"]]
    assert {locale for page in pages for _, locale in page} == {"en-GB"}
    assert (await slack_error(client.users_list(cursor="bm9wZQ==")))["error"] == "invalid_cursor"

    user = (await client.users_info(user="U3"))["user"]
    assert (user["name"], user["tz"], "locale" in user) == ("user3", "Europe/Stockholm", False)
    assert (await client.users_info(user="U3", include_locale=True))["user"]["locale"] == "en-GB"
    assert (await client.users_lookupByEmail(email="USER4@example.com"))["user"]["id"] == "U4"
    assert (await slack_error(client.users_lookupByEmail(email="nobody@example.com")))["error"] == "users_not_found"
    assert (await slack_error(client.users_info(user="U9")))["error"] == "user_not_found"


async def test_conversations_open_returns_the_same_dm(fake, client):
    first = await client.conversations_open(users="U1")
    again = await client.conversations_open(users="U1")
    assert first["channel"]["id"] == again["channel"]["id"] and first["channel"]["id"].startswith("D")
    assert again["already_open"] is True
    info = await client.conversations_info(channel=first["channel"]["id"])
    assert (info["channel"]["is_im"], info["channel"]["user"]) == (True, "U1")
    posted = await client.chat_postMessage(channel="U1", text="hi")  # a user id posts into the DM
    assert posted["channel"] == first["channel"]["id"]
    assert (await slack_error(client.conversations_info(channel="D404")))["error"] == "channel_not_found"


async def test_file_upload_end_to_end(fake, client):
    content = b"id,name\n1,ada\n"
    result = await client.files_upload_v2(channel="C1", content=content, filename="report.csv",
                                          title="Report", initial_comment="Here you go")
    file_id = result["file"]["id"]
    assert result["files"][0]["title"] == "Report"
    upload = fake.uploaded_files[file_id]
    assert (upload["content"], upload["filename"], upload["channel_id"]) == (content, "report.csv", "C1")
    assert upload["initial_comment"] == "Here you go"
    assert fake.messages["C1"][0]["files"][0]["id"] == file_id
    assert [c.method for c in fake.calls] == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    response = await slack_error(client.files_completeUploadExternal(files=[{"id": "F404"}], channel_id="C1"))
    assert response["error"] == "file_not_found"


async def test_rate_limits_are_enforced_per_method_and_channel(clock):
    async with FakeSlack(enforce_rate_limits=True, clock=clock) as fake:
        client = AsyncWebClient(token=TOKEN, base_url=fake.base_url)
        for _ in range(20):  # users.list is Tier 2: 20 a minute
            await client.users_list()
        clock.now += 15
        response = await slack_error(client.users_list())
        assert (response.status_code, response.headers["Retry-After"]) == (429, "45")
        clock.now += 45
        assert (await client.users_list())["ok"]

        fake.set_tier("chat.postMessage", 2)
        for _ in range(2):
            await client.chat_postMessage(channel="C1", text="hi")
        assert (await slack_error(client.chat_postMessage(channel="C1", text="hi"))).status_code == 429
        assert (await client.chat_postMessage(channel="C2", text="hi"))["ok"]  # the limit is per channel


async def test_wait_for_sees_calls_made_concurrently_and_reports_timeouts(fake, client):
    async def post_later() -> None:
        await asyncio.sleep(0.01)
        await client.chat_postMessage(channel="C1", text="hi")

    task = asyncio.create_task(post_later())
    calls = await fake.wait_for("chat.postMessage", timeout=1)
    await task
    assert calls[0].params["text"] == "hi"
    with pytest.raises(AssertionError, match=r"recorded: \['chat.postMessage'\]"):
        await fake.wait_for("views.open", timeout=0.05)
