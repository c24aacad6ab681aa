"""The block model → an A4 PDF with reportlab's platypus.

Text is set in DejaVu Sans, which ships inside matplotlib and covers Swedish and the typographic marks the
template uses (reportlab's built-in Helvetica is Latin-1 only). Every piece of text goes into reportlab's
paragraph mini-markup escaped, so `<script>` or `<font>` in the Markdown is printed, never interpreted."""

from __future__ import annotations

from functools import lru_cache
from io import BytesIO
import re
from xml.sax.saxutils import escape

import pyphen
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (CondPageBreak, HRFlowable, Image, ListFlowable, ListItem, Paragraph,
                                SimpleDocTemplate, Spacer, Table, TableStyle)

from . import markdown as md
from . import mplsetup

FONT, MONO = "DejaVuSans", "DejaVuSansMono"
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 2.5 * cm, 2.2 * cm, 2.5 * cm
TEXT_WIDTH = A4[0] - 2 * MARGIN_X
FRAME_HEIGHT = A4[1] - MARGIN_TOP - MARGIN_BOTTOM
INK = colors.HexColor("#1A1A1A")
MUTED = colors.HexColor("#5A5A5A")
ACCENT = colors.HexColor("#1F3A5F")  # headings, table header
LINK = colors.HexColor("#1F4E8C")
ZEBRA = colors.HexColor("#F2F4F7")
RULE = colors.HexColor("#B8BEC6")
NOTE_BG, NOTE_BAR = colors.HexColor("#EEF2F7"), colors.HexColor("#5B7DB1")
CODE_BG = colors.HexColor("#F3F3F3")
CELL_PAD = 4
CELL_SIZE = 8.5
BULLETS = ["•", "◦", "▪"]
LIST_INDENT = 16


@lru_cache(maxsize=1)
def _register_fonts() -> None:
    ttf = mplsetup.data_path() / "fonts" / "ttf"
    for family in (FONT, MONO):
        faces = {"normal": family, "bold": f"{family}-Bold", "italic": f"{family}-Oblique",
                 "boldItalic": f"{family}-BoldOblique"}
        for name in faces.values():
            pdfmetrics.registerFont(TTFont(name, str(ttf / f"{name}.ttf")))
        pdfmetrics.registerFontFamily(family, **faces)


# Emoji the template uses as traffic lights and ticks have no glyph in any font we ship: print a coloured shape
# DejaVu has instead. Any other character without a glyph is left out rather than printed as an empty box.
_SUBSTITUTES = {
    "🔴": ("●", "#D62728"), "🟠": ("●", "#F28E2B"), "🟡": ("●", "#E6B400"), "🟢": ("●", "#2CA02C"),
    "🔵": ("●", "#1F77B4"), "🟣": ("●", "#9467BD"), "🟤": ("●", "#8C564B"),
    "🟥": ("■", "#D62728"), "🟧": ("■", "#F28E2B"), "🟨": ("■", "#E6B400"), "🟩": ("■", "#2CA02C"),
    "🟦": ("■", "#1F77B4"), "🟪": ("■", "#9467BD"), "🟫": ("■", "#8C564B"),
    "✅": ("✔", "#2CA02C"), "❌": ("✘", "#D62728"), "❎": ("✘", "#D62728"),
}


@lru_cache(maxsize=1)
def _covered() -> frozenset[int]:
    """Code points every face of the text font has a glyph for."""
    _register_fonts()
    faces = [pdfmetrics.getFont(name).face.charToGlyph for name in
             (FONT, f"{FONT}-Bold", f"{FONT}-Oblique", f"{FONT}-BoldOblique")]
    return frozenset(faces[0]).intersection(*faces[1:])


def text(value: str) -> str:
    """Plain text → reportlab paragraph markup: escaped, with glyph-less characters substituted or dropped."""
    covered = _covered()
    if all(ord(ch) in covered or ch.isspace() for ch in value):
        return escape(value)
    out = []
    for ch in value:
        if ch in _SUBSTITUTES:
            shape, colour = _SUBSTITUTES[ch]
            out.append(f'<font color="{colour}">{shape}</font>')
        elif ord(ch) in covered or ch.isspace():
            out.append(escape(ch))
    return "".join(out)


