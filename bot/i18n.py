"""Texts from templates/: Swedish first, English second, rendered with Jinja2.

Short chat texts live in templates/i18n/<lang>/*.yaml (one file per area) as Jinja2 strings keyed by
dotted names;
documents are template files. Values a person typed go through `esc` so they cannot inject markup.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from templates import TEMPLATES_DIR

LANGUAGES = ("sv", "en")


def escape_markup(value: Any) -> str:
    """Slack mrkdwn's three control characters; user text must never become a link or a mention."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def table_cell(value: Any) -> str:
    """Text that must stay inside one cell of a Markdown table: one line, no column separators."""
    return " ".join(str(value).split()).replace("|", "\\|") if value not in (None, "") else "–"


def format_datetime(moment: datetime | None, tz: str | ZoneInfo = "Europe/Stockholm") -> str:
    if moment is None:
        return "–"
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def language_of(locale: str | None, default: str) -> str:
    """Slack locales look like sv-SE or en-US; anything we do not speak falls back to the default."""
    if locale:
        lang = locale.split("-")[0].lower()
        if lang in LANGUAGES:
            return lang
    return default


class _Environment(Environment):
    """Jinja copies a template's globals into every render's context. As a ChainMap (Jinja's default) that
    copy walks both maps in Python, most of the cost of rendering a one-line text; as a plain dict, it does not.
    Globals are set before any text is compiled and never changed, so the snapshot is the same map."""

    def make_globals(self, d):
        return {**self.globals, **(d or {})}


class Texts:
    def __init__(self, directory: Path = TEMPLATES_DIR, default_lang: str = "sv") -> None:
        self.default_lang = default_lang
        self.env = _Environment(
            loader=FileSystemLoader(str(directory)),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )
        self.env.filters["esc"] = escape_markup
        self.env.filters["dt"] = format_datetime
        self.env.filters["cell"] = table_cell
        self.catalogs = {lang: _load_catalog(directory / "i18n" / lang) for lang in LANGUAGES}

    def t(self, lang: str, key: str, **params: Any) -> str:
        if not params:
            return self._plain(lang, key)
        return self._compiled(lang, key).render(**params).strip()

    @lru_cache(maxsize=4096)
    def _plain(self, lang: str, key: str) -> str:
        """A text without parameters renders the same every time; a form has dozens of them."""
        return self._compiled(lang, key).render().strip()

    def has(self, lang: str, key: str) -> bool:
        return key in self.catalogs[lang]

    def options(self, lang: str, prefix: str) -> dict[str, str]:
        """All labels under a key, e.g. incident.kind -> {code: label}, in file order."""
        start = prefix + "."
        return {k[len(start):]: v for k, v in self.catalogs[lang].items() if k.startswith(start)}

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)

    @lru_cache(maxsize=2048)
    def _compiled(self, lang: str, key: str) -> Template:
        catalog = self.catalogs.get(lang) or self.catalogs[self.default_lang]
        try:
            source = catalog[key]
        except KeyError:
            raise KeyError(f"no text {key!r} in templates/i18n/{lang}/") from None
        return self.env.from_string(source)


def _load_catalog(folder: Path) -> dict[str, str]:
    catalog: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        texts = _flatten(yaml.safe_load(path.read_text("utf-8")) or {})
        clash = catalog.keys() & texts.keys()
        if clash:
            raise ValueError(f"{path}: keys defined twice in {folder}: {', '.join(sorted(clash))}")
        catalog.update(texts)
    return catalog


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat
