"""A fake Slack Web API server for the test suite and benchmarks.

It listens on 127.0.0.1 inside the running event loop, so slack_sdk's real
AsyncWebClient can talk to it through ``base_url``. It answers with the shapes,
status codes and headers Slack documents, records every request, injects
faults on demand and rejects Block Kit payloads that break Slack's limits.

The file upload endpoint (the ``upload_url`` handed out by
files.getUploadURLExternal) is recorded as the pseudo method ``"upload"``; it
can be faulted like any other method. Files that members share (``add_file``)
are served from their ``url_private`` / ``url_private_download`` to requests
with the bot token (``Authorization: Bearer``), recorded as the pseudo method
``"files.download"``; without the token Slack answers with its login page.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import itertools
import json
import math
import mimetypes
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

# Requests per minute per workspace, from Slack's method reference: Tier 2 = 20,
# Tier 3 = 50, Tier 4 = 100; auth.test and chat.getPermalink allow "hundreds".
# chat.postMessage is special: one message per second per channel, counted here
# as 60 a minute per channel so that short bursts pass.
_TIER2, _TIER3, _TIER4, _HUNDREDS = 20, 50, 100, 600
RATE_LIMITS = {
    "auth.test": _HUNDREDS,
    "team.info": _TIER3,
    "chat.postMessage": 60,
    "chat.update": _TIER3,
    "chat.postEphemeral": _TIER4,
    "chat.getPermalink": _HUNDREDS,
    "chat.delete": _TIER3,
    "conversations.open": _TIER3,
    "conversations.info": _TIER3,
    "conversations.history": _TIER3,
    "views.open": _TIER4,
    "views.update": _TIER4,
    "views.push": _TIER4,
    "views.publish": _TIER4,
    "users.info": _TIER4,
    "users.list": _TIER2,
    "users.lookupByEmail": _TIER3,
    "files.getUploadURLExternal": _TIER4,
    "files.completeUploadExternal": _TIER4,
    "files.info": _TIER4,
}

# Arguments that carry JSON; form-encoded requests send them as JSON strings.
_JSON_ARGS = frozenset({"attachments", "blocks", "files", "metadata", "view"})
# Message fields that are stored as sent.
_MESSAGE_EXTRAS = ("thread_ts", "attachments", "metadata")
_ERROR_PAGE = "<html><head><title>{status}</title></head><body><h1>Server Error</h1></body></html>"


@dataclass
class Call:
    method: str
    params: dict
    headers: dict
    status: int
    response: dict | None
    at: float

    @property
    def ok(self) -> bool:
        # The upload endpoint answers plain text, so a 200 without JSON counts as ok.
        return self.status == 200 and (self.response or {}).get("ok", True) is True


class _SlackError(Exception):
    """Raised by a method handler to answer HTTP 200 {"ok": false, ...}."""

    def __init__(self, error: str, problems: Sequence[str] = (), **extra: Any):
        super().__init__(error)
        self.body = {"ok": False, "error": error, **extra}
        if problems:
            self.body["response_metadata"] = {"messages": [f"[ERROR] {p}" for p in problems]}


def _missing(name: str) -> _SlackError:
    return _SlackError("invalid_arguments", [f"missing required field: {name} [json-pointer:/{name}]"])


def _flag(value: Any) -> bool:
    return value in (True, 1, "1", "true")


def _int(params: dict, name: str) -> int:
    try:
        return int(params.get(name) or 0)
    except (TypeError, ValueError):
        raise _SlackError("invalid_arguments", [f"must be an integer [json-pointer:/{name}]"]) from None


def _items(value: Any) -> list:
    return value if isinstance(value, list) else []


# --------------------------------------------------------------------------- Block Kit

# Block types Slack accepts on each surface.
_MESSAGE_BLOCKS = {"actions", "context", "divider", "file", "header", "image", "markdown", "rich_text",
                   "section", "table", "video"}
_VIEW_BLOCKS = {"actions", "context", "divider", "header", "image", "input", "rich_text", "section", "video"}
_SURFACE_BLOCKS = {"message": _MESSAGE_BLOCKS, "modal": _VIEW_BLOCKS, "home": _VIEW_BLOCKS}
_MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}
# How many options each option-bearing element may carry.
_MAX_OPTIONS = {"static_select": 100, "multi_static_select": 100, "overflow": 5, "radio_buttons": 10,
                "checkboxes": 10}


class _BlockKit:
    """Collects Block Kit limit violations, worded and located the way Slack reports them."""

    def __init__(self, surface: str):
        self.surface = surface
        self.problems: list[str] = []
        self._block_ids: set[str] = set()

    def fail(self, ptr: str, message: str) -> None:
        self.problems.append(f"{message} [json-pointer:{ptr}]")

    def max_chars(self, value: Any, limit: int, ptr: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.fail(ptr, f"must be less than {limit + 1} characters")

    def max_items(self, value: Any, limit: int, ptr: str) -> None:
        if isinstance(value, list) and len(value) > limit:
            self.fail(ptr, f"no more than {limit} items allowed")

    def text(self, obj: Any, limit: int, ptr: str, *, plain: bool = False) -> None:
        if obj is None:
            return
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            self.fail(ptr, "must be a text object")
            return
        if plain and obj.get("type") != "plain_text":
            self.fail(ptr + "/type", "must be plain_text")
        if not obj["text"]:
            self.fail(ptr + "/text", "must be more than 0 characters")
        self.max_chars(obj["text"], limit, ptr + "/text")

    def view(self, view: Any, ptr: str) -> None:
        if not isinstance(view, dict):
            self.fail(ptr, "must be a view object")
            return
        if view.get("type") != self.surface:
            self.fail(ptr + "/type", f"must be {self.surface}")
        if self.surface == "modal":
            if view.get("title") is None:
                self.fail(ptr + "/title", "missing required field: title")
            self.text(view.get("title"), 24, ptr + "/title", plain=True)
            self.text(view.get("submit"), 24, ptr + "/submit", plain=True)
            self.text(view.get("close"), 24, ptr + "/close", plain=True)
            has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in _items(view.get("blocks")))
            if has_input and view.get("submit") is None:
                self.fail(ptr + "/submit", "must provide a submit property when using input blocks")
        self.max_chars(view.get("private_metadata"), 3000, ptr + "/private_metadata")
        self.max_chars(view.get("callback_id"), 255, ptr + "/callback_id")
        self.max_chars(view.get("external_id"), 255, ptr + "/external_id")
        if isinstance(view.get("blocks"), list):
            self.blocks(view["blocks"], ptr + "/blocks")
        else:
            self.fail(ptr + "/blocks", "missing required field: blocks")

    def blocks(self, blocks: list, ptr: str) -> None:
        self.max_items(blocks, _MAX_BLOCKS[self.surface], ptr)
        for i, block in enumerate(blocks):
            self.block(block, f"{ptr}/{i}")

    def block(self, block: Any, ptr: str) -> None:
        if not isinstance(block, dict):
            self.fail(ptr, "must be a block object")
            return
        kind = block.get("type")
        if kind not in _SURFACE_BLOCKS[self.surface]:
            known = any(kind in kinds for kinds in _SURFACE_BLOCKS.values())
            self.fail(ptr + "/type", f"{kind} blocks are not allowed in a {self.surface}" if known
                      else f"unsupported block type: {kind}")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            self.max_chars(block_id, 255, ptr + "/block_id")
            if block_id in self._block_ids:
                self.fail(ptr + "/block_id", f"duplicate block_id: {block_id}")
            self._block_ids.add(block_id)
        if kind == "section":
            self.text(block.get("text"), 3000, ptr + "/text")
            self.max_items(block.get("fields"), 10, ptr + "/fields")
            for i, field in enumerate(_items(block.get("fields"))):
                self.text(field, 2000, f"{ptr}/fields/{i}")
            if "accessory" in block:
                self.element(block["accessory"], ptr + "/accessory")
        elif kind == "header":
            self.text(block.get("text"), 150, ptr + "/text", plain=True)
        elif kind == "context":
            self.max_items(block.get("elements"), 10, ptr + "/elements")
        elif kind == "actions":
            self.max_items(block.get("elements"), 25, ptr + "/elements")
            for i, element in enumerate(_items(block.get("elements"))):
                self.element(element, f"{ptr}/elements/{i}")
        elif kind == "input":
            self.text(block.get("label"), 2000, ptr + "/label", plain=True)
            self.text(block.get("hint"), 2000, ptr + "/hint", plain=True)
            self.element(block.get("element"), ptr + "/element")

    def element(self, element: Any, ptr: str) -> None:
        if not isinstance(element, dict):
            self.fail(ptr, "must be an element object")
            return
        self.max_chars(element.get("action_id"), 255, ptr + "/action_id")
        self.text(element.get("placeholder"), 150, ptr + "/placeholder", plain=True)
        kind = element.get("type")
        if kind == "button":
            self.text(element.get("text"), 75, ptr + "/text", plain=True)
            self.max_chars(element.get("value"), 2000, ptr + "/value")
            self.max_chars(element.get("url"), 3000, ptr + "/url")
        elif kind in _MAX_OPTIONS:
            self.options(element.get("options"), _MAX_OPTIONS[kind], ptr + "/options")
            self.max_items(element.get("option_groups"), 100, ptr + "/option_groups")
            for i, group in enumerate(_items(element.get("option_groups"))):
                if isinstance(group, dict):
                    self.options(group.get("options"), 100, f"{ptr}/option_groups/{i}/options")
        elif kind == "plain_text_input":
            max_length = element.get("max_length", 3000)
            if not isinstance(max_length, int) or not 0 < max_length <= 3000:
                self.fail(ptr + "/max_length", "must be between 1 and 3000")
            else:
                self.max_chars(element.get("initial_value"), max_length, ptr + "/initial_value")

    def options(self, options: Any, limit: int, ptr: str) -> None:
        self.max_items(options, limit, ptr)
        for i, option in enumerate(_items(options)):
            if not isinstance(option, dict):
                self.fail(f"{ptr}/{i}", "must be an option object")
                continue
            self.text(option.get("text"), 75, f"{ptr}/{i}/text")
            self.max_chars(option.get("value"), 150, f"{ptr}/{i}/value")
            self.text(option.get("description"), 75, f"{ptr}/{i}/description")

    def sdk(self, build: Callable[[], Any], ptr: str) -> None:
        """Let slack_sdk's own validators speak for the rules not checked above."""
        try:
            build().to_dict()  # to_dict() validates the whole tree
        except (SlackObjectFormationError, AttributeError, KeyError, TypeError, ValueError) as error:
            self.fail(ptr, str(error))


