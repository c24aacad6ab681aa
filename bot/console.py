"""Neutral forms, messages and screens as plain terminal text (the demo and the CLI)."""

from __future__ import annotations

import re

from bot.model import Buttons, ChoiceField, Divider, Form, Header, Message, Note, Screen, Text

_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_EMOJI = {":alarm_clock:": "⏰", ":warning:": "⚠"}


def plain(text: str) -> str:
    text = _LINK.sub(r"\2 (\1)", text)
    for code, symbol in _EMOJI.items():
        text = text.replace(code, symbol)
    text = re.sub(r"(?<!\w)[*_](\S(?:.*?\S)?)[*_](?!\w)", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def blocks_text(blocks) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Header):
            lines += [plain(block.text).upper()]
        elif isinstance(block, Text):
            if block.text:
                lines.append(plain(block.text))
            lines += ["  " + plain(f).replace("\n", ": ", 1) for f in block.fields]
        elif isinstance(block, Note):
            lines.append("  (" + plain(block.text) + ")")
        elif isinstance(block, Buttons):
            lines.append("  " + "  ".join(f"[ {b.label} ]" for b in block.buttons))
        elif isinstance(block, Divider):
            lines.append("  " + "-" * 40)
    return lines


def message_text(message: Message) -> str:
    return "\n".join(blocks_text(message.blocks) or [plain(message.text)])


def screen_text(screen: Screen) -> str:
    return "\n".join(blocks_text(screen.blocks))


def form_text(form: Form, optional_label: str) -> str:
    lines = [f"┌ {form.title}"]
    if form.intro:
        lines.append(f"│ {plain(form.intro)}")
    for field in form.fields:
        label = field.label + (f" ({optional_label})" if field.optional else "")
        lines.append(f"│ • {label}")
        if isinstance(field, ChoiceField):
            lines.append("│     " + " / ".join(o.label for o in field.options))
    lines.append(f"└ [ {form.submit} ]")
    return "\n".join(lines)
