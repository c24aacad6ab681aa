"""Slack's HTTP requests into Bolt, with the form body decoded in C.

Slack posts interactions as `payload=<JSON>` in a form body, and a modal's JSON is mostly punctuation that
the form encoding escapes: a submitted report is about 7 KB with over a thousand `%XX` escapes. Bolt decodes
it with urllib's pure-Python `parse_qsl`, about 0.7 ms a submission and most of the CPU of an ack; yarl (which
aiohttp already uses for every URL) decodes the same in under 0.1 ms. A body with anything a form encoder
never writes (raw whitespace, `#`, ...) is decoded by Bolt's own function, whose results yarl would not match.

Everything else, the signature check first of all, is Bolt's.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body as bolt_parse_body
from yarl import URL

# What a form encoder writes; on these, yarl's query decoding equals urllib's parse_qsl(keep_blank_values=True).
_FORM_ENCODED = re.compile(r"[A-Za-z0-9%+&=._~*!'()\-]*")


def form_fields(body: str) -> dict[str, str] | None:
    """The fields of a form-encoded body (the last of a repeated name wins, as in Bolt); None if the body has
    characters a form encoder never writes."""
    if not _FORM_ENCODED.fullmatch(body):
        return None
    return dict(URL("?" + body, encoded=True).query.items())


def parse_body(body: str, content_type: str | None) -> dict[str, Any]:
    """Bolt's parse_body, with the same results."""
    if not body or content_type == "application/json" or body.startswith("{"):
        return bolt_parse_body(body, content_type)
    fields = form_fields(body)
    if fields is None:
        return bolt_parse_body(body, content_type)
    if "payload" in body:  # as Bolt decides it
        payload = fields.get("payload")
        return json.loads(payload) if payload is not None else {}
    return fields


class SlackRequest(AsyncBoltRequest):
    """An AsyncBoltRequest (HTTP mode) whose body was decoded by parse_body above."""

    def __init__(self, *, body: str, query: str | None, headers: Any) -> None:
        super().__init__(body="", query=query, headers=headers)  # an empty body: Bolt decodes nothing
        self.raw_body = body  # what the signature is checked against
        self.body = parse_body(body, self.content_type)
        self.context = build_async_context(AsyncBoltContext({}), self.body)


async def to_bolt_request(request: web.Request) -> AsyncBoltRequest:
    return SlackRequest(body=await request.text(), query=request.query_string, headers=request.headers)