def check_message_blocks(blocks: list) -> list[str]:
    """Slack's complaints about a message's blocks (empty when they are valid)."""
    kit = _BlockKit("message")
    kit.blocks(blocks, "/blocks")
    if not kit.problems:
        for i, block in enumerate(blocks):
            kit.sdk(lambda: Block.parse(block), f"/blocks/{i}")
    return kit.problems


def check_view(view: Any, surface: str) -> list[str]:
    """Slack's complaints about a modal or home view (empty when it is valid)."""
    kit = _BlockKit(surface)
    kit.view(view, "/view")
    if not kit.problems:
        kit.sdk(lambda: View(**view), "/view")
    return kit.problems


# --------------------------------------------------------------------------- HTTP helpers

@dataclass
class _Fault:
    method: str
    status: int
    retry_after: int | None
    error: str | None
    delay: float
    remaining: int

    def response(self) -> web.Response | None:
        """The faulty answer, or None when the fault is only a delay."""
        if self.error is not None:
            return web.json_response({"ok": False, "error": self.error})
        if self.status == 429:
            return _ratelimited(self.retry_after)
        if self.status == 503:
            return web.Response(status=503)  # gateways often answer with no body at all
        if self.status >= 500:
            return web.Response(status=self.status, text=_ERROR_PAGE.format(status=self.status),
                                content_type="text/html")
        return None


