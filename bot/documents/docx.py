"""The block model → a Word document with python-docx.

Built on Word's own styles (Title, Heading 1–4, List Bullet/Number, Table Grid) so the review can be pasted
into the business plan and Word's table of contents, navigation pane and style sets work on it."""

from __future__ import annotations

from datetime import datetime, timezone
from io import BytesIO

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.text.paragraph import Paragraph as DocxParagraph
from docx.text.run import Run

from . import markdown as md

PAGE_W, PAGE_H = Cm(21), Cm(29.7)
MARGIN_X = Cm(2.5)
TEXT_WIDTH = PAGE_W - 2 * MARGIN_X
ACCENT, LINK, MUTED = "1F3A5F", "1F4E8C", "5A5A5A"
NOTE_BG, NOTE_BAR, CODE_BG, RULE = "EEF2F7", "5B7DB1", "F3F3F3", "B8BEC6"
MONO = "Courier New"
ALIGN = {"center": WD_ALIGN_PARAGRAPH.CENTER, "right": WD_ALIGN_PARAGRAPH.RIGHT}

# Schema order of the children we insert (OOXML validators and Word care about element order).
_AFTER_PBDR = ("w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
               "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid",
               "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
               "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId",
               "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")
_AFTER_TC_SHD = ("w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign", "w:hideMark")
_AFTER_LANG = ("w:eastAsianLayout", "w:specVanish", "w:oMath")


def markdown_to_docx(markdown: str, *, title: str, charts: dict[str, bytes] | None = None,
                     language: str = "sv-SE", footer: str | None = None) -> bytes:
    doc = Document()
    title, footer = md.clean(title), md.clean(footer or "")
    _setup(doc, title, language)
    _footer(doc, footer)
    if title:
        doc.add_paragraph(title, style="Title")
    _Writer(doc, charts or {}).blocks(md.parse(markdown))
    out = BytesIO()
    doc.save(out)
    return out.getvalue()


def _setup(doc, title: str, language: str) -> None:
    section = doc.sections[0]
    section.page_width, section.page_height = PAGE_W, PAGE_H  # the template is US Letter
    section.left_margin = section.right_margin = MARGIN_X
    section.top_margin, section.bottom_margin, section.footer_distance = Cm(2.2), Cm(2.5), Cm(1.2)
    # Spelling, hyphenation and screen readers follow w:lang; the template says en-US.
    defaults = doc.styles.element.find(qn("w:docDefaults"))
    default_rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr")) if defaults is not None else None
    for rpr in (default_rpr, doc.styles["Normal"].element.get_or_add_rPr()):
        if rpr is not None:
            _set_lang(rpr, language)
    # Narrow table columns: Word hyphenates long compounds by the language's rules instead of breaking them
    # anywhere. w:autoHyphenation follows w:defaultTabStop in the settings' schema order.
    if doc.settings.element.find(qn("w:autoHyphenation")) is None:
        hyphenation = OxmlElement("w:autoHyphenation")
        tab_stop = doc.settings.element.find(qn("w:defaultTabStop"))
        if tab_stop is not None:
            tab_stop.addnext(hyphenation)
        else:
            doc.settings.element.insert(0, hyphenation)
    props = doc.core_properties
    now = datetime.now(timezone.utc).replace(microsecond=0)
    # The template's own properties ("python-docx", a 2013 date, a comment) would otherwise show in Word.
    props.title, props.language, props.created, props.modified = title, language, now, now
    props.author = props.last_modified_by = props.comments = props.subject = props.keywords = ""
    props.category = props.content_status = props.identifier = props.version = ""
    props.revision = 1


def _set_lang(rpr, language: str) -> None:
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.insert_element_before(lang, *_AFTER_LANG)
    lang.set(qn("w:val"), language)


def _footer(doc, text: str) -> None:
    """Footer text on the left, "page / pages" as Word fields on the right."""
    para = doc.sections[0].footer.paragraphs[0]
    para.style = style = doc.styles["Footer"]
    # The template's Footer style has Letter-sized centre and right tabs; one right tab at the A4 text edge.
    style.paragraph_format.tab_stops.clear_all()
    style.paragraph_format.tab_stops.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)
    for piece in ([text] if text else []) + ["\t", ("PAGE", "1"), " / ", ("NUMPAGES", "1")]:
        if isinstance(piece, tuple):
            _field(para, *piece)
        else:
            _small(para.add_run(piece))


def _small(run: Run) -> Run:
    run.font.size = Pt(8)
    run.font.color.rgb = RGBColor.from_string(MUTED)
    return run