@lru_cache(maxsize=4)
def _hyphenator(language: str) -> pyphen.Pyphen:
    """Hyphenation patterns for the document's language ("sv-SE" → sv_SE); pyphen falls back to "sv"."""
    return pyphen.Pyphen(lang=language.replace("-", "_"))


def printed(value: str) -> str:
    """The characters `text` prints for a plain text (substitutes in, glyph-less characters out): to measure it."""
    covered = _covered()
    return "".join(_SUBSTITUTES[ch][0] if ch in _SUBSTITUTES else ch for ch in value
                   if ch in _SUBSTITUTES or ord(ch) in covered or ch.isspace())


def _styles(language: str = "sv-SE") -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=14, spaceAfter=6, textColor=INK)
    # Table cells are narrow: long Swedish compounds are broken where the language allows, with a hyphen
    # (reportlab calls the hyphenator), and at their own hyphens ("Informations-/IT-säkerhet").
    hyphenate = dict(hyphenationLang=_hyphenator(language).iterate, embeddedHyphenation=2)

    def heading(name: str, size: float, before: float, font: str = f"{FONT}-Bold") -> ParagraphStyle:
        return ParagraphStyle(name, parent=body, fontName=font, fontSize=size, leading=size * 1.25,
                              spaceBefore=before, spaceAfter=size * 0.45, textColor=ACCENT)

    return {
        "body": body,
        "title": ParagraphStyle("title", parent=body, fontName=f"{FONT}-Bold", fontSize=20, leading=25,
                                spaceAfter=8, textColor=ACCENT),
        "h1": heading("h1", 15, 14), "h2": heading("h2", 13, 12), "h3": heading("h3", 11.5, 10),
        "h4": heading("h4", 10.5, 8, f"{FONT}-BoldOblique"),
        "item": ParagraphStyle("item", parent=body, spaceAfter=3),
        "cell": ParagraphStyle("cell", parent=body, fontSize=CELL_SIZE, leading=11, spaceAfter=0, **hyphenate),
        "head": ParagraphStyle("head", parent=body, fontName=f"{FONT}-Bold", fontSize=CELL_SIZE, leading=11,
                               spaceAfter=0, textColor=colors.white, **hyphenate),
        "code": ParagraphStyle("code", parent=body, fontName=MONO, fontSize=8.5, leading=11, backColor=CODE_BG,
                               borderPadding=4, spaceBefore=4, spaceAfter=10),
        "missing": ParagraphStyle("missing", parent=body, textColor=MUTED),
        "footer": ParagraphStyle("footer", parent=body, fontSize=8, leading=10, textColor=MUTED, spaceAfter=0),
    }


def markdown_to_pdf(markdown: str, *, title: str, charts: dict[str, bytes] | None = None,
                    footer: str | None = None, language: str = "sv-SE") -> bytes:
    _register_fonts()
    blocks = md.parse(markdown)
    title, footer = md.clean(title), md.clean(footer or "")
    # Two passes: the first only counts the pages so that every footer can say "n / total".
    total = _build(blocks, title, charts or {}, footer, language, None)[1]
    return _build(blocks, title, charts or {}, footer, language, total)[0]


class _Heading(Paragraph):
    """A heading paragraph that also becomes an entry in the PDF's outline (the reader's bookmarks pane)."""

    outline: tuple[int, str] | None = None


class _Document(SimpleDocTemplate):
    def afterFlowable(self, flowable) -> None:
        if not isinstance(flowable, _Heading) or flowable.outline is None:
            return  # a split-off continuation of a heading has no outline of its own
        level, text = flowable.outline
        # reportlab refuses an entry more than one level below the previous one (# followed by ###).
        level = min(level, self._outline_level + 1)
        self._outline_level = level
        key = f"h{self._outline_count}"
        self._outline_count += 1
        self.canv.bookmarkPage(key)
        self.canv.addOutlineEntry(text, key, level=level, closed=level > 0)


