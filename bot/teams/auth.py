"""Bot Framework authentication, both ways.

In: every request to /api/messages carries a JWT from the Bot Framework. The SDK's own validator
(`InboundActivityTokenValidator`) checks its signature against the published keys, the issuer, the
audience (our CLIENT_ID), the expiry and the serviceurl claim. A request without a valid token gets 401;
no setting turns that off. Tests and on-premises proxies may move where the keys are published
(LISBOT_TEAMS_OPENID_URL, LISBOT_TEAMS_TOKEN_ISSUER), never whether they are checked.

Out: the Bot Connector wants an app token, from OAuth 2.0 client credentials at the Entra login endpoint.
The SDK gets it through MSAL by default, and MSAL only accepts an https authority that it first looks up
at login.microsoftonline.com (instance discovery) — it can never be pointed at a local token issuer, so it
could not be tested here. This module makes the same client-credentials request itself and hands the token
to the SDK's API client through the SDK's token-provider interface; production and tests share it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import warnings

import httpx
import jwt
from microsoft_teams.api.auth.cloud_environment import PUBLIC, CloudEnvironment, with_overrides

with warnings.catch_warnings():
    # Importing the SDK's app package announces preview features lisbot does not use (HTML widgets).
    warnings.simplefilter("ignore")
    from microsoft_teams.apps.auth import InboundActivityTokenValidator

from bot.config import Settings

TOKEN_MARGIN = 300.0  # seconds: a token is renewed this long before it expires
MULTI_TENANT = "botframework.com"


class Unauthorized(Exception):
    pass


def cloud_of(settings: Settings) -> CloudEnvironment:
    """Microsoft's public cloud, with the addresses the settings move (tests, on-premises proxies)."""
    return with_overrides(PUBLIC, login_endpoint=settings.teams_login_url.rstrip("/"),
                          openid_metadata_url=settings.teams_openid_url,
                          token_issuer=settings.teams_token_issuer.rstrip("/"))


class InboundAuth:
    def __init__(self, settings: Settings) -> None:
        if not settings.teams_client_id:
            raise ValueError("CLIENT_ID is needed to check Bot Framework tokens")
        self._validator = InboundActivityTokenValidator(settings.teams_client_id, cloud=cloud_of(settings))

    async def check(self, authorization: str, service_url: str | None) -> dict[str, Any]:
        """The token's claims, or Unauthorized."""
        scheme, _, raw = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthorized("missing or malformed Authorization header")
        # The SDK fetches the signing keys with a blocking HTTP client (PyJWT's PyJWKClient, cached for
        # five minutes): run the check in a worker thread so the event loop never waits on it.
        try:
            return await asyncio.to_thread(_validate, self._validator, raw.strip(), service_url)
        except (jwt.InvalidTokenError, jwt.PyJWKClientError, ValueError) as exc:
            raise Unauthorized(str(exc)) from exc


def _validate(validator: InboundActivityTokenValidator, raw: str, service_url: str | None) -> dict[str, Any]:
    return asyncio.run(validator.validate_token(raw, service_url))


class BotToken:
    """App-only tokens for the Bot Connector (the SDK's TokenProviderProtocol)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings, self.http = settings, http
        self.cloud = cloud_of(settings)
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    async def get_app_token(self, scope: str, tenant_id: str | None = None) -> str:
        cached = self._cache.get(scope)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        async with self._lock:
            cached = self._cache.get(scope)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            tenant = tenant_id or self.settings.teams_tenant_id or MULTI_TENANT
            response = await self.http.post(
                f"{self.cloud.login_endpoint}/{tenant}/oauth2/v2.0/token",
                data={"grant_type": "client_credentials", "client_id": self.settings.teams_client_id,
                      "client_secret": self.settings.teams_client_secret or "", "scope": scope},
                timeout=10.0)
            body = response.json() if response.content else {}
            if response.status_code != 200 or not body.get("access_token"):
                raise TokenError(f"the login endpoint refused a token ({response.status_code}: "
                                 f"{body.get('error') or 'no access_token'})")
            lifetime = float(body.get("expires_in") or 3600)
            self._cache[scope] = (body["access_token"], time.monotonic() + max(lifetime - TOKEN_MARGIN, 30.0))
            return body["access_token"]

    def forget(self) -> None:
        """The connector refused the token (401): fetch a fresh one next time."""
        self._cache.clear()


class TokenError(Exception):
    """No app token: wrong CLIENT_ID/CLIENT_SECRET/TENANT_ID, or the login endpoint is down. Worth retrying
    once an admin has fixed it, so the outbox keeps the messages."""
