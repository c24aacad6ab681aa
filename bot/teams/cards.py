"""Neutral forms, messages and screens -> Adaptive Cards 1.5 (the SDK's card models); card data -> values.

Teams renders Adaptive Cards up to 1.5 everywhere, mobile included, so nothing newer is used. Every text
wraps; facts (Slack's section fields) become a FactSet, which reads well on a phone. Buttons are
Action.Execute (the card is answered in place, for the person who pressed); a button that must open a
dialog (reporting an incident) is an Action.Submit with Teams' task/fetch.

Text arrives in the neutral markup (Slack-flavoured: *bold*, _italic_, <url|label>, &lt; escapes) and is
turned into the Markdown subset Adaptive Cards speak. Markdown link syntax a person typed is defused first,
so only links the bot wrote become links.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

from microsoft_teams.cards import (
    ActionSet, AdaptiveCard, Choice, ChoiceSetInput, DateInput, ExecuteAction, Fact, FactSet, NumberInput,
    SubmitAction, TextBlock, TextInput, TimeInput,
)

from bot.model import (
    Button, Buttons, ChoiceField, DateField, DateTimeField, Divider, Form, Header, Message, Note, NumberField,
    PersonField, Screen, Text, TextField,
)

VERSION = "1.5"
FORM_VERB = "lisbot.form"       # Action.Execute of a form shown in place of a card
DATA_FORM = "lisbot_form"       # hidden data: which form, its metadata, its submission token
DATA_META = "lisbot_meta"
DATA_TOKEN = "lisbot_token"
DATA_DIALOG = "lisbot_dialog"   # hidden data of a button that opens a dialog
DATA_VALUE = "value"            # hidden data of an ordinary button
TIME_SUFFIX = "__time"          # a date-and-time field is two inputs: <id> (date) and <id>__time
RADIO_MAX = 10                  # more options than this become a drop-down
TEXT_MAX = 5000
TITLE_MAX = 60
EMOJI = {":white_check_mark:": "✅", ":warning:": "⚠️", ":alarm_clock:": "⏰", ":rotating_light:": "🚨"}

_LINK = re.compile(r"<([^<>|\s]+)\|([^<>]+)>")
_BARE = re.compile(r"<((?:https?|mailto):[^<>|\s]+)>")
_MENTION = re.compile(r"<@([A-Z0-9]+)>")
_SPECIAL = re.compile(r"<!([a-z]+)(?:\|[^>]*)?>")
_BOLD = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]*?\S)\*(?![*\w])")


def mentions_in(texts: list[str]) -> set[str]:
    return {m for text in texts for m in _MENTION.findall(text)}


def markdown(text: str, names: dict[str, str] | None = None) -> str:
    """The neutral markup as Adaptive Card Markdown."""
    text = text.replace("](", "]\u200b(")  # a link someone typed stays text
    text = _LINK.sub(lambda m: f"[{m.group(2)}]({m.group(1)})", text)
    text = _BARE.sub(lambda m: m.group(1), text)
    text = _MENTION.sub(lambda m: (names or {}).get(m.group(1), "–"), text)
    text = _SPECIAL.sub("", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = _BOLD.sub(r"**\1**", text)
    for code, emoji in EMOJI.items():
        text = text.replace(code, emoji)
    text = re.sub(r"\n+", "\n\n", text.strip())  # Adaptive Card Markdown breaks lines on blank lines
    return _clip(text, TEXT_MAX)


def plain(text: str) -> str:
    """For titles and labels, which show no Markdown."""
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _BARE.sub(lambda m: m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("*", "")
    for code, emoji in EMOJI.items():
        text = text.replace(code, emoji)
    return text.strip()


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- messages and screens -----------------------------------------------------------


def elements(blocks, names: dict[str, str] | None = None, *, dialogs: frozenset[str] = frozenset()) -> list:
    out: list = []
    separate = False
    for block in blocks:
        if isinstance(block, Divider):
            separate = True
            continue
        if isinstance(block, Header):
            element = TextBlock(text=_clip(plain(block.text), 200), size="Large", weight="Bolder", wrap=True,
                                style="heading")
        elif isinstance(block, Text):
            made = []
            if block.text:
                made.append(TextBlock(text=markdown(block.text, names), wrap=True))
            if block.fields:
                made.append(_facts(block.fields, names))
            if not made:
                continue
            for extra in made[1:]:
                extra.spacing = "Small"
            if separate:
                made[0].separator = True
                separate = False
            out += made
            continue
        elif isinstance(block, Note):
            element = TextBlock(text=markdown(block.text, names), size="Small", is_subtle=True, wrap=True)
        elif isinstance(block, Buttons):
            element = ActionSet(actions=[button(b, dialogs) for b in block.buttons[:6]])
        else:
            continue
        if separate:
            element.separator = True
            separate = False
        out.append(element)
    return out


def _facts(fields: tuple[str, ...], names: dict[str, str] | None) -> FactSet:
    facts = []
    for raw in fields[:10]:
        match = re.match(r"^\*([^*\n]+?)\*\s*(.*)$", raw.strip(), re.S)
        if match:
            title, value = match.group(1).strip().rstrip(":"), match.group(2).strip()
        else:
            title, value = "", raw
        facts.append(Fact(title=plain(title), value=markdown(value, names) or "–"))
    return FactSet(facts=facts)


def button(b: Button, dialogs: frozenset[str] = frozenset()):
    title = _clip(plain(b.label), TITLE_MAX)
    style = {"primary": "positive", "danger": "destructive"}.get(b.style or "")
    if b.action in dialogs:
        action = SubmitAction(title=title, data={"msteams": {"type": "task/fetch"}, DATA_DIALOG: b.action})
    else:
        action = ExecuteAction(title=title, verb=b.action, data={DATA_VALUE: b.value})
    if style:
        action.style = style
    return action


def card(body: list, actions: list | None = None, *, lang: str | None = None) -> AdaptiveCard:
    result = AdaptiveCard(version=VERSION, body=body or [TextBlock(text=" ", wrap=True)])
    if actions:
        result.actions = actions
    if lang:
        result.lang = lang
    return result


def message_card(message: Message, names: dict[str, str] | None = None, *,
                 dialogs: frozenset[str] = frozenset()) -> AdaptiveCard:
    body = elements(message.blocks, names, dialogs=dialogs)
    if not body:
        body = [TextBlock(text=markdown(message.text, names), wrap=True)]
    return card(body)


def screen_card(screen: Screen, names: dict[str, str] | None = None, *,
                dialogs: frozenset[str] = frozenset()) -> AdaptiveCard:
    body = [TextBlock(text=_clip(plain(screen.title), 200), size="Medium", weight="Bolder", wrap=True)]
    return card(body + elements(screen.blocks, names, dialogs=dialogs))


def to_dict(adaptive_card: AdaptiveCard) -> dict[str, Any]:
    return adaptive_card.model_dump(by_alias=True, exclude_none=True)


# ---- forms --------------------------------------------------------------------------------


def form_card(form: Form, *, mode: Literal["dialog", "execute"], tz: str, texts: dict[str, str],
              raw: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
              people: dict[int, str] | None = None, token: str | None = None,
              names: dict[str, str] | None = None) -> AdaptiveCard:
    """A form as a card. `raw` is what was submitted (kept when the card comes back with errors), `errors` the
    handler's messages by field, shown under each field. `texts` holds "required" and "time"."""
    errors = dict(errors or {})
    body: list = []
    field_ids = {f.id for f in form.fields}
    if form.intro:
        body.append(TextBlock(text=markdown(form.intro, names), wrap=True))
    for field_id in [k for k in errors if k not in field_ids]:
        body.append(_error(errors.pop(field_id)))
    for field in form.fields:
        body += _inputs(field, tz, texts, raw, errors.get(field.id), people or {})
        if field.id in errors:
            body.append(_error(errors[field.id]))
        if field.hint:
            body.append(TextBlock(text=markdown(field.hint), size="Small", is_subtle=True, wrap=True, spacing="None"))
    data = {DATA_FORM: form.id, DATA_META: form.metadata or {}, DATA_TOKEN: token or ""}
    title = _clip(plain(form.submit), TITLE_MAX)
    submit = (SubmitAction(title=title, data=data, style="positive") if mode == "dialog"
              else ExecuteAction(title=title, verb=FORM_VERB, data=data, style="positive"))
    if mode == "execute":
        body.insert(0, TextBlock(text=_clip(plain(form.title), 200), size="Medium", weight="Bolder", wrap=True))
    return card(body, [submit])


