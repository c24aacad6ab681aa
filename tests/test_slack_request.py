"""Slack's form bodies decoded in C (bot/slack/request.py): the same fields as Bolt's own decoding."""

from __future__ import annotations

import json
import random
import string
from urllib.parse import urlencode

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body as bolt_parse_body

from bot.slack.request import SlackRequest, form_fields, parse_body
from tests.test_incident_report import ANNA, incidents, open_report, valid_values

FORM = "application/x-www-form-urlencoded"
TRICKY = ["Lösenord + 100 % & mer = fel?", "åäö ÅÄÖ é € 😀", "a+b%2Bc", "%zz %2 %", "", " ", "&&==", "'()*!~-._",
          "<@U0ANNA> <!channel> `kod`", "rad 1\nrad 2\r\n\ttab", "#hashtag", "x" * 3000]


def test_interaction_payloads_decode_as_bolt_decodes_them():
    for text in TRICKY:
        payload = {"type": "view_submission", "view": {"id": "V1", "state": {"values": {"d": {"d": {"value": text}}}}}}
        body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)})
        assert parse_body(body, FORM) == bolt_parse_body(body, FORM) == payload


def test_command_fields_decode_as_bolt_decodes_them():
    rng = random.Random(7)
    alphabet = string.printable + "åäöÅÄÖé€😀%+&="
    for _ in range(2000):
        fields = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))):
                  "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(rng.randint(1, 5))}
        body = urlencode(fields)
        assert form_fields(body) is not None  # what a form encoder writes takes the fast path
        assert parse_body(body, FORM) == bolt_parse_body(body, FORM)


@pytest.mark.parametrize("body", ["a=1#frag", "a=1\nb=2", "a=\t1", "text=hej då&x=1", "a=1;b=2", "payload=%7B%22a%22%3A%201%7D%0D%0A&x=1 2"])
def test_bodies_no_form_encoder_writes_fall_back_to_bolt(body):
    assert parse_body(body, FORM) == bolt_parse_body(body, FORM)


def test_a_broken_payload_is_refused_as_bolt_refuses_it():
    with pytest.raises(json.JSONDecodeError):
        bolt_parse_body("payload=%7Bnot-json", FORM)
    with pytest.raises(json.JSONDecodeError):
        parse_body("payload=%7Bnot-json", FORM)


def test_json_bodies_are_bolt_s():
    body = json.dumps({"type": "event_callback", "event": {"type": "app_home_opened", "text": "a+b%20"}})
    assert parse_body(body, "application/json") == json.loads(body)


async def test_a_report_full_of_escapes_is_stored_exactly_as_typed(bot):
    """End to end through the signed endpoint: what the person typed is what is stored."""
    description = "Lösenord + 100 % & <mer> = fel? 😀 'citat' (parentes) ~ #kanal"
    view = await open_report(bot)
    reply = await bot.slack.submit(ANNA, view, valid_values(description=description, asset="Ekonomi & lön 50%"))
    assert reply.status == 200 and reply.json["response_action"] == "update"
    [incident] = await incidents(bot)
    assert incident.description == description and incident.asset_text == "Ekonomi & lön 50%"


@pytest.mark.parametrize("fields", [
    {"command": "/incident", "team_id": "T0001", "user_id": "U0ANNA", "channel_id": "C0GENERAL", "text": "a+b"},
    {"payload": json.dumps({"type": "view_submission", "team": {"id": "T0001"}, "user": {"id": "U0ANNA"},
                            "view": {"id": "V1", "state": {"values": {}}}})},
    {"payload": json.dumps({"type": "block_actions", "team": {"id": "T0001"}, "user": {"id": "U0ANNA"},
                            "channel": {"id": "D0ANNA"}, "actions": [{"action_id": "x", "value": "1"}]})},
])
def test_the_request_bolt_gets_is_the_one_it_would_have_built(fields):
    body, headers = urlencode(fields), {"content-type": [FORM], "x-slack-signature": ["v0=x"]}
    ours, bolts = SlackRequest(body=body, query="", headers=headers), AsyncBoltRequest(body=body, query="", headers=headers)
    assert ours.raw_body == bolts.raw_body == body  # what the signature is checked against
    assert ours.body == bolts.body and ours.headers == bolts.headers and ours.query == bolts.query
    assert dict(ours.context) == dict(bolts.context) and ours.mode == bolts.mode == "http"