@dataclass
class _Bucket:
    rate: float  # tokens a second
    size: float
    filled_at: float
    tokens: float = -1.0  # -1: full at the start

    def wait(self, now: float) -> int | None:
        """Whole seconds until a token (Slack's Retry-After), or None when one is there to take."""
        if self.tokens < 0:
            self.tokens = self.size
        self.tokens = min(self.size, self.tokens + (now - self.filled_at) * self.rate)
        self.filled_at = now
        if self.tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))


def _ratelimited(retry_after: int | None) -> web.Response:
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers=headers)


async def _read_params(request: web.Request) -> dict:
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        with contextlib.suppress(ValueError):  # malformed JSON reads as no arguments
            body = await request.json()
            params.update(body if isinstance(body, dict) else {})
    else:
        params.update(await request.post())
    for name in _JSON_ARGS & params.keys():
        if isinstance(params[name], str):
            with contextlib.suppress(ValueError):  # left as a string, so validation rejects it
                params[name] = json.loads(params[name])
    return params


async def _read_upload(request: web.Request) -> bytes:
    # Slack accepts the file as the raw body or as a multipart form field.
    if request.content_type != "multipart/form-data":
        return await request.read()
    form = await request.post()
    field = next((value for value in form.values() if isinstance(value, web.FileField)), None)
    return field.file.read() if field else b""


def _cursor(user_id: str) -> str:
    return base64.b64encode(f"user:{user_id}".encode()).decode()


# --------------------------------------------------------------------------- the server

