"""Adaptive Card validation for the tests: the official Adaptive Card schema 1.5, and a stricter subset.

Every card is checked against the official schema (tests/schemas/adaptive-card-1.5.json, from
microsoft/AdaptiveCards, MIT; where it came from is in tests/schemas/README.md), with jsonschema's draft-6
validator, as the schema declares. Beside it, a JSON Schema for the part of Adaptive Cards 1.5 that lisbot uses:

Written for these tests from the published Adaptive Cards 1.5 schema (adaptivecards.io/schemas/1.5.0):
the same element and property names, enums, required properties and `additionalProperties: false`,
for the elements lisbot sends (TextBlock, FactSet, ActionSet, the five inputs, Action.Execute,
Action.Submit, Action.OpenUrl). Anything outside that subset fails here even where the full schema would
accept it, so a card that passes is one Teams renders from 1.5 on, mobile included. Validated with
jsonschema (draft 7). Teams' own limits are checked beside it: 28 KB a card, 1.5 as the version.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator, Draft7Validator

TEAMS_CARD_MAX_BYTES = 28 * 1024


def _enum(*values: str) -> dict:
    """Like the published schema: the names as listed, or the same names in any letter case."""
    ignoring_case = "|".join("".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in v)
                             for v in values)
    return {"type": "string", "anyOf": [{"enum": list(values)}, {"pattern": f"^({ignoring_case})$"}]}


_SPACING = _enum("default", "none", "small", "medium", "large", "extraLarge", "padding")
_ELEMENT = {  # Extendable.Element
    "id": {"type": "string"}, "isVisible": {"type": "boolean"}, "separator": {"type": "boolean"},
    "spacing": _SPACING, "height": _enum("auto", "stretch"), "requires": {"type": "object"},
    "fallback": {},
}
_INPUT = {**_ELEMENT, "label": {"type": "string"}, "isRequired": {"type": "boolean"},
          "errorMessage": {"type": "string"}}
_ACTION = {  # Extendable.Action
    "id": {"type": "string"}, "title": {"type": "string"}, "iconUrl": {"type": "string"},
    "style": _enum("default", "positive", "destructive"), "tooltip": {"type": "string"},
    "isEnabled": {"type": "boolean"}, "mode": _enum("primary", "secondary"), "requires": {"type": "object"},
    "fallback": {},
}


def _def(type_name: str, properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "additionalProperties": False,
            "required": ["type", *required],
            "properties": {"type": {"const": type_name}, **properties}}


_DATA = {"anyOf": [{"type": "string"}, {"type": "object"}]}

DEFINITIONS = {
    "TextBlock": _def("TextBlock", {
        **_ELEMENT, "text": {"type": "string"},
        "color": _enum("default", "dark", "light", "accent", "good", "warning", "attention"),
        "fontType": _enum("default", "monospace"),
        "horizontalAlignment": _enum("left", "center", "right"),
        "isSubtle": {"type": "boolean"}, "maxLines": {"type": "number"},
        "size": _enum("default", "small", "medium", "large", "extraLarge"),
        "weight": _enum("default", "lighter", "bolder"), "wrap": {"type": "boolean"},
        "style": _enum("default", "heading"),
    }, ("text",)),
    "Fact": {"type": "object", "additionalProperties": False, "required": ["title", "value"],
             "properties": {"type": {"const": "Fact"}, "title": {"type": "string"}, "value": {"type": "string"}}},
    "FactSet": _def("FactSet", {**_ELEMENT, "facts": {"type": "array", "items": {"$ref": "#/definitions/Fact"}}},
                    ("facts",)),
    "ActionSet": _def("ActionSet", {**_ELEMENT, "actions": {"type": "array", "items": {"$ref": "#/definitions/Action"}}},
                      ("actions",)),
    "Input.Text": _def("Input.Text", {
        **_INPUT, "isMultiline": {"type": "boolean"}, "maxLength": {"type": "number"},
        "placeholder": {"type": "string"}, "regex": {"type": "string"},
        "style": _enum("text", "tel", "url", "email", "password"), "value": {"type": "string"},
    }, ("id",)),
    "Input.Choice": {"type": "object", "additionalProperties": False, "required": ["title", "value"],
                     "properties": {"type": {"const": "Input.Choice"}, "title": {"type": "string"},
                                    "value": {"type": "string", "pattern": "^[^,]*$"}}},
    "Input.ChoiceSet": _def("Input.ChoiceSet", {
        **_INPUT, "choices": {"type": "array", "items": {"$ref": "#/definitions/Input.Choice"}},
        "isMultiSelect": {"type": "boolean"}, "style": _enum("compact", "expanded", "filtered"),
        "value": {"type": "string"}, "placeholder": {"type": "string"}, "wrap": {"type": "boolean"},
    }, ("id",)),
    "Input.Date": _def("Input.Date", {
        **_INPUT, "max": {"type": "string"}, "min": {"type": "string"}, "placeholder": {"type": "string"},
        "value": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
    }, ("id",)),
    "Input.Time": _def("Input.Time", {
        **_INPUT, "max": {"type": "string"}, "min": {"type": "string"}, "placeholder": {"type": "string"},
        "value": {"type": "string", "pattern": r"^\d{2}:\d{2}$"},
    }, ("id",)),
    "Input.Number": _def("Input.Number", {
        **_INPUT, "max": {"type": "number"}, "min": {"type": "number"}, "placeholder": {"type": "string"},
        "value": {"type": "number"},
    }, ("id",)),
    "Action.Execute": _def("Action.Execute", {**_ACTION, "verb": {"type": "string"}, "data": _DATA,
                                              "associatedInputs": _enum("Auto", "None", "auto", "none")}),
    "Action.Submit": _def("Action.Submit", {**_ACTION, "data": _DATA,
                                            "associatedInputs": _enum("Auto", "None", "auto", "none")}),
    "Action.OpenUrl": _def("Action.OpenUrl", {**_ACTION, "url": {"type": "string"}}, ("url",)),
    "Element": {"anyOf": [{"$ref": f"#/definitions/{name}"} for name in (
        "TextBlock", "FactSet", "ActionSet", "Input.Text", "Input.ChoiceSet", "Input.Date", "Input.Time",
        "Input.Number")]},
    "Action": {"anyOf": [{"$ref": f"#/definitions/{name}"} for name in (
        "Action.Execute", "Action.Submit", "Action.OpenUrl")]},
}

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "definitions": DEFINITIONS,
    "type": "object",
    "additionalProperties": False,
    "required": ["type", "version"],
    "properties": {
        "type": {"const": "AdaptiveCard"},
        "version": {"const": "1.5"},
        "$schema": {"type": "string"},
        "body": {"type": "array", "items": {"$ref": "#/definitions/Element"}},
        "actions": {"type": "array", "items": {"$ref": "#/definitions/Action"}},
        "fallbackText": {"type": "string"},
        "lang": {"type": "string"},
        "speak": {"type": "string"},
        "minHeight": {"type": "string"},
        "verticalContentAlignment": _enum("top", "center", "bottom"),
        "rtl": {"type": ["boolean", "null"]},
    },
}

_VALIDATOR = Draft7Validator(SCHEMA)
Draft7Validator.check_schema(SCHEMA)

OFFICIAL_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "adaptive-card-1.5.json").read_text("utf-8"))
Draft6Validator.check_schema(OFFICIAL_SCHEMA)
_OFFICIAL = Draft6Validator(OFFICIAL_SCHEMA)


def official_problems(card: dict[str, Any]) -> list[str]:
    """What the official Adaptive Card 1.5 schema says is wrong, deepest first (its anyOf hides the cause)."""
    found = []
    for error in _OFFICIAL.iter_errors(card):
        deepest = max([error, *error.context], key=lambda e: len(e.absolute_path)) if error.context else error
        found.append(f"official schema: {'/'.join(map(str, deepest.absolute_path)) or '(card)'}: {deepest.message}")
    return found


def card_problems(card: dict[str, Any]) -> list[str]:
    """Everything wrong with a card: the official schema's and the subset's violations (by JSON path), duplicate
    input ids, Teams' limits."""
    problems = official_problems(card) + [f"{'/'.join(map(str, e.absolute_path)) or '(card)'}: {e.message}"
                for e in sorted(_VALIDATOR.iter_errors(card), key=lambda e: list(map(str, e.absolute_path)))]
    ids = [e.get("id") for e in card.get("body", []) if isinstance(e, dict) and e.get("type", "").startswith("Input.")]
    if len(ids) != len(set(ids)):
        problems.append("input ids are not unique")
    size = len(json.dumps(card, ensure_ascii=False).encode())
    if size > TEAMS_CARD_MAX_BYTES:
        problems.append(f"card is {size} bytes; Teams takes {TEAMS_CARD_MAX_BYTES}")
    return problems


def assert_valid_card(card: dict[str, Any]) -> None:
    problems = card_problems(card)
    assert not problems, "invalid Adaptive Card:\n" + "\n".join(problems[:20])
