"""Markdown → a small neutral block model that the PDF and DOCX writers both walk.

Parsing is markdown-it-py's (CommonMark plus GFM tables). HTML is switched off in the parser, so `<script>`
arrives here as literal text and each writer escapes it like any other text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote
from typing import Union

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

CHART_SCHEME = "chart:"
# Schemes a reader can follow; other link targets (relative paths, anchors) stay plain text.
LINK_SCHEMES = ("http://", "https://", "mailto:")
# Characters XML 1.0 forbids (python-docx raises on them) and lone surrogates (lxml raises on them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def clean(text: str) -> str:
    """Drop characters no document format can hold; everything else passes unchanged."""
    return _NOT_XML.sub("", text)


@dataclass(frozen=True)
class Span:
    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    href: str | None = None  # only set for followable links (LINK_SCHEMES)


LINE_BREAK = "\n"  # a Span whose text is exactly this is a hard line break


@dataclass(frozen=True)
class Heading:
    level: int  # 1–4 (5 and 6 are folded into 4)
    spans: list[Span]


@dataclass(frozen=True)
class Paragraph:
    spans: list[Span]


@dataclass(frozen=True)
class Figure:
    key: str | None  # None when the image is not a chart: reference (never fetched)
    alt: str


@dataclass(frozen=True)
class CodeBlock:
    text: str


@dataclass(frozen=True)
class ListBlock:
    ordered: bool
    start: int
    items: list[list["Block"]]


@dataclass(frozen=True)
class Table:
    aligns: list[str | None]  # "left" | "center" | "right" | None per column
    header: list[list[Span]]
    rows: list[list[list[Span]]]


@dataclass(frozen=True)
class Quote:
    blocks: list["Block"]


@dataclass(frozen=True)
class Rule:
    pass


Block = Union[Heading, Paragraph, Figure, CodeBlock, ListBlock, Table, Quote, Rule]


@dataclass
class _Style:
    bold: bool = False
    italic: bool = False
    href: str | None = None


_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


_CHART_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(" + re.escape(CHART_SCHEME) + r"([^)\s]+)\)")


def link_charts(markdown: str, files: dict[str, str]) -> str:
    """Markdown to be read on its own: a `chart:` image links the file its chart is in (`files`: key → relative
    path, URL-quoted); a chart with no file becomes its caption in italics, as the PDF prints it."""
    def image(found: re.Match) -> str:
        alt, key = found.group(1), found.group(2)
        return f"![{alt}]({quote(files[key])})" if key in files else f"*{alt}*"
    return _CHART_IMAGE.sub(image, markdown)


def parse(markdown: str) -> list[Block]:
    root = SyntaxTreeNode(_PARSER.parse(clean(markdown)))
    return _blocks(root.children)


def plain(spans: list[Span]) -> str:
    return "".join(" " if s.text == LINE_BREAK else s.text for s in spans)


def _blocks(nodes: list[SyntaxTreeNode]) -> list[Block]:
    out: list[Block] = []
    for node in nodes:
        kind = node.type
        if kind == "heading":
            out.append(Heading(min(int(node.tag[1]), 4), _inline_spans(node.children[0])))
        elif kind == "paragraph":
            out.extend(_paragraph(node.children[0]))
        elif kind in ("bullet_list", "ordered_list"):
            start = int(node.attrs.get("start", 1)) if kind == "ordered_list" else 1
            items = [_blocks(item.children) for item in node.children]
            out.append(ListBlock(kind == "ordered_list", start, items))
        elif kind == "table":
            out.append(_table(node))
        elif kind == "blockquote":
            out.append(Quote(_blocks(node.children)))
        elif kind == "hr":
            out.append(Rule())
        elif kind in ("code_block", "fence"):
            out.append(CodeBlock(node.content.rstrip("\n")))
        # html_block cannot occur (HTML is off); anything else unknown is skipped rather than guessed at.
    return out


def _paragraph(inline: SyntaxTreeNode) -> list[Block]:
    """A paragraph, split around its images so each image becomes a block of its own."""
    out: list[Block] = []
    spans: list[Span] = []
    for child in inline.children:
        if child.type == "image":
            if plain(spans).strip():
                out.append(Paragraph(_trim(spans)))
            spans = []
            src = str(child.attrs.get("src", ""))
            key = src[len(CHART_SCHEME):] if src.startswith(CHART_SCHEME) else None
            out.append(Figure(key, plain(_inline_spans(child)).strip()))
        else:
            _walk(child, _Style(), spans)
    if plain(spans).strip():
        out.append(Paragraph(_trim(spans)))
    return out


def _trim(spans: list[Span]) -> list[Span]:
    """Whitespace left at the edges of a paragraph split around an image ("text ![x](chart:k) text")."""
    spans = list(spans)
    while spans and spans[-1].text == LINE_BREAK:
        spans.pop()
    if spans:
        first, last = spans[0], spans[-1]
        spans[0] = Span(first.text.lstrip(), first.bold, first.italic, first.code, first.href)
        last = spans[-1]
        spans[-1] = Span(last.text.rstrip(), last.bold, last.italic, last.code, last.href)
    return [s for s in spans if s.text]


def _table(node: SyntaxTreeNode) -> Table:
    header: list[list[Span]] = []
    rows: list[list[list[Span]]] = []
    aligns: list[str | None] = []
    for section in node.children:
        for tr in section.children:
            cells = [_inline_spans(cell.children[0]) if cell.children else [] for cell in tr.children]
            if section.type == "thead":
                header = cells
                aligns = [_align(cell) for cell in tr.children]
            else:
                rows.append(cells)
    return Table(aligns, header, rows)


def _align(cell: SyntaxTreeNode) -> str | None:
    match = re.search(r"text-align:(\w+)", str(cell.attrs.get("style", "")))
    return match.group(1) if match else None


def _inline_spans(node: SyntaxTreeNode) -> list[Span]:
    spans: list[Span] = []
    for child in node.children:
        _walk(child, _Style(), spans)
    return spans


def _walk(node: SyntaxTreeNode, style: _Style, out: list[Span]) -> None:
    kind = node.type
    if kind == "text":
        out.append(Span(node.content, style.bold, style.italic, False, style.href))
    elif kind == "code_inline":
        out.append(Span(node.content, style.bold, style.italic, True, style.href))
    elif kind == "softbreak":
        out.append(Span(" ", style.bold, style.italic, False, style.href))
    elif kind == "hardbreak":
        out.append(Span(LINE_BREAK))
    elif kind in ("strong", "em", "link", "image"):
        inner = _Style(style.bold or kind == "strong", style.italic or kind in ("em", "image"), style.href)
        if kind == "link":
            href = str(node.attrs.get("href", ""))
            inner.href = href if href.lower().startswith(LINK_SCHEMES) else None
        for child in node.children:
            _walk(child, inner, out)
    else:  # unknown inline: keep its text rather than lose words
        for child in node.children:
            _walk(child, style, out)
        if not node.children and node.content:
            out.append(Span(node.content, style.bold, style.italic, False, style.href))


def fit_columns(natural: list[float], width: float, minimum: list[float] | None = None) -> list[float]:
    """Column widths for a table: each column its natural width if the table fits; otherwise narrow columns
    keep theirs and the wide ones share the rest in proportion to how much more they would need. No column
    gets less than its `minimum` (its longest word, say) while the minimums fit: the columns above theirs
    give way, in proportion to what they have to spare."""
    if not natural or sum(natural) <= width:
        return list(natural)
    minimum = [min(m, n) for m, n in zip(minimum or [0.0] * len(natural), natural)]
    if sum(minimum) >= width:  # even the minimums do not fit: share the width in their proportion
        return [width * m / sum(minimum) for m in minimum]
    share = width / len(natural)
    widths = [min(n, share) for n in natural]
    wanting = [n - w for n, w in zip(natural, widths)]
    spare = width - sum(widths)
    widths = [w + spare * want / sum(wanting) for w, want in zip(widths, wanting)]
    deficit = sum(max(0.0, m - w) for m, w in zip(minimum, widths))
    widths = [max(w, m) for w, m in zip(widths, minimum)]
    slack = [w - m for w, m in zip(widths, minimum)]
    return [w - deficit * s / sum(slack) for w, s in zip(widths, slack)]