def _error(text: str) -> TextBlock:
    return TextBlock(text=markdown(text), color="Attention", size="Small", wrap=True, spacing="None")


def _raw(raw: dict[str, Any] | None, key: str) -> str | None:
    if raw is None or raw.get(key) in (None, ""):
        return None
    return str(raw[key])


def _inputs(field, tz: str, texts: dict[str, str], raw, error: str | None, people: dict[int, str]) -> list:
    required = not field.optional
    common: dict[str, Any] = {"id": field.id, "label": _clip(plain(field.label), 200), "is_required": required}
    if required or error:
        common["error_message"] = error or texts["required"]
    if isinstance(field, TextField):
        element = TextInput(**common, is_multiline=field.multiline, max_length=field.max_length)
        value = _raw(raw, field.id) if raw is not None else field.initial
        if value:
            element.value = value[: field.max_length]
        if field.placeholder:
            element.placeholder = plain(field.placeholder)
        return [element]
    if isinstance(field, ChoiceField):
        element = ChoiceSetInput(**common, choices=[Choice(title=_clip(plain(o.label), 200), value=o.value)
                                                    for o in field.options],
                                 is_multi_select=field.multi, wrap=True,
                                 style="expanded" if len(field.options) <= RADIO_MAX else "compact")
        value = _raw(raw, field.id) if raw is not None else ",".join(field.initial)
        if value:
            element.value = value
        return [element]
    if isinstance(field, DateTimeField):
        local = field.initial.astimezone(ZoneInfo(tz)) if field.initial else None
        day = DateInput(**common)
        clock = TimeInput(id=field.id + TIME_SUFFIX, label=texts["time"], is_required=required, spacing="Small")
        if required:
            clock.error_message = error or texts["required"]
        day_value = _raw(raw, field.id) if raw is not None else (local.date().isoformat() if local else None)
        time_value = _raw(raw, field.id + TIME_SUFFIX) if raw is not None else (local.strftime("%H:%M") if local else None)
        if day_value:
            day.value = day_value
        if time_value:
            clock.value = time_value
        return [day, clock]
    if isinstance(field, DateField):
        element = DateInput(**common)
        value = _raw(raw, field.id) if raw is not None else (field.initial.isoformat() if field.initial else None)
        if value:
            element.value = value
        return [element]
    if isinstance(field, NumberField):
        element = NumberInput(**common, min=field.minimum, max=field.maximum)
        value = _raw(raw, field.id) if raw is not None else field.initial
        try:
            if value is not None:
                element.value = int(value)
        except ValueError:
            pass
        return [element]
    if isinstance(field, PersonField):
        choices = dict(people)
        element = ChoiceSetInput(**common, choices=[Choice(title=_clip(name, 200), value=str(pid))
                                                    for pid, name in choices.items()], style="compact")
        value = _raw(raw, field.id) if raw is not None else (str(field.initial) if field.initial is not None else None)
        if value and value.isdigit() and int(value) in choices:
            element.value = value
        return [element]
    raise TypeError(f"no Adaptive Card input for {field!r}")