def _build(blocks, title: str, charts: dict[str, bytes], footer: str, language: str,
           total: int | None) -> tuple[bytes, int]:
    out = BytesIO()
    styles = _styles(language)
    doc = _Document(out, pagesize=A4, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
                    bottomMargin=MARGIN_BOTTOM, title=title, author="", subject="", creator="", keywords="",
                    lang=language, displayDocTitle=1, initialFontName=FONT)
    doc._outline_level, doc._outline_count = -1, 0
    story = [Paragraph(text(title), styles["title"])] if title else []
    story += _keep_headings_with_next(_Renderer(styles, charts, language).blocks(blocks, TEXT_WIDTH))

    def page(canvas, document) -> None:
        canvas.saveState()
        y = MARGIN_BOTTOM - 0.9 * cm
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN_X, y + 12, A4[0] - MARGIN_X, y + 12)
        if footer:
            para = Paragraph(text(footer), styles["footer"])
            _, height = para.wrap(TEXT_WIDTH - 2 * cm, MARGIN_BOTTOM)
            para.drawOn(canvas, MARGIN_X, y + 10 - height)
        if total:
            canvas.setFont(FONT, 8)
            canvas.setFillColor(MUTED)
            canvas.drawRightString(A4[0] - MARGIN_X, y + 2, f"{document.page} / {total}")
        canvas.restoreState()

    doc.build(story, onFirstPage=page, onLaterPages=page)
    return out.getvalue(), doc.page


def _keep_headings_with_next(story: list) -> list:
    """Start a new page before a heading that would otherwise end up alone at the bottom of one.

    reportlab's keepWithNext keeps a heading with the whole next flowable, so a heading before a long table
    would push both to the next page and leave half a page empty; we only ask for room for the heading(s)
    and the start of what follows (all of it when it cannot split, like a chart)."""
    out: list = []
    run: list = []  # consecutive headings
    scratch = Canvas(BytesIO())  # some flowables (lists) measure themselves only on a canvas
    for flowable in story + [None]:
        if isinstance(flowable, _Heading):
            run.append(flowable)
            continue
        if run:
            needed = sum(h.wrapOn(scratch, TEXT_WIDTH, FRAME_HEIGHT)[1] + h.getSpaceBefore() + h.getSpaceAfter()
                         for h in run)
            if flowable is not None:
                following = flowable.wrapOn(scratch, TEXT_WIDTH, FRAME_HEIGHT)[1]
                splits = not isinstance(flowable, Image) and following > 5 * cm
                needed += 3 * cm if splits else min(following, FRAME_HEIGHT)
            out += [CondPageBreak(min(needed, FRAME_HEIGHT))] + run
            run = []
        if flowable is not None:
            out.append(flowable)
    return out


class _Picture(Image):
    """An image that shrinks (keeping its aspect ratio) to the width it is offered: list items and notes are
    narrower than the page, by more than their nominal indent."""

    def wrap(self, availWidth, availHeight):
        if self.drawWidth > availWidth:
            self.drawHeight *= availWidth / self.drawWidth
            self.drawWidth = availWidth
        return super().wrap(availWidth, availHeight)