def _field(para: DocxParagraph, instruction: str, shown: str) -> None:
    """A complex field (begin / instruction / separate / cached result / end) that Word updates itself."""
    for kind, text in (("begin", None), ("instr", f" {instruction} "), ("separate", None), ("text", shown),
                       ("end", None)):
        run = _small(para.add_run())
        if kind == "instr":
            node = OxmlElement("w:instrText")
            node.set(qn("xml:space"), "preserve")
            node.text = text
        elif kind == "text":
            node = OxmlElement("w:t")
            node.text = text
        else:
            node = OxmlElement("w:fldChar")
            node.set(qn("w:fldCharType"), kind)
        run._r.append(node)


def _put(parent, child, successors: tuple[str, ...]) -> None:
    old = parent.find(child.tag)
    if old is not None:
        parent.remove(old)
    parent.insert_element_before(child, *successors)


def _shade(ppr_or_tcpr, fill: str, successors: tuple[str, ...]) -> None:
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    _put(ppr_or_tcpr, shd, successors)


def _border(para: DocxParagraph, side: str, size: int, colour: str, space: int) -> None:
    ppr = para._p.get_or_add_pPr()
    borders = ppr.find(qn("w:pBdr"))
    if borders is None:
        borders = OxmlElement("w:pBdr")
        ppr.insert_element_before(borders, *_AFTER_PBDR)
    line = OxmlElement(f"w:{side}")
    for key, value in (("val", "single"), ("sz", str(size)), ("space", str(space)), ("color", colour)):
        line.set(qn(f"w:{key}"), value)
    borders.append(line)