def form_values(form: Form, data: dict[str, Any], tz: str) -> dict[str, Any]:
    """What a submitted card holds, as the neutral model's types (like bot.slack.blocks.form_values)."""
    values: dict[str, Any] = {}
    for field in form.fields:
        raw = _raw(data, field.id)
        if isinstance(field, ChoiceField):
            chosen = tuple(v for v in (raw or "").split(",") if v)
            values[field.id] = chosen if field.multi else (chosen[0] if chosen else None)
        elif isinstance(field, DateTimeField):
            values[field.id] = _moment(raw, _raw(data, field.id + TIME_SUFFIX), tz)
        elif isinstance(field, DateField):
            values[field.id] = _day(raw)
        elif isinstance(field, PersonField):
            values[field.id] = int(raw) if raw and raw.isdigit() else None
        elif isinstance(field, NumberField):
            values[field.id] = raw.removesuffix(".0") if raw else None
        else:
            values[field.id] = raw
    return values


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw[:10]) if raw else None
    except ValueError:
        return None


def _moment(day_raw: str | None, time_raw: str | None, tz: str) -> datetime | None:
    day = _day(day_raw)
    if day is None:
        return None
    try:
        clock = time.fromisoformat(time_raw[:5]) if time_raw else time(0, 0)
    except ValueError:
        clock = time(0, 0)
    return datetime.combine(day, clock, ZoneInfo(tz)).astimezone(timezone.utc)