class _Renderer:
    def __init__(self, styles: dict[str, ParagraphStyle], charts: dict[str, bytes], language: str = "sv-SE"):
        self.styles = styles
        self.charts = charts
        self.language = language

    def blocks(self, blocks: list[md.Block], width: float, depth: int = 0) -> list:
        out: list = []
        for block in blocks:
            out += self.block(block, width, depth)
        return out

    def block(self, block: md.Block, width: float, depth: int) -> list:
        if isinstance(block, md.Heading):
            para = _Heading(markup(block.spans), self.styles[f"h{block.level}"])
            para.outline = (block.level - 1, md.plain(block.spans))
            return [para]
        if isinstance(block, md.Paragraph):
            return [Paragraph(markup(block.spans), self.styles["item" if depth else "body"])]
        if isinstance(block, md.ListBlock):
            return [self.list(block, width, depth)]
        if isinstance(block, md.Table):
            return [self.table(block, width)]
        if isinstance(block, md.Quote):
            return [self.quote(block, width, depth)]
        if isinstance(block, md.Figure):
            return [self.figure(block, width)]
        if isinstance(block, md.CodeBlock):
            lines = [text(line.expandtabs(4)) for line in block.text.split("\n")]
            # Keep indentation (leading spaces would otherwise collapse) but let long lines wrap.
            lines = ["&nbsp;" * (len(line) - len(line.lstrip(" "))) + line.lstrip(" ") for line in lines]
            return [Paragraph("<br/>".join(lines), self.styles["code"])]
        if isinstance(block, md.Rule):
            return [HRFlowable(width="100%", thickness=0.6, color=RULE, spaceBefore=4, spaceAfter=10)]
        return []

    def list(self, block: md.ListBlock, width: float, depth: int) -> ListFlowable:
        inner = width - LIST_INDENT
        items = [ListItem(self.blocks(item, inner, depth + 1) or [Spacer(0, 14)]) for item in block.items]
        common = dict(leftIndent=LIST_INDENT, bulletFontName=FONT, bulletFontSize=10, bulletColor=INK,
                      spaceAfter=0 if depth else 6)
        if block.ordered:
            return ListFlowable(items, bulletType="1", start=block.start, bulletFormat="%s.", **common)
        return ListFlowable(items, bulletType="bullet", start=BULLETS[min(depth, len(BULLETS) - 1)], **common)

    def table(self, block: md.Table, width: float) -> Table:
        ncols = max([len(block.header)] + [len(row) for row in block.rows])
        rows = [block.header] + block.rows
        rows = [list(row) + [[]] * (ncols - len(row)) for row in rows]
        aligns = list(block.aligns) + [None] * (ncols - len(block.aligns))
        data = [[Paragraph(markup(cell, colors.white if r == 0 else LINK),
                           _aligned(self.styles["head" if r == 0 else "cell"], aligns[c]))
                 for c, cell in enumerate(row)] for r, row in enumerate(rows)]
        widths = _column_widths(rows, width, _hyphenator(self.language))
        table = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT",
                      spaceBefore=4, spaceAfter=10)
        table.setStyle(TableStyle([
            ("FONTNAME", (0, 0), (-1, -1), FONT),  # reportlab would otherwise select Helvetica for the cells
            ("BACKGROUND", (0, 0), (-1, 0), ACCENT),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, ZEBRA]),
            ("LINEBELOW", (0, 1), (-1, -1), 0.4, RULE),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), CELL_PAD), ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PAD),
            ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]))
        return table

    def quote(self, block: md.Quote, width: float, depth: int) -> Table:
        """An indented, shaded note with a bar on its left (the template's "what is missing" notices)."""
        pad = 8
        inner = width - 2 * pad - 3
        body = self.blocks(block.blocks, inner, depth) or [Spacer(0, 0)]
        # splitInRow: a long note may run over a page break like any text.
        note = Table([[body]], colWidths=[width], hAlign="LEFT", spaceBefore=2, spaceAfter=10, splitInRow=1)
        note.setStyle(TableStyle([
            ("FONTNAME", (0, 0), (-1, -1), FONT),
            ("BACKGROUND", (0, 0), (-1, -1), NOTE_BG), ("LINEBEFORE", (0, 0), (0, -1), 3, NOTE_BAR),
            ("LEFTPADDING", (0, 0), (-1, -1), pad + 3), ("RIGHTPADDING", (0, 0), (-1, -1), pad),
            # less at the bottom: the last paragraph inside brings its own spaceAfter
            ("TOPPADDING", (0, 0), (-1, -1), pad), ("BOTTOMPADDING", (0, 0), (-1, -1), pad - 4),
        ]))
        return note

    def figure(self, block: md.Figure, width: float):
        png = self.charts.get(block.key) if block.key is not None else None
        if png is not None:
            try:
                pixels_w, pixels_h = ImageReader(BytesIO(png)).getSize()
            except Exception:  # not an image reportlab can read: fall back to the alt text like a missing key
                pixels_w = pixels_h = 0
            if pixels_w and pixels_h:
                w = width
                h = w * pixels_h / pixels_w
                if h > FRAME_HEIGHT * 0.85:  # a very tall chart: fit the page, keep the aspect ratio
                    w, h = w * FRAME_HEIGHT * 0.85 / h, FRAME_HEIGHT * 0.85
                image = _Picture(BytesIO(png), width=w, height=h, hAlign="LEFT")
                image.spaceBefore, image.spaceAfter = 4, 10
                return image
        return Paragraph(f"<i>{text(block.alt)}</i>", self.styles["missing"])