class _Writer:
    def __init__(self, doc, charts: dict[str, bytes]):
        self.doc = doc
        self.charts = charts
        self.in_quote = 0
        self.last: DocxParagraph | None = None

    def paragraph(self, style: str | None = None) -> DocxParagraph:
        para = self.last = self.doc.add_paragraph(style=style)
        if self.in_quote:
            # Word merges the identical borders of consecutive paragraphs into one box.
            ppr = para._p.get_or_add_pPr()
            _border(para, "left", 18, NOTE_BAR, 8)
            _shade(ppr, NOTE_BG, _AFTER_PBDR[1:])
            if style is None or not style.startswith("List"):  # list styles bring their own indent
                para.paragraph_format.left_indent = Cm(0.6)
        return para

    def blocks(self, blocks: list[md.Block], depth: int = 0) -> None:
        for block in blocks:
            self.block(block, depth)

    def block(self, block: md.Block, depth: int) -> None:
        if isinstance(block, md.Heading):
            runs(self.paragraph(f"Heading {block.level}"), block.spans)
        elif isinstance(block, md.Paragraph):
            # Inside a list item, a second paragraph lines up with the item's text.
            runs(self.paragraph(_level_style("List Continue", depth) if depth else None), block.spans)
        elif isinstance(block, md.ListBlock):
            self.list(block, depth + 1)
        elif isinstance(block, md.Table):
            self.table(block)
        elif isinstance(block, md.Quote):
            self.in_quote += 1
            self.blocks(block.blocks, depth)
            self.in_quote -= 1
        elif isinstance(block, md.Figure):
            self.figure(block)
        elif isinstance(block, md.CodeBlock):
            para = self.paragraph()
            _shade(para._p.get_or_add_pPr(), CODE_BG, _AFTER_PBDR[1:])
            for i, line in enumerate(block.text.split("\n")):
                run = para.add_run()
                if i:
                    run.add_break()
                run.add_text(line)
                run.font.name, run.font.size = MONO, Pt(9)
        elif isinstance(block, md.Rule):
            _border(self.paragraph(), "bottom", 6, RULE, 1)

    def list(self, block: md.ListBlock, level: int) -> None:
        style = _level_style("List Number" if block.ordered else "List Bullet", level)
        num_id = self._restart_numbering(style, block.start) if block.ordered else None
        for item in block.items:
            first, rest = (item[0], item[1:]) if item and isinstance(item[0], md.Paragraph) else (None, item)
            para = self.paragraph(style)
            if num_id is not None:
                num_pr = para._p.get_or_add_pPr().get_or_add_numPr()
                num_pr.get_or_add_ilvl().val = 0
                num_pr.get_or_add_numId().val = num_id
            # Tight items; the template's 10 pt after every paragraph would also separate nested levels.
            para.paragraph_format.space_after = Pt(2)
            if first is not None:
                runs(para, first.spans)
            self.blocks(rest, level)
        if level == 1:  # the usual gap before whatever follows the list
            self.last.paragraph_format.space_after = None

    def _restart_numbering(self, style: str, start: int) -> int:
        """A new numbering instance on the style's own list definition, so each numbered list starts from its
        own first number instead of continuing the previous list's count."""
        numbering = self.doc.part.numbering_part.element
        style_num = self.doc.styles[style].element.pPr.numPr.numId.val
        abstract = numbering.num_having_numId(style_num).abstractNumId.val
        num = numbering.add_num(abstract)
        num.add_lvlOverride(ilvl=0).add_startOverride(start)
        return num.numId

    def table(self, block: md.Table) -> None:
        ncols = max([len(block.header)] + [len(row) for row in block.rows])
        rows = [list(row) + [[]] * (ncols - len(row)) for row in [block.header] + block.rows]
        aligns = list(block.aligns) + [None] * (ncols - len(block.aligns))
        table = self.doc.add_table(rows=len(rows), cols=ncols)
        table.style = self.doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.LEFT
        # Proportional to the text each column holds, like the PDF (Word would otherwise split evenly).
        natural = [max(len(md.plain(row[c])) for row in rows) * Pt(5.2) + Pt(14) for c in range(ncols)]
        # ... and at least as wide as its longest word, unless that is more than a fair share (then Word hyphenates)
        longest = [max((len(w) for row in rows for w in md.plain(row[c]).split()), default=0) * Pt(5.2) + Pt(14)
                   for c in range(ncols)]
        minimum = [min(w, 1.25 * TEXT_WIDTH / ncols) for w in longest]
        widths = md.fit_columns(natural, TEXT_WIDTH, minimum)
        for c, column in enumerate(table.columns):
            column.width = int(widths[c])
        for r, (row, cells) in enumerate(zip(table.rows, rows)):
            if r == 0:  # repeat the header row on every page
                row._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
            for c, (cell, spans) in enumerate(zip(row.cells, cells)):
                cell.width = int(widths[c])
                para = cell.paragraphs[0]
                para.paragraph_format.space_before = para.paragraph_format.space_after = Pt(1.5)
                para.paragraph_format.line_spacing = 1.0
                if aligns[c] in ALIGN:
                    para.alignment = ALIGN[aligns[c]]
                for run in runs(para, spans):
                    run.font.size = Pt(9)
                    if r == 0:
                        run.bold = True
                        run.font.color.rgb = RGBColor.from_string("FFFFFF")
                if r == 0:
                    _shade(cell._tc.get_or_add_tcPr(), ACCENT, _AFTER_TC_SHD)
        self.paragraph()  # Word glues consecutive tables together; a paragraph keeps them apart

    def figure(self, block: md.Figure) -> None:
        png = self.charts.get(block.key) if block.key is not None else None
        if png is not None:
            para = self.paragraph()
            try:
                shape = para.add_run().add_picture(BytesIO(png), width=TEXT_WIDTH)
            except Exception:  # not an image Word can take: fall back to the alt text like a missing key
                para._p.getparent().remove(para._p)
            else:
                shape._inline.docPr.set("descr", block.alt)  # alt text for screen readers
                return
        if block.alt:
            self.paragraph().add_run(block.alt).italic = True


def _level_style(base: str, level: int) -> str:
    """List Bullet, List Bullet 2, List Bullet 3 (the template's deepest)."""
    level = max(1, min(level, 3))
    return base if level == 1 else f"{base} {level}"


def runs(para: DocxParagraph, spans: list[md.Span]) -> list[Run]:
    """Spans → runs; a link's spans go inside one w:hyperlink to its address."""
    made: list[Run] = []
    i = 0
    while i < len(spans):
        span = spans[i]
        if span.text == md.LINE_BREAK:
            para.add_run().add_break()
            i += 1
            continue
        if not span.href:
            made.append(_run(para.add_run(span.text), span))
            i += 1
            continue
        j = i
        while j < len(spans) and spans[j].href == span.href and spans[j].text != md.LINE_BREAK:
            j += 1
        link = OxmlElement("w:hyperlink")
        link.set(qn("r:id"), para.part.relate_to(span.href, RELATIONSHIP_TYPE.HYPERLINK, is_external=True))
        para._p.append(link)
        for inner in spans[i:j]:
            r = OxmlElement("w:r")
            link.append(r)
            run = _run(Run(r, para), inner)
            run.text = inner.text
            run.font.color.rgb = RGBColor.from_string(LINK)
            run.font.underline = True
            made.append(run)
        i = j
    return made


def _run(run: Run, span: md.Span) -> Run:
    run.bold = span.bold or None
    run.italic = span.italic or None
    if span.code:
        run.font.name = MONO
    return run
