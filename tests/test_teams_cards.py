"""The card validators themselves: the official Adaptive Card 1.5 schema is in force, and lisbot's stricter
subset beside it (a card Teams renders everywhere, mobile included)."""

from __future__ import annotations

from tests.adaptivecards import OFFICIAL_SCHEMA, card_problems, official_problems


def card(*body, actions=()) -> dict:
    return {"type": "AdaptiveCard", "version": "1.5", "body": list(body), "actions": list(actions)}


def test_the_official_schema_is_the_1_5_schema():
    assert OFFICIAL_SCHEMA["id"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert {"Table", "Action.Execute", "Input.Text"} <= set(OFFICIAL_SCHEMA["definitions"])


def test_the_official_schema_refuses_what_is_not_an_adaptive_card():
    good = card({"type": "TextBlock", "text": "Hej", "wrap": True},
                actions=[{"type": "Action.Execute", "verb": "x", "title": "Ok", "data": {"value": "1"}}])
    assert card_problems(good) == []
    for bad in (card({"type": "TextBlok", "text": "Hej"}),
                card({"type": "TextBlock", "text": "Hej", "wrap": "ja"}),
                card({"type": "Input.Text"}),  # an input without id
                card(actions=[{"type": "Action.OpenUrl", "title": "Öppna"}])):  # a link without url
        assert official_problems(bad), bad


def test_the_subset_is_stricter_than_the_official_schema():
    table = card({"type": "Table", "columns": [{"width": 1}], "rows": []})
    assert official_problems(table) == []  # Adaptive Cards 1.5 has tables,
    assert card_problems(table)            # lisbot does not send them