def markup(spans: list[md.Span], link_colour: colors.Color = LINK) -> str:
    """Spans → reportlab paragraph markup. A link prints its text and then its address, since paper has no
    clickable links; on screen the text is a link as well."""
    out: list[str] = []
    i = 0
    while i < len(spans):
        href = spans[i].href
        j = i
        while j < len(spans) and spans[j].href == href and spans[j].text != md.LINE_BREAK:
            j += 1
        if j == i:  # a line break
            out.append("<br/>")
            i += 1
            continue
        piece = "".join(_span(s) for s in spans[i:j])
        if href:
            shown = md.plain(spans[i:j]).strip()
            address = href[len("mailto:"):] if href.startswith("mailto:") else href
            target = escape(href, {'"': "&quot;"})
            piece = f'<a href="{target}" color="{link_colour.hexval()}"><u>{piece}</u></a>'
            if shown != address:
                piece += f" ({text(address)})"
        out.append(piece)
        i = j
    return "".join(out)


def _span(span: md.Span) -> str:
    out = text(span.text)
    if span.code:
        out = f'<font face="{MONO}">{out}</font>'
    if span.italic:
        out = f"<i>{out}</i>"
    if span.bold:
        out = f"<b>{out}</b>"
    return out


def _aligned(style: ParagraphStyle, align: str | None) -> ParagraphStyle:
    if align in (None, "left"):
        return style
    return ParagraphStyle(f"{style.name}-{align}", parent=style,
                          alignment={"center": TA_CENTER, "right": TA_RIGHT}.get(align, TA_LEFT))


WORDS = re.compile(r"\S+")


def _column_widths(rows: list[list[list[md.Span]]], width: float, hyphenator: pyphen.Pyphen) -> list[float]:
    """Widths from the content: a column's natural width is its longest cell on one line; its minimum is its
    longest word, so that no word has to be broken, unless that word is longer than a fair share of the
    width: then (and when the minimums do not all fit, widest first) the column makes do with its longest
    hyphenation piece, and the word is hyphenated."""
    pad = 2 * CELL_PAD + 2.0
    natural, whole, pieces = [pad] * len(rows[0]), [pad] * len(rows[0]), [pad] * len(rows[0])
    for r, row in enumerate(rows):
        font = f"{FONT}-Bold" if r == 0 else FONT
        measure = lambda s: pdfmetrics.stringWidth(s, font, CELL_SIZE) + pad  # noqa: E731
        for c, cell in enumerate(row):
            content = printed(md.plain(cell))
            natural[c] = max(natural[c], measure(content))
            for word in WORDS.findall(content):
                whole[c] = max(whole[c], measure(word))
                pieces[c] = max(pieces[c], max(measure(p) for p in _pieces(word, hyphenator)))
    fair = 1.25 * width / len(whole)
    minimum = [w if w <= fair else p for w, p in zip(whole, pieces)]
    for c in sorted(range(len(minimum)), key=lambda c: whole[c], reverse=True):
        if sum(minimum) <= width:
            break
        minimum[c] = pieces[c]
    return md.fit_columns(natural, width, minimum)


LETTERS = re.compile(r"[^\W\d_]+")
LETTERS_AND_HYPHENS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")


def _pieces(word: str, hyphenator: pyphen.Pyphen) -> list[str]:
    """The parts reportlab may break a word into, each as printed (with its hyphen): a word of letters at the
    language's hyphenation points, one of letters and hyphens after its hyphens; any other word is whole."""
    core = word.strip("\"'([{)]}?!.,;:’”")
    if LETTERS.fullmatch(core):
        bounds = [0, *hyphenator.positions(core), len(core)]
        return [core[a:b] + ("-" if b < len(core) else "") for a, b in zip(bounds, bounds[1:])]
    if LETTERS_AND_HYPHENS.fullmatch(core):
        return [part + "-" for part in core.split("-")[:-1]] + [core.rsplit("-", 1)[1]]
    return [word]
