"""Drives the bot the way Slack does: signed HTTP requests into the real /slack/events endpoint."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

TEAM = "T0001"


@dataclass
class Reply:
    status: int
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class SlackDriver:
    def __init__(self, url: str, signing_secret: str, fake, settle=None) -> None:
        """`settle`: a coroutine function that returns once the bot's work after its last answer is done
        (modals opened, views updated), as a person only acts again after the screen changed."""
        self.url, self.secret, self.fake, self.settle = url, signing_secret, fake, settle
        self.verifier = SignatureVerifier(signing_secret)
        self.http = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.http.close()

    # ---- raw -------------------------------------------------------------

    def signed_headers(self, body: str, *, timestamp: int | None = None, content_type: str) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=ts, body=body),
        }

    async def post(self, body: str, *, content_type: str, headers: dict[str, str] | None = None,
                   timestamp: int | None = None, settle: bool = True) -> Reply:
        all_headers = self.signed_headers(body, timestamp=timestamp, content_type=content_type)
        all_headers.update(headers or {})
        async with self.http.post(self.url, data=body.encode(), headers=all_headers) as response:
            reply = Reply(response.status, await response.text())
        if settle and self.settle is not None:
            await self.settle()
        return reply

    async def post_form(self, fields: dict[str, str], **kw) -> Reply:
        return await self.post(urlencode(fields), content_type="application/x-www-form-urlencoded", **kw)

    async def post_payload(self, payload: dict[str, Any], **kw) -> Reply:
        return await self.post_form({"payload": json.dumps(payload)}, **kw)

    # ---- what people do ---------------------------------------------------

    async def command(self, user: str, command: str = "/incident", text: str = "", **kw) -> Reply:
        return await self.post_form({
            "token": "legacy", "team_id": TEAM, "team_domain": "kulturhuset", "channel_id": "C0GENERAL",
            "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": command, "text": text,
            "api_app_id": "A0LISBOT", "response_url": "https://hooks.slack.invalid/commands/1",
            "trigger_id": self.fake.issue_trigger(),
        }, **kw)

    async def shortcut(self, user: str, callback_id: str = "report_incident") -> Reply:
        return await self.post_payload({
            "type": "shortcut", "token": "legacy", "action_ts": f"{time.time():.6f}", "team": {"id": TEAM},
            "user": {"id": user, "team_id": TEAM}, "callback_id": callback_id,
            "trigger_id": self.fake.issue_trigger(),
        })

    async def message_shortcut(self, user: str, *, channel: str, ts: str, text: str,
                               callback_id: str = "report_message_as_incident") -> Reply:
        return await self.post_payload({
            "type": "message_action", "token": "legacy", "action_ts": f"{time.time():.6f}", "team": {"id": TEAM},
            "user": {"id": user, "team_id": TEAM}, "callback_id": callback_id, "channel": {"id": channel},
            "message": {"type": "message", "user": "U0OTHER", "text": text, "ts": ts},
            "message_ts": ts, "trigger_id": self.fake.issue_trigger(), "response_url": "https://hooks.slack.invalid/1",
        })

    async def click(self, user: str, action_id: str, value: str = "", *, container: dict | None = None) -> Reply:
        return await self.post_payload({
            "type": "block_actions", "token": "legacy", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM},
            "api_app_id": "A0LISBOT", "trigger_id": self.fake.issue_trigger(),
            "container": container or {"type": "view", "view_id": "VHOME"},
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
                         "action_ts": f"{time.time():.6f}"}],
        })

    async def submit(self, user: str, view: dict[str, Any], values: dict[str, Any], **kw) -> Reply:
        """Submit an opened modal with `values` filled in, as the Slack client would."""
        submitted = dict(view)
        submitted["state"] = {"values": state_values(view, values)}
        return await self.post_payload({
            "type": "view_submission", "token": "legacy", "team": {"id": TEAM},
            "user": {"id": user, "team_id": TEAM}, "api_app_id": "A0LISBOT",
            "trigger_id": self.fake.issue_trigger(), "view": submitted,
        }, **kw)

    async def event(self, event: dict[str, Any], *, event_id: str, headers: dict[str, str] | None = None) -> Reply:
        body = json.dumps({
            "token": "legacy", "team_id": TEAM, "api_app_id": "A0LISBOT", "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()), "event": event,
        })
        return await self.post(body, content_type="application/json", headers=headers)


def state_values(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Block Kit state for the input blocks of `view`, as Slack sends it back on submit."""
    state: dict[str, Any] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element, block_id = block["element"], block["block_id"]
        value = values.get(block_id)
        kind = element["type"]
        entry: dict[str, Any] = {"type": kind}
        if kind in ("checkboxes", "multi_static_select"):
            chosen = set(value or ())
            entry["selected_options"] = [o for o in element["options"] if o["value"] in chosen]
        elif kind in ("radio_buttons", "static_select"):
            match = [o for o in element["options"] if o["value"] == value]
            entry["selected_option"] = match[0] if match else None
        elif kind == "users_select":
            entry["selected_user"] = value
        elif kind == "datepicker":
            entry["selected_date"] = value.isoformat() if hasattr(value, "isoformat") else value
        elif kind == "datetimepicker":
            entry["selected_date_time"] = int(value.timestamp()) if isinstance(value, datetime) else value
        else:
            entry["value"] = None if value is None else str(value)
        state[block_id] = {element["action_id"]: entry}
    return state
