"""Reading what Slack sends with a button press: the button's value, and the message it sits on."""

from __future__ import annotations


def button_value(body) -> str:
    try:
        return body["actions"][0].get("value") or ""
    except (KeyError, IndexError):
        return ""


def button_number(body) -> int:
    """The id a button carries; 0 (found by nobody) when it carries none or something else."""
    value = button_value(body)
    return int(value) if value.isdigit() else 0


def message_ref(body) -> dict | None:
    """Where the pressed button's message is, so it can be updated in place."""
    container = body.get("container") or {}
    if container.get("type") == "message" and container.get("channel_id") and container.get("message_ts"):
        return {"channel": container["channel_id"], "ts": container["message_ts"]}
    return None
