"""A fake Microsoft cloud on 127.0.0.1 for the Teams tests: token issuer, Bot Connector, and a driver that
posts activities into the bot's /api/messages the way Teams does.

- Token issuer. A locally generated RSA key; the Bot Framework's OpenID configuration and JWKS
  (`/botframework/v1/.well-known/openidconfiguration` and `.../keys`); `inbound_token()` signs what the
  Bot Framework would put on a request to the bot. The Entra login endpoint
  (`POST /login/{tenant}/oauth2/v2.0/token`) hands out app tokens for the right client id and secret.
- Bot Connector at `service_url` (`/teams/`): the REST API's shapes for creating and updating activities,
  creating a 1:1 conversation and reading a member. It refuses calls without a token it issued (401),
  refuses cards that are not valid Adaptive Cards 1.5 (400), records everything, and can be told to
  answer the next calls with a status (429 with Retry-After, 5xx, 403, 404).
- A file host standing in for SharePoint/OneDrive: `add_file()` gives the short-lived, pre-authorised download
  address Teams puts in a file.download.info attachment; `expire_file()` makes it answer 403, as an old one does.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.adaptivecards import card_problems

TENANT = "8f1e2d3c-4b5a-4697-8877-665544332211"
CLIENT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CLIENT_SECRET = "teams-test-secret"
BOT_ID = f"28:{CLIENT_ID}"
CARD = "application/vnd.microsoft.card.adaptive"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Call:
    method: str
    path: str
    body: Any
    status: int
    response: Any
    headers: dict = field(default_factory=dict)


@dataclass
class Member:
    id: str
    aad_object_id: str
    name: str
    email: str


class FakeMicrosoft:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "lisbot-test-key"
        self.runner: web.AppRunner | None = None
        self.base = ""
        self.calls: list[Call] = []
        self.members: dict[str, Member] = {}
        self.app_tokens: set[str] = set()
        self.faults: deque[tuple[int, dict]] = deque()
        self.card_problems: list[str] = []
        self._ids = itertools.count(1)
        self.files: dict[str, bytes] = {}
        self.downloads: list[str] = []

    # ---- addresses ---------------------------------------------------------------------------------

    @property
    def service_url(self) -> str:
        return f"{self.base}/teams/"

    @property
    def openid_url(self) -> str:
        return f"{self.base}/botframework/v1/.well-known/openidconfiguration"

    @property
    def issuer(self) -> str:
        return f"{self.base}/botframework"

    @property
    def login_url(self) -> str:
        return f"{self.base}/login"

    def settings(self) -> dict[str, str]:
        """The settings that point lisbot at this fake (the test/on-prem ones) and the SDK's three."""
        return {"CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET, "TENANT_ID": TENANT,
                "SERVICE_URL": self.service_url, "LISBOT_TEAMS_LOGIN_URL": self.login_url,
                "LISBOT_TEAMS_OPENID_URL": self.openid_url, "LISBOT_TEAMS_TOKEN_ISSUER": self.issuer}

    # ---- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/botframework/v1/.well-known/openidconfiguration", self._openid)
        app.router.add_get("/botframework/v1/.well-known/keys", self._keys)
        app.router.add_post("/login/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_post("/teams/v3/conversations", self._create_conversation)
        app.router.add_post("/teams/v3/conversations/{conversation}/activities", self._create_activity)
        app.router.add_put("/teams/v3/conversations/{conversation}/activities/{activity}", self._update_activity)
        app.router.add_get("/teams/v3/conversations/{conversation}/members/{member}", self._member)
        app.router.add_get("/files/{key}", self._file)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    # ---- tokens ----------------------------------------------------------------------------------------

    def jwk(self) -> dict:
        numbers = self.key.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "alg": "RS256", "n": _b64(numbers.n),
                "e": _b64(numbers.e), "endorsements": ["msteams"]}

    def inbound_token(self, *, service_url: str | None = None, audience: str = CLIENT_ID, issuer: str | None = None,
                      expires_in: int = 3600, key=None, kid: str | None = None) -> str:
        """A Bot Framework token as on Teams' requests to the bot."""
        now = int(time.time())
        claims = {"serviceurl": service_url or self.service_url, "nbf": now - 5, "exp": now + expires_in,
                  "iss": issuer or self.issuer, "aud": audience, "iat": now - 5}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    async def _openid(self, _request: web.Request) -> web.Response:
        return web.json_response({"issuer": self.issuer, "jwks_uri": f"{self.base}/botframework/v1/.well-known/keys",
                                  "id_token_signing_alg_values_supported": ["RS256"],
                                  "token_endpoint_auth_methods_supported": ["private_key_jwt"]})

    async def _keys(self, _request: web.Request) -> web.Response:
        self.calls.append(Call("GET", "keys", None, 200, None))
        return web.json_response({"keys": [self.jwk()]})

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        ok = (request.match_info["tenant"] == TENANT and form.get("client_id") == CLIENT_ID
              and form.get("client_secret") == CLIENT_SECRET and form.get("grant_type") == "client_credentials")
        if not ok:
            body = {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
            self.calls.append(Call("POST", "token", dict(form), 401, body))
            return web.json_response(body, status=401)
        token = "app-" + secrets.token_urlsafe(24)
        self.app_tokens.add(token)
        body = {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        self.calls.append(Call("POST", "token", {"scope": form.get("scope")}, 200, body))
        return web.json_response(body)

    # ---- the connector -----------------------------------------------------------------------------------

    def fail_next(self, status: int, *, times: int = 1, headers: dict | None = None) -> None:
        for _ in range(times):
            self.faults.append((status, headers or {}))

    def add_member(self, user_id: str, aad_object_id: str, name: str, email: str) -> Member:
        member = Member(user_id, aad_object_id, name, email)
        self.members[user_id] = member
        return member

    async def _guard(self, request: web.Request, body: Any) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.app_tokens:
            self.calls.append(Call(request.method, request.path, body, 401, None))
            return web.json_response({"message": "Authorization has been denied for this request."}, status=401)
        if self.faults:
            status, headers = self.faults.popleft()
            answer = {"error": {"code": "ServiceError" if status >= 500 else "Throttled" if status == 429
                                else "Forbidden" if status == 403 else "NotFound", "message": f"fake {status}"}}
            self.calls.append(Call(request.method, request.path, body, status, answer))
            return web.json_response(answer, status=status, headers=headers)
        return None

    def _check_cards(self, activity: dict) -> list[str]:
        problems = []
        for attachment in activity.get("attachments") or []:
            if attachment.get("contentType") != CARD:
                problems.append(f"unexpected attachment {attachment.get('contentType')}")
                continue
            problems += card_problems(attachment.get("content") or {})
        return problems

    async def _create_activity(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = await self._guard(request, body)
        if refused:
            return refused
        problems = self._check_cards(body)
        if problems:
            self.card_problems += problems
            answer = {"error": {"code": "BadArgument", "message": "; ".join(problems)}}
            self.calls.append(Call("POST", request.path, body, 400, answer))
            return web.json_response(answer, status=400)
        answer = {"id": f"1700000000{next(self._ids):03d}"}
        self.calls.append(Call("POST", request.path, body, 201, answer,
                               {"conversation": request.match_info["conversation"]}))
        return web.json_response(answer, status=201)

    async def _update_activity(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = await self._guard(request, body)
        if refused:
            return refused
        problems = self._check_cards(body)
        if problems:
            self.card_problems += problems
            return web.json_response({"error": {"code": "BadArgument", "message": "; ".join(problems)}}, status=400)
        answer = {"id": request.match_info["activity"]}
        self.calls.append(Call("PUT", request.path, body, 200, answer,
                               {"conversation": request.match_info["conversation"],
                                "activity": request.match_info["activity"]}))
        return web.json_response(answer)

    async def _create_conversation(self, request: web.Request) -> web.Response:
        body = await request.json()
        refused = await self._guard(request, body)
        if refused:
            return refused
        member = (body.get("members") or [{}])[0].get("id", "")
        if member not in self.members:
            answer = {"error": {"code": "BadArgument", "message": "Could not find the member"}}
            self.calls.append(Call("POST", request.path, body, 400, answer))
            return web.json_response(answer, status=400)
        answer = {"id": f"a:personal-{member}"}
        self.calls.append(Call("POST", request.path, body, 201, answer))
        return web.json_response(answer, status=201)

    async def _member(self, request: web.Request) -> web.Response:
        refused = await self._guard(request, None)
        if refused:
            return refused
        member = self.members.get(request.match_info["member"])
        if member is None:
            answer = {"error": {"code": "MemberNotFoundInConversation", "message": "The member was not found"}}
            self.calls.append(Call("GET", request.path, None, 404, answer))
            return web.json_response(answer, status=404)
        answer = {"id": member.id, "name": member.name, "aadObjectId": member.aad_object_id, "email": member.email,
                  "userPrincipalName": member.email, "tenantId": TENANT, "userRole": "user",
                  "givenName": member.name.split()[0], "surname": member.name.split()[-1]}
        self.calls.append(Call("GET", request.path, None, 200, answer))
        return web.json_response(answer)

    # ---- files sent to the bot ------------------------------------------------------------------------------

    def add_file(self, data: bytes) -> str:
        key = secrets.token_urlsafe(16)
        self.files[key] = data
        return f"{self.base}/files/{key}?tempauth={secrets.token_urlsafe(8)}"

    def replace_file(self, url: str, data: bytes) -> None:
        self.files[url.split("/files/")[1].split("?")[0]] = data

    def expire_file(self, url: str) -> None:
        self.files.pop(url.split("/files/")[1].split("?")[0], None)

    async def _file(self, request: web.Request) -> web.Response:
        self.downloads.append(request.match_info["key"])
        data = self.files.get(request.match_info["key"])
        if data is None or "tempauth" not in request.query or "Authorization" in request.headers:
            return web.json_response({"error": {"code": "accessDenied"}}, status=403)
        return web.Response(body=data, content_type="application/octet-stream")

    # ---- what arrived --------------------------------------------------------------------------------------

    def sent(self, conversation: str | None = None) -> list[dict]:
        """Activities the bot created (successfully), optionally in one conversation."""
        return [c.body for c in self.calls if c.method == "POST" and c.path.endswith("/activities")
                and c.status == 201 and (conversation is None or c.headers.get("conversation") == conversation)]

    def updates(self) -> list[Call]:
        return [c for c in self.calls if c.method == "PUT" and c.status == 200]


def card_of(activity: dict) -> dict:
    return activity["attachments"][0]["content"]


def card_text(card: Any) -> str:
    """Every string in a card, for assertions on what a person reads."""
    if isinstance(card, dict):
        return " ".join(card_text(v) for k, v in card.items() if k not in ("type", "id", "verb"))
    if isinstance(card, list):
        return " ".join(card_text(v) for v in card)
    return card if isinstance(card, str) else ""


def inputs_of(card: dict) -> dict[str, dict]:
    return {e["id"]: e for e in card.get("body", []) if e.get("type", "").startswith("Input.")}


def actions_of(card: dict) -> list[dict]:
    found = list(card.get("actions", []))
    for element in card.get("body", []):
        if element.get("type") == "ActionSet":
            found += element["actions"]
    return found


# ---- Teams: activities as the client sends them ----------------------------------------------------------


class TeamsDriver:
    def __init__(self, url: str, fake: FakeMicrosoft) -> None:
        self.url, self.fake = url, fake
        self.http = aiohttp.ClientSession()
        self._ids = itertools.count(1)

    async def close(self) -> None:
        await self.http.close()

    def activity(self, member: Member, kind: str, *, conversation: dict | None = None, locale: str = "sv-SE",
                 **extra) -> dict:
        conversation = conversation or {"conversationType": "personal", "tenantId": TENANT,
                                        "id": f"a:personal-{member.id}"}
        return {
            "type": kind, "id": f"f:{next(self._ids):06d}", "timestamp": "2026-11-25T13:00:00.000Z",
            "localTimestamp": "2026-11-25T14:00:00.000+01:00", "channelId": "msteams",
            "serviceUrl": self.fake.service_url,
            "from": {"id": member.id, "name": member.name, "aadObjectId": member.aad_object_id},
            "conversation": conversation, "recipient": {"id": BOT_ID, "name": "lisbot"},
            "entities": [{"locale": locale, "country": locale[-2:], "platform": "Web",
                          "timezone": "Europe/Stockholm", "type": "clientInfo"}],
            "channelData": {"tenant": {"id": TENANT}}, "locale": locale, "localTimezone": "Europe/Stockholm",
            **extra,
        }

    async def post(self, activity: dict, *, token: str | None = "default", headers: dict | None = None):
        all_headers = {"Content-Type": "application/json"}
        if token == "default":
            token = self.fake.inbound_token(service_url=activity.get("serviceUrl"))
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        async with self.http.post(self.url, data=json.dumps(activity), headers=all_headers) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text else None)

    async def message(self, member: Member, text: str, **kw):
        return await self.post(self.activity(member, "message", text=text, textFormat="plain", **kw))

    async def send_file(self, member: Member, name: str, url: str, **kw):
        """A file attached in the 1:1 chat, as Teams delivers it to a bot with supportsFiles."""
        attachment = {"contentType": "application/vnd.microsoft.teams.file.download.info", "name": name,
                      "contentUrl": f"https://contoso-my.sharepoint.com/personal/{member.id}/Documents/{name}",
                      "content": {"downloadUrl": url, "uniqueId": secrets.token_hex(8), "fileType": name.rsplit(".")[-1]}}
        return await self.post(self.activity(member, "message", text="", attachments=[attachment], **kw))

    async def invoke(self, member: Member, name: str, value: dict, **kw):
        return await self.post(self.activity(member, "invoke", name=name, value=value, **kw))

    async def open_report(self, member: Member, data: dict | None = None, **kw):
        return await self.invoke(member, "task/fetch",
                                 {"data": data or {"msteams": {"type": "task/fetch"}, "lisbot_dialog": "home_report_incident"},
                                  "context": {"theme": "default"}}, **kw)

    async def submit_dialog(self, member: Member, card: dict, values: dict, **kw):
        """Press the dialog's submit button with `values` in the inputs, as Teams does (task/submit)."""
        return await self.invoke(member, "task/submit", {"data": submitted(card, values),
                                                          "context": {"theme": "default"}}, **kw)

    async def execute(self, member: Member, action: dict, values: dict | None = None, card: dict | None = None, **kw):
        """Press an Action.Execute button (adaptiveCard/action); with `card`, its inputs go along."""
        data = submitted(card, values or {}, action) if card is not None else dict(action.get("data") or {})
        return await self.invoke(member, "adaptiveCard/action", {
            "action": {"type": "Action.Execute", "verb": action.get("verb"), "data": data}, "trigger": "manual"}, **kw)


def submitted(card: dict, values: dict, action: dict | None = None) -> dict:
    """What Teams sends for a card's submit: every input's value (as strings) merged with the action's data."""
    action = action or actions_of(card)[0]
    data = dict(action.get("data") or {})
    for input_id, element in inputs_of(card).items():
        value = values.get(input_id, element.get("value"))
        if value is None or value == "":
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(value)
        data[input_id] = str(value)
    return data
