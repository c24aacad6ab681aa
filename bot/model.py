"""The platform-neutral model that handlers speak: who acted, forms with fields, messages with buttons.

Adapters (Slack today, Teams later) translate platform payloads into these and these back into
Block Kit or Adaptive Cards. Text is already in the reader's language when it gets here; it uses a
small markup (*bold*, _italic_, <url|label>) that every adapter can render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Union


@dataclass(frozen=True)
class Actor:
    """Someone doing something through a chat client, resolved to our organisation and person rows."""

    org_id: int
    person_id: int
    platform_user_id: str
    lang: str
    tz: str


# ---- forms -----------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class TextField:
    id: str
    label: str
    multiline: bool = False
    optional: bool = False
    initial: str | None = None
    max_length: int = 3000
    placeholder: str | None = None
    hint: str | None = None
    kind: Literal["text"] = "text"


@dataclass(frozen=True)
class ChoiceField:
    id: str
    label: str
    options: tuple[Option, ...]
    multi: bool = False
    optional: bool = False
    initial: tuple[str, ...] = ()
    hint: str | None = None
    kind: Literal["choice"] = "choice"


@dataclass(frozen=True)
class DateTimeField:
    id: str
    label: str
    optional: bool = False
    initial: datetime | None = None
    hint: str | None = None
    kind: Literal["datetime"] = "datetime"


@dataclass(frozen=True)
class DateField:
    id: str
    label: str
    optional: bool = False
    initial: date | None = None
    hint: str | None = None
    kind: Literal["date"] = "date"


@dataclass(frozen=True)
class NumberField:
    id: str
    label: str
    optional: bool = False
    minimum: int = 0
    maximum: int = 10_000_000
    initial: int | None = None
    hint: str | None = None
    kind: Literal["number"] = "number"


@dataclass(frozen=True)
class PersonField:
    """Pick a person. Values are our person ids; adapters translate to and from platform user ids."""

    id: str
    label: str
    optional: bool = False
    initial: int | None = None
    hint: str | None = None
    kind: Literal["person"] = "person"


Field = Union[TextField, ChoiceField, DateTimeField, DateField, NumberField, PersonField]


@dataclass(frozen=True)
class Form:
    id: str
    title: str
    submit: str
    close: str
    fields: tuple[Field, ...]
    intro: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FormErrors:
    """Field id -> message, shown next to the field; nothing was stored."""

    errors: dict[str, str]


# ---- messages and views ---------------------------------------------------


@dataclass(frozen=True)
class Button:
    action: str
    label: str
    value: str = ""
    style: Literal["primary", "danger", None] = None


@dataclass(frozen=True)
class Header:
    text: str
    type: Literal["header"] = "header"


@dataclass(frozen=True)
class Text:
    text: str
    fields: tuple[str, ...] = ()
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class Note:
    """Small print: context lines under a message."""

    text: str
    type: Literal["note"] = "note"


@dataclass(frozen=True)
class Buttons:
    buttons: tuple[Button, ...]
    type: Literal["buttons"] = "buttons"


@dataclass(frozen=True)
class Divider:
    type: Literal["divider"] = "divider"


Block = Union[Header, Text, Note, Buttons, Divider]

_BLOCK_TYPES = {cls.__dataclass_fields__["type"].default: cls for cls in (Header, Text, Note, Buttons, Divider)}


@dataclass(frozen=True)
class Message:
    """A chat message. `text` is the one-line summary shown in notifications."""

    text: str
    blocks: tuple[Block, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": [_block_to_dict(b) for b in self.blocks]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(text=data["text"], blocks=tuple(_block_from_dict(b) for b in data.get("blocks", ())))


@dataclass(frozen=True)
class Screen:
    """A read-only view: the App Home tab, or a modal that only shows something."""

    title: str
    blocks: tuple[Block, ...]
    close: str | None = None


def _block_to_dict(block: Block) -> dict[str, Any]:
    data: dict[str, Any] = {"type": block.type}
    if isinstance(block, Buttons):
        data["buttons"] = [vars(b) for b in block.buttons]
    elif isinstance(block, Text):
        data.update(text=block.text, fields=list(block.fields))
    elif not isinstance(block, Divider):
        data["text"] = block.text
    return data


def _block_from_dict(data: dict[str, Any]) -> Block:
    cls = _BLOCK_TYPES[data["type"]]
    if cls is Buttons:
        return Buttons(tuple(Button(**b) for b in data["buttons"]))
    if cls is Text:
        return Text(data["text"], tuple(data.get("fields", ())))
    if cls is Divider:
        return Divider()
    return cls(data["text"])