class FakeSlack:
    """Slack's Web API for one workspace with one bot, served from the test's event loop."""

    def __init__(self, *, team_id: str = "T0001", bot_user_id: str = "UBOT", bot_token: str = "xoxb-test",
                 enforce_rate_limits: bool = False, trigger_ttl: float = 3.0,
                 clock: Callable[[], float] = time.monotonic):
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_token = bot_token
        self.enforce_rate_limits = enforce_rate_limits
        self.trigger_ttl = trigger_ttl
        self.bot_id = "B0001"
        self.app_id = "A0001"
        self.team_name = "Lisbot Test"
        self.domain = "lisbot-test"
        self.base_url = ""  # known once start() has bound a port
        self.calls: list[Call] = []
        self.uploaded_files: dict[str, dict] = {}
        self.messages: dict[str, list[dict]] = {}
        self.views: dict[str, dict] = {}
        self.home_views: dict[str, dict] = {}
        self._clock = clock
        self._origin = ""
        self._runner: web.AppRunner | None = None
        self._users: dict[str, dict] = {}
        self._conversations: dict[str, dict] = {}  # opened DMs and group DMs by id
        self._conversation_ids: dict[tuple[str, ...], str] = {}
        self._triggers: dict[str, float | None] = {}  # trigger_id -> expiry; None once exchanged
        self._view_stack: list[str] = []
        self._pending_uploads: dict[str, dict] = {}
        self._shared_files: dict[str, dict] = {}  # file id -> {"file": object, "content": bytes, "deleted": bool}
        self._faults: list[_Fault] = []
        self._rate_limits = dict(RATE_LIMITS)
        self._hits: dict[tuple, deque[float]] = defaultdict(deque)
        self._buckets: dict[str, _Bucket] = {}  # workspace-wide limits, set by set_workspace_limit
        self.last_limited: str | None = None  # "workspace" or "channel": what the latest 429 of a limit was for
        self._ids = itertools.count(1)
        self._last_ts_us = 0
        self._recorded = asyncio.Event()
        self._stopping = asyncio.Event()
        self._methods: dict[str, Callable[[dict], dict]] = {
            "auth.test": self._auth_test,
            "team.info": self._team_info,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.delete": self._chat_delete,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "files.info": self._files_info,
        }

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        app = web.Application(client_max_size=1024**3)  # Slack takes uploads up to 1 GB
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_get("/files-pri/{team_file}/{name:.*}", self._handle_file_download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self._origin = f"http://{host}:{port}"
        self.base_url = f"{self._origin}/api/"

    async def stop(self) -> None:
        self._stopping.set()  # ends injected delays, so cleanup does not wait for them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------- test controls

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[Call]:
        return [call for call in self.calls if call.method == method and (call.ok or not ok_only)]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until at least `count` ok calls of `method` were recorded."""
        async def enough() -> None:
            while len(self.calls_to(method)) < count:
                self._recorded.clear()
                await self._recorded.wait()

        try:
            await asyncio.wait_for(enough(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"expected {count} ok {method} call(s) within {timeout}s, got {len(self.calls_to(method))}; "
                f"recorded: {[call.method for call in self.calls]}") from None
        return self.calls_to(method)

    def add_user(self, user_id: str, *, name: str = "", real_name: str = "", email: str | None = None,
                 locale: str = "sv-SE", tz: str = "Europe/Stockholm", is_bot: bool = False, deleted: bool = False,
                 team_id: str | None = None) -> dict:
        """Add a member to the workspace; returns it as users.info shows it with include_locale."""
        team = team_id or self.team_id
        now = datetime.now(ZoneInfo(tz))
        profile = {"real_name": real_name, "real_name_normalized": real_name, "display_name": name,
                   "display_name_normalized": name, "team": team}
        if email is not None:
            profile["email"] = email
        self._users[user_id] = {
            "id": user_id, "team_id": team, "name": name, "deleted": deleted, "color": "9f69e7",
            "real_name": real_name, "tz": tz, "tz_label": now.tzname(),
            "tz_offset": int(now.utcoffset().total_seconds()), "profile": profile, "is_admin": False,
            "is_owner": False, "is_primary_owner": False, "is_restricted": False, "is_ultra_restricted": False,
            "is_bot": is_bot, "is_app_user": False, "updated": int(time.time()), "locale": locale,
        }
        return copy.deepcopy(self._users[user_id])

    def add_file(self, user_id: str, name: str, content: bytes, *, title: str | None = None,
                 mimetype: str | None = None, filetype: str | None = None) -> dict:
        """A file a member shared (in a DM with the bot, say); returns the file object as the message event
        and files.info show it, with url_private_download served by this fake."""
        file_id = self._new_id("F")
        now = int(time.time())
        mimetype = mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream"
        base = f"{self._origin}/files-pri/{self.team_id}-{file_id}"
        file = {
            "id": file_id, "created": now, "timestamp": now, "name": name, "title": title or name,
            "mimetype": mimetype, "filetype": filetype or PurePath(name).suffix.lstrip(".") or "binary",
            "pretty_type": (filetype or PurePath(name).suffix.lstrip(".") or "binary").upper(),
            "user": user_id, "user_team": self.team_id, "editable": False, "size": len(content), "mode": "hosted",
            "is_external": False, "external_type": "", "is_public": False, "public_url_shared": False,
            "display_as_bot": False, "username": "", "url_private": f"{base}/{name}",
            "url_private_download": f"{base}/download/{name}",
            "permalink": f"https://{self.domain}.slack.com/files/{user_id}/{file_id}/{name}",
            "permalink_public": f"https://slack-files.com/{self.team_id}-{file_id}-{secrets.token_hex(5)}",
            "is_starred": False, "has_rich_preview": False, "file_access": "visible",
        }
        self._shared_files[file_id] = {"file": file, "content": bytes(content), "deleted": False}
        return copy.deepcopy(file)

    def delete_file(self, file_id: str) -> None:
        """The member deleted the file: files.info says file_deleted and downloads answer 404."""
        self._shared_files[file_id]["deleted"] = True

    def issue_trigger(self) -> str:
        """A fresh trigger_id, valid for one views.open/views.push within trigger_ttl seconds."""
        trigger_id = f"{next(self._ids)}.{int(time.time())}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = self._clock() + self.trigger_ttl
        return trigger_id

    def fail_next(self, method: str, *, status: int = 429, retry_after: int | None = 1, error: str | None = None,
                  count: int = 1, delay: float = 0.0) -> None:
        """Make the next `count` calls of `method` ("*" for any) fail.

        status 429 answers "ratelimited" with Retry-After; 500/502 answer an HTML page and
        503 an empty body; `error` answers HTTP 200 {"ok": false, "error": error} instead.
        `delay` seconds pass before the answer; status 200 without error only delays.
        """
        if status not in (200, 429) and not 500 <= status <= 599:
            raise ValueError(f"cannot fake HTTP {status}")
        if count < 1:
            raise ValueError("count must be at least 1")
        self._faults.append(_Fault(method, status, retry_after, error, delay, count))

    def set_tier(self, method: str, per_minute: int) -> None:
        """Override a method's rate limit (per channel for chat.postMessage); needs enforce_rate_limits."""
        self._rate_limits[method] = per_minute

    def set_workspace_limit(self, method: str, per_minute: float, burst_seconds: float = 1.0) -> None:
        """A workspace-wide limit for `method` on top of the per-channel one: a token bucket of `per_minute`
        that holds `burst_seconds` of it. Slack has such a limit for chat.postMessage and gives no number; it
        answers 429 with a whole-second Retry-After. Works without enforce_rate_limits."""
        rate = per_minute / 60.0
        self._buckets[method] = _Bucket(rate, max(1.0, rate * burst_seconds), self._clock())

    # ----------------------------------------------------------------- request plumbing

    async def _handle_api(self, request: web.Request) -> web.Response:
        at = self._clock()
        method = request.match_info["method"]
        params = await _read_params(request)
        response = await self._injected_fault(method)
        if response is None:
            response = self._answer(method, params, request.headers)
        self._record(method, params, request, response, at)
        return response

    async def _handle_upload(self, request: web.Request) -> web.Response:
        at = self._clock()
        file_id = request.match_info["file_id"]
        content = await _read_upload(request)
        response = await self._injected_fault("upload")
        if response is None:
            pending = self._pending_uploads.get(file_id)
            if pending is None:
                response = web.Response(status=404, text="file not found")
            else:
                pending["content"] = content
                response = web.Response(text=f"OK - {len(content)}")
        self._record("upload", {"file_id": file_id, "length": len(content)}, request, response, at)
        return response

    async def _handle_file_download(self, request: web.Request) -> web.Response:
        at = self._clock()
        file_id = request.match_info["team_file"].removeprefix(f"{self.team_id}-")
        response = await self._injected_fault("files.download")
        if response is None:
            shared = self._shared_files.get(file_id)
            authorization = request.headers.get("Authorization", "")
            if authorization != f"Bearer {self.bot_token}":
                # Slack redirects a request without a valid token to its sign-in page.
                response = web.Response(text="<!DOCTYPE html><html><title>Slack</title><body>Sign in</body></html>",
                                        content_type="text/html")
            elif shared is None or shared["deleted"]:
                response = web.Response(status=404, text="<html><body>File not found</body></html>",
                                        content_type="text/html")
            else:
                mimetype = shared["file"]["mimetype"]
                response = web.Response(body=shared["content"], content_type=mimetype,
                                        headers={"Content-Disposition": f'attachment; filename="{shared["file"]["name"]}"'})
        self._record("files.download", {"file": file_id, "path": request.path}, request, response, at)
        return response

    async def _injected_fault(self, method: str) -> web.Response | None:
        fault = next((f for f in self._faults if f.method in (method, "*")), None)
        if fault is None:
            return None
        fault.remaining -= 1
        if not fault.remaining:
            self._faults.remove(fault)
        if fault.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.delay)
        return fault.response()

    def _answer(self, method: str, params: dict, headers: Any) -> web.Response:
        handler = self._methods.get(method)
        try:
            if handler is None:
                raise _SlackError("unknown_method")
            self._authenticate(params, headers)
            retry_after = self._over_rate_limit(method, params)
            if retry_after is not None:
                return _ratelimited(retry_after)
            body = handler(params)
        except _SlackError as error:
            body = error.body
        return web.json_response(body, headers={"X-Slack-Req-Id": secrets.token_hex(16)})

    def _record(self, method: str, params: dict, request: web.Request, response: web.Response, at: float) -> None:
        # Parse what was sent, so later state changes cannot alter the record.
        body = json.loads(response.text) if response.content_type == "application/json" else None
        self.calls.append(Call(method, params, dict(request.headers), response.status, body, at))
        self._recorded.set()

    def _authenticate(self, params: dict, headers: Any) -> None:
        authorization = headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else params.get("token")
        if not token:
            raise _SlackError("not_authed")
        if token != self.bot_token:
            raise _SlackError("invalid_auth")

    def _over_rate_limit(self, method: str, params: dict) -> int | None:
        """Seconds to wait when the call is over the workspace bucket or its sliding-minute budget, else None."""
        now = self._clock()
        bucket = self._buckets.get(method)
        if bucket is not None:
            wait = bucket.wait(now)
            if wait is not None:
                self.last_limited = "workspace"
                return wait
        wait = self._over_minute_budget(method, params, now)
        if wait is not None:
            self.last_limited = "channel"
            return wait
        if bucket is not None:
            bucket.tokens -= 1.0
        return None

    def _over_minute_budget(self, method: str, params: dict, now: float) -> int | None:
        if not self.enforce_rate_limits:
            return None
        key = (method, params.get("channel")) if method == "chat.postMessage" else (method,)
        hits = self._hits[key]
        while hits and hits[0] <= now - 60:
            hits.popleft()
        if len(hits) >= self._rate_limits[method]:
            return max(1, math.ceil(hits[0] + 60 - now))
        hits.append(now)
        return None

    # ----------------------------------------------------------------- shared helpers

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    def _new_ts(self) -> str:
        # Wall-clock microseconds, strictly increasing, formatted like "1700000000.000100".
        self._last_ts_us = max(time.time_ns() // 1000, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _channel(self, channel: Any, error: str = "channel_not_found") -> str:
        """The conversation a channel argument names.

        Any C/D/G id is taken on trust: a test may hand the bot a DM id through an event.
        """
        channel = str(channel or "")
        if channel.startswith(("U", "W")):  # posting to a user id lands in the DM with that user
            return self._open_conversation([channel])[0]["id"]
        if channel.startswith(("C", "D", "G")):
            return channel
        raise _SlackError(error)

    def _open_conversation(self, users: list[str]) -> tuple[dict, bool]:
        """The DM (one user) or group DM with `users`, and whether it was just created."""
        key = tuple(sorted(users))
        if key in self._conversation_ids:
            return self._conversations[self._conversation_ids[key]], False
        is_im = len(users) == 1
        conversation = {
            "id": self._new_id("D" if is_im else "G"), "created": int(time.time()), "is_im": is_im,
            "is_mpim": not is_im, "is_org_shared": False, "last_read": "0000000000.000000", "latest": None,
            "unread_count": 0, "unread_count_display": 0, "is_open": True, "priority": 0,
        }
        if is_im:
            conversation["user"] = users[0]
        self._conversation_ids[key] = conversation["id"]
        self._conversations[conversation["id"]] = conversation
        return conversation, True

    def _message_blocks(self, params: dict) -> list | None:
        blocks = params.get("blocks")
        if blocks is None:
            return None
        if not isinstance(blocks, list):
            raise _SlackError("invalid_blocks_format")
        problems = check_message_blocks(blocks)
        if problems:
            raise _SlackError("invalid_blocks", problems, errors=problems)
        return blocks

    def _message_text(self, params: dict, blocks: list | None) -> str:
        text = str(params.get("text") or "")
        if not (text or blocks or params.get("attachments")):
            raise _SlackError("no_text")
        if len(text) > 40_000:
            raise _SlackError("msg_too_long")
        return text

    def _bot_message(self, params: dict, text: str, blocks: list | None) -> dict:
        message = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id, "app_id": self.app_id,
                   "team": self.team_id, "text": text, "ts": self._new_ts()}
        if blocks:
            message["blocks"] = blocks
        message.update({name: params[name] for name in _MESSAGE_EXTRAS if params.get(name)})
        return message

    @staticmethod
    def _check_metadata(params: dict) -> None:
        """Message metadata as Slack takes it: an object with an event_type and an event_payload object."""
        metadata = params.get("metadata")
        if metadata is None:
            return
        if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str) \
                or not isinstance(metadata.get("event_payload"), dict):
            raise _SlackError("invalid_metadata_format")

    def _find_message(self, channel: str, ts: Any) -> dict:
        for message in self.messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise _SlackError("message_not_found")

    # ----------------------------------------------------------------- auth, team

    def _auth_test(self, params: dict) -> dict:
        return {"ok": True, "url": f"https://{self.domain}.slack.com/", "team": self.team_name, "user": "lisbot",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def _team_info(self, params: dict) -> dict:
        return {"ok": True, "team": {"id": self.team_id, "name": self.team_name, "domain": self.domain,
                                     "email_domain": "", "icon": {"image_default": True}}}

    # ----------------------------------------------------------------- chat

    def _chat_post_message(self, params: dict) -> dict:
        channel = self._channel(params.get("channel"))
        blocks = self._message_blocks(params)
        self._check_metadata(params)
        text = self._message_text(params, blocks)
        message = self._bot_message(params, text, blocks)
        self.messages.setdefault(channel, []).append(message)
        body = {"ok": True, "channel": channel, "ts": message["ts"], "message": message}
        if not text:  # Slack accepts blocks without fallback text, but says so
            body["warning"] = "missing_text_or_fallback_or_attachments"
            body["response_metadata"] = {"warnings": ["missing_text_or_fallback_or_attachments"]}
        return body

    def _chat_update(self, params: dict) -> dict:
        channel = self._channel(params.get("channel"))
        message = self._find_message(channel, params.get("ts"))
        blocks = self._message_blocks(params)
        text = self._message_text(params, blocks)
        message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
        message.update({name: params[name] for name in ("attachments", "metadata") if name in params})
        message["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        return {"ok": True, "channel": channel, "ts": message["ts"], "text": text, "message": message}

    def _chat_post_ephemeral(self, params: dict) -> dict:
        self._channel(params.get("channel"))
        if not params.get("user"):
            raise _SlackError("user_not_in_channel")
        self._message_text(params, self._message_blocks(params))
        return {"ok": True, "message_ts": self._new_ts()}

    def _chat_get_permalink(self, params: dict) -> dict:
        channel = self._channel(params.get("channel"))
        ts = params.get("message_ts")
        if not ts:
            raise _SlackError("message_not_found")
        permalink = f"https://{self.domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        thread_ts = next((m.get("thread_ts") for m in self.messages.get(channel, []) if m["ts"] == ts), None)
        if thread_ts and thread_ts != ts:
            permalink += f"?thread_ts={thread_ts}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def _chat_delete(self, params: dict) -> dict:
        channel = self._channel(params.get("channel"))
        message = self._find_message(channel, params.get("ts"))
        self.messages[channel].remove(message)
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    # ----------------------------------------------------------------- conversations

    def _conversations_open(self, params: dict) -> dict:
        if params.get("channel"):
            conversation = self._conversations.get(params["channel"])
            if conversation is None:
                raise _SlackError("channel_not_found")
            created = False
        else:
            users = [user for user in str(params.get("users") or "").split(",") if user]
            if not users:
                raise _SlackError("users_list_not_supplied")
            if len(users) > 8:
                raise _SlackError("too_many_users")
            conversation, created = self._open_conversation(users)
        shown = copy.deepcopy(conversation) if _flag(params.get("return_im")) else {"id": conversation["id"]}
        body = {"ok": True, "channel": shown}
        if not created:
            body.update(no_op=True, already_open=True)
        return body

    def _conversations_info(self, params: dict) -> dict:
        channel_id = str(params.get("channel") or "")
        if channel_id in self._conversations:
            channel = copy.deepcopy(self._conversations[channel_id])
        elif channel_id.startswith(("C", "G")):
            channel = self._channel_object(channel_id)
        else:  # a DM's user is unknown unless conversations.open made it
            raise _SlackError("channel_not_found")
        if _flag(params.get("include_locale")):
            channel["locale"] = "en-US"
        return {"ok": True, "channel": channel}

    def _conversations_history(self, params: dict) -> dict:
        """Top-level messages of a conversation, newest first, between `oldest` and `latest` (exclusive unless
        `inclusive`), `limit` a page (default 100, at most 999) with a cursor. A DM must have been opened
        (conversations.open or a post to the user); a C/G id is taken on trust, the bot a member, as in
        _channel. Metadata comes back only with include_all_metadata."""
        channel = str(params.get("channel") or "")
        if not channel:
            raise _SlackError("channel_not_found")
        if not (channel in self._conversations or channel in self.messages or channel.startswith(("C", "G"))):
            raise _SlackError("channel_not_found")
        oldest, latest = self._history_bound(params, "oldest", 0.0), self._history_bound(params, "latest", math.inf)
        inclusive = _flag(params.get("inclusive"))

        def within(ts: float) -> bool:
            return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

        found = [m for m in reversed(self.messages.get(channel, []))
                 if within(float(m["ts"])) and m.get("thread_ts") in (None, m["ts"])]
        start = 0
        if params.get("cursor"):
            try:
                start = int(base64.b64decode(params["cursor"]).decode().removeprefix("next_ts:"))
            except ValueError:  # bad base64, bad UTF-8, not a number
                raise _SlackError("invalid_cursor") from None
        limit = min(_int(params, "limit") or 100, 999)
        page, more = found[start:start + limit], start + limit < len(found)
        show_metadata = _flag(params.get("include_all_metadata"))
        messages = [copy.deepcopy({k: v for k, v in m.items() if show_metadata or k != "metadata"}) for m in page]
        next_cursor = base64.b64encode(f"next_ts:{start + limit}".encode()).decode() if more else ""
        return {"ok": True, "messages": messages, "has_more": more, "pin_count": 0, "channel_actions_ts": None,
                "channel_actions_count": 0, "response_metadata": {"next_cursor": next_cursor}}

    @staticmethod
    def _history_bound(params: dict, name: str, default: float) -> float:
        value = params.get(name)
        if value in (None, ""):
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _SlackError(f"invalid_ts_{name}") from None

    def _channel_object(self, channel_id: str) -> dict:
        return {
            "id": channel_id, "name": channel_id.lower(), "created": int(time.time()), "is_channel": True,
            "is_group": False, "is_im": False, "is_mpim": False, "is_private": channel_id.startswith("G"),
            "is_archived": False, "is_general": False, "is_member": True, "is_shared": False,
            "is_ext_shared": False, "is_org_shared": False, "context_team_id": self.team_id,
        }

    # ----------------------------------------------------------------- views

    def _checked_view(self, params: dict, surface: str) -> dict:
        if params.get("view") is None:
            raise _missing("view")
        problems = check_view(params["view"], surface)
        if problems:
            raise _SlackError("invalid_arguments", problems)
        return params["view"]

    def _exchange_trigger(self, params: dict) -> None:
        trigger_id = params.get("trigger_id") or params.get("interactivity_pointer")
        if trigger_id not in self._triggers:
            raise _SlackError("invalid_trigger_id")
        expires = self._triggers[trigger_id]
        if expires is None:
            raise _SlackError("exchanged_trigger_id")
        if self._clock() > expires:
            raise _SlackError("expired_trigger_id")
        self._triggers[trigger_id] = None

    def _store_view(self, view: dict, view_id: str, *, root_view_id: str, previous_view_id: str | None) -> dict:
        stored = {
            "id": view_id, "team_id": self.team_id, "type": view["type"], "title": view.get("title"),
            "submit": view.get("submit"), "close": view.get("close"), "blocks": view["blocks"],
            "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""), "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": root_view_id, "previous_view_id": previous_view_id, "app_id": self.app_id,
            "app_installed_team_id": self.team_id, "bot_id": self.bot_id,
        }
        self.views[view_id] = stored
        return stored

    def _views_open(self, params: dict) -> dict:
        view = self._checked_view(params, "modal")
        self._exchange_trigger(params)
        view_id = self._new_id("V")
        self._view_stack = [view_id]
        return {"ok": True, "view": self._store_view(view, view_id, root_view_id=view_id, previous_view_id=None)}

    def _views_push(self, params: dict) -> dict:
        view = self._checked_view(params, "modal")
        self._exchange_trigger(params)
        if len(self._view_stack) >= 3:  # a root modal plus two pushed views
            raise _SlackError("push_limit_reached")
        view_id = self._new_id("V")
        root_view_id = self._view_stack[0] if self._view_stack else view_id
        previous_view_id = self._view_stack[-1] if self._view_stack else None
        self._view_stack.append(view_id)
        stored = self._store_view(view, view_id, root_view_id=root_view_id, previous_view_id=previous_view_id)
        return {"ok": True, "view": stored}

    def _views_update(self, params: dict) -> dict:
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next((v["id"] for v in self.views.values() if v["external_id"] == params["external_id"]), None)
        current = self.views.get(view_id)
        if current is None:
            raise _SlackError("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise _SlackError("hash_conflict")
        view = self._checked_view(params, current["type"])
        stored = self._store_view(view, view_id, root_view_id=current["root_view_id"],
                                  previous_view_id=current["previous_view_id"])
        for user_id, home in self.home_views.items():
            if home["id"] == view_id:
                self.home_views[user_id] = stored
        return {"ok": True, "view": stored}

    def _views_publish(self, params: dict) -> dict:
        user_id = params.get("user_id")
        if not user_id:
            raise _missing("user_id")
        current = self.home_views.get(user_id)
        if current and params.get("hash") and params["hash"] != current["hash"]:
            raise _SlackError("hash_conflict")
        view = self._checked_view(params, "home")
        view_id = current["id"] if current else self._new_id("V")  # a user's home tab keeps its id
        stored = self._store_view(view, view_id, root_view_id=view_id, previous_view_id=None)
        self.home_views[user_id] = stored
        return {"ok": True, "view": stored}

    # ----------------------------------------------------------------- users

    def _shown_user(self, user: dict, params: dict) -> dict:
        shown = copy.deepcopy(user)
        if not _flag(params.get("include_locale")):
            del shown["locale"]
        return shown

    def _users_info(self, params: dict) -> dict:
        user = self._users.get(params.get("user"))
        if user is None:
            raise _SlackError("user_not_found")
        return {"ok": True, "user": self._shown_user(user, params)}

    def _users_list(self, params: dict) -> dict:
        ids = list(self._users)
        start = 0
        if params.get("cursor"):
            try:
                start = ids.index(base64.b64decode(params["cursor"]).decode().removeprefix("user:"))
            except ValueError:  # bad base64, bad UTF-8 or an unknown user
                raise _SlackError("invalid_cursor") from None
        limit = _int(params, "limit") or len(ids)  # without a limit Slack sends everyone
        page, rest = ids[start:start + limit], ids[start + limit:]
        return {"ok": True, "members": [self._shown_user(self._users[i], params) for i in page],
                "cache_ts": int(time.time()), "response_metadata": {"next_cursor": _cursor(rest[0]) if rest else ""}}

    def _users_lookup_by_email(self, params: dict) -> dict:
        email = str(params.get("email") or "").lower()
        if not email:
            raise _missing("email")
        for user in self._users.values():
            if str(user["profile"].get("email", "")).lower() == email:
                return {"ok": True, "user": self._shown_user(user, params)}
        raise _SlackError("users_not_found")

    # ----------------------------------------------------------------- files

    def _files_get_upload_url_external(self, params: dict) -> dict:
        for name in ("filename", "length"):
            if params.get(name) in (None, ""):
                raise _missing(name)
        length = _int(params, "length")
        if length <= 0:
            raise _SlackError("missing_argument")
        file_id = self._new_id("F")
        self._pending_uploads[file_id] = {"id": file_id, "filename": params["filename"], "length": length,
                                          "alt_txt": params.get("alt_txt"), "snippet_type": params.get("snippet_type"),
                                          "content": None}
        return {"ok": True, "upload_url": f"{self._origin}/upload/v1/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, params: dict) -> dict:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise _missing("files")
        uploads = []
        for entry in files:
            pending = self._pending_uploads.get(entry.get("id")) if isinstance(entry, dict) else None
            if pending is None or pending["content"] is None:
                raise _SlackError("file_not_found")
            uploads.append((pending, entry.get("title") or pending["filename"]))
        channel_id = self._channel(params["channel_id"], "invalid_channel") if params.get("channel_id") else None
        initial_comment, thread_ts = params.get("initial_comment"), params.get("thread_ts")
        shared = []
        for pending, title in uploads:
            del self._pending_uploads[pending["id"]]
            self.uploaded_files[pending["id"]] = {**pending, "title": title, "channel_id": channel_id,
                                                  "initial_comment": initial_comment, "thread_ts": thread_ts}
            shared.append(self._file_object(pending, title, is_public=channel_id is not None))
        if channel_id:  # sharing posts a message with the files, as Slack does
            message = self._bot_message({"thread_ts": thread_ts}, initial_comment or "", None)
            message.update(files=shared, upload=True)
            self.messages.setdefault(channel_id, []).append(message)
        return {"ok": True, "files": shared}

    def _files_info(self, params: dict) -> dict:
        file_id = params.get("file")
        if not file_id:
            raise _missing("file")
        shared = self._shared_files.get(file_id)
        if shared is None:
            raise _SlackError("file_not_found")
        if shared["deleted"]:
            raise _SlackError("file_deleted")
        return {"ok": True, "file": copy.deepcopy(shared["file"]), "comments": [],
                "response_metadata": {"next_cursor": ""}}

    def _file_object(self, upload: dict, title: str, *, is_public: bool) -> dict:
        file_id, name, now = upload["id"], upload["filename"], int(time.time())
        return {
            "id": file_id, "created": now, "timestamp": now, "name": name, "title": title,
            "mimetype": mimetypes.guess_type(name)[0] or "application/octet-stream",
            "filetype": PurePath(name).suffix.lstrip(".") or "binary", "user": self.bot_user_id,
            "user_team": self.team_id, "size": len(upload["content"]), "is_public": is_public,
            "url_private": f"https://files.slack.com/files-pri/{self.team_id}-{file_id}/{name}",
            "permalink": f"https://{self.domain}.slack.com/files/{self.bot_user_id}/{file_id}/{name}",
        }
