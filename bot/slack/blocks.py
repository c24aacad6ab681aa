"""Neutral forms, messages and screens -> Block Kit; modal state -> neutral field values."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

from bot.model import (
    Buttons, ChoiceField, DateField, DateTimeField, Divider, Form, Header, Message, Note, NumberField, PersonField, Screen, Text,
    TextField,
)

VALUE = "value"  # the action_id of every input element: the block_id already names the field
RADIO_MAX = 10   # radio buttons hold at most 10 options; more become a select


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _clip(text, limit), "emoji": True}


def _mrkdwn(text: str, limit: int = 3000) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _clip(text, limit)}


def _clip(text: str, limit: int) -> str:
    """Slack rejects the whole payload over a limit; a shortened text is the lesser harm."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": _plain(label, 75), "value": value}


def block_kit(blocks) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, Header):
            out.append({"type": "header", "text": _plain(block.text, 150)})
        elif isinstance(block, Text):
            section: dict[str, Any] = {"type": "section"}
            if block.text:
                section["text"] = _mrkdwn(block.text)
            if block.fields:
                section["fields"] = [_mrkdwn(f, 2000) for f in block.fields[:10]]
            out.append(section)
        elif isinstance(block, Note):
            out.append({"type": "context", "elements": [_mrkdwn(block.text)]})
        elif isinstance(block, Buttons):
            out.append({"type": "actions", "elements": [_button(b) for b in block.buttons[:25]]})
        elif isinstance(block, Divider):
            out.append({"type": "divider"})
    return out


def _button(button) -> dict[str, Any]:
    element = {"type": "button", "action_id": button.action, "text": _plain(button.label, 75)}
    if button.value:
        element["value"] = button.value
    if button.style:
        element["style"] = button.style
    return element


def message_payload(message: Message) -> dict[str, Any]:
    return {"text": _clip(message.text, 3000), "blocks": block_kit(message.blocks)[:50]}


def screen_view(screen: Screen, *, home: bool = False, callback_id: str | None = None) -> dict[str, Any]:
    if home:
        return {"type": "home", "blocks": block_kit(screen.blocks)[:100]}
    view = {"type": "modal", "title": _plain(screen.title, 24), "blocks": block_kit(screen.blocks)[:100]}
    if screen.close:
        view["close"] = _plain(screen.close, 24)
    if callback_id:
        view["callback_id"] = callback_id
    return view


def form_view(form: Form, slack_ids: dict[int, str] | None = None) -> dict[str, Any]:
    """`slack_ids` maps the person ids of PersonField initials to Slack user ids."""
    blocks: list[dict[str, Any]] = []
    if form.intro:
        blocks.append({"type": "section", "text": _mrkdwn(form.intro)})
    blocks += [_input_block(field, slack_ids or {}) for field in form.fields]
    view = {
        "type": "modal",
        "callback_id": form.id,
        "title": _plain(form.title, 24),
        "submit": _plain(form.submit, 24),
        "close": _plain(form.close, 24),
        "blocks": blocks,
    }
    if form.metadata:
        view["private_metadata"] = json.dumps(form.metadata)[:3000]
    return view


def _input_block(field, slack_ids: dict[int, str]) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": field.id, "label": _plain(field.label, 2000),
                             "optional": field.optional, "element": _element(field, slack_ids)}
    if field.hint:
        block["hint"] = _plain(field.hint, 2000)
    return block


def _element(field, slack_ids: dict[int, str]) -> dict[str, Any]:
    if isinstance(field, TextField):
        element = {"type": "plain_text_input", "action_id": VALUE, "multiline": field.multiline,
                   "max_length": field.max_length}
        if field.initial:
            element["initial_value"] = field.initial[: field.max_length]
        if field.placeholder:
            element["placeholder"] = _plain(field.placeholder, 150)
        return element
    if isinstance(field, ChoiceField):
        options = [_option(o.value, o.label) for o in field.options]
        initial = [o for o in options if o["value"] in field.initial]
        if field.multi:
            kind = "checkboxes" if len(options) <= RADIO_MAX else "multi_static_select"
        else:
            kind = "radio_buttons" if len(options) <= RADIO_MAX else "static_select"
        element = {"type": kind, "action_id": VALUE, "options": options}
        if initial:
            element["initial_options" if field.multi else "initial_option"] = initial if field.multi else initial[0]
        return element
    if isinstance(field, DateTimeField):
        element = {"type": "datetimepicker", "action_id": VALUE}
        if field.initial:
            element["initial_date_time"] = int(field.initial.timestamp())
        return element
    if isinstance(field, DateField):
        element = {"type": "datepicker", "action_id": VALUE}
        if field.initial:
            element["initial_date"] = field.initial.isoformat()
        return element
    if isinstance(field, NumberField):
        element = {"type": "number_input", "action_id": VALUE, "is_decimal_allowed": False,
                   "min_value": str(field.minimum), "max_value": str(field.maximum)}
        if field.initial is not None:
            element["initial_value"] = str(field.initial)
        return element
    if isinstance(field, PersonField):
        element = {"type": "users_select", "action_id": VALUE}
        if field.initial is not None and field.initial in slack_ids:
            element["initial_user"] = slack_ids[field.initial]
        return element
    raise TypeError(f"no Block Kit element for {field!r}")


def form_values(view: dict[str, Any]) -> dict[str, Any]:
    """Read a submitted modal back into {field id: value} in the neutral model's types."""
    values: dict[str, Any] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        state = actions.get(VALUE) or {}
        kind = state.get("type")
        if kind in ("checkboxes", "multi_static_select"):
            values[block_id] = tuple(o["value"] for o in state.get("selected_options") or ())
        elif kind in ("radio_buttons", "static_select"):
            values[block_id] = (state.get("selected_option") or {}).get("value")
        elif kind == "datepicker":
            picked = state.get("selected_date")
            values[block_id] = date.fromisoformat(picked) if picked else None
        elif kind == "users_select":
            values[block_id] = state.get("selected_user")  # a Slack user id; the adapter maps it to a person
        elif kind == "datetimepicker":
            stamp = state.get("selected_date_time")
            values[block_id] = datetime.fromtimestamp(int(stamp), timezone.utc) if stamp is not None else None
        else:
            values[block_id] = state.get("value")
    return values


def form_metadata(view: dict[str, Any]) -> dict[str, Any]:
    raw = view.get("private_metadata") or ""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
