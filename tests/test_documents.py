"""The review's document engine: Markdown → DOCX (read back with python-docx) and PDF (read back with pypdf),
and the bar charts (PNG)."""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from io import BytesIO
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn
from docx.shared import Cm
from pypdf import PdfReader

from bot.documents import Chart, markdown_to_docx, markdown_to_pdf, render_chart
from bot.documents import markdown as md
from bot.documents import mplsetup
from bot.documents import pdf as pdf_engine
from bot.documents.charts import number
from bot.documents.pdf import text as pdf_text

TITLE = "Ledningens genomgång 2026"
FOOTER = "Kulturhuset Stadsteatern AB · Ledningens genomgång 2026"
DEPARTMENTS = ["Ekonomi och administration", "Scenkonst – Stadsteatern", "Kulturhuset: utställningar",
               "IT och digital utveckling", "Kommunikation"]
KINDS = ["Informationssäkerhet", "Personuppgifter", "Arbetsmiljö"]
ROWS = [(f"INC-2026-{n:04d}", KINDS[n % 3], DEPARTMENTS[n % 5], n) for n in range(1, 61)]
TABLE = "\n".join(
    ["| Referens | Typ | Avdelning | Antal |", "|:--|:-:|---|--:|"]
    + [f"| {ref} | {kind} | {dept} | {count} |" for ref, kind, dept, count in ROWS])

SAMPLE = f"""\
# Sammanfattning för året

Rapporten ger **förvaltningschefen** underlag att bedöma om *informationssäkerhetsarbetet* är tillräckligt
och har önskad verkan (≥ 95 % ± 2 – “mål” — se `INC-2025-0042`).
Läs [stadens riktlinje](https://start.stockholm/riktlinje).
Radbrytning här:  
ny rad.

<script>alert(1)</script> och <font size="40">stor</font> & <b>fet</b>

Läge: 🟢 Bra, 🔴 Allvarligt, ⚪ Underlag saknas ✅ 📊

## 1 Ledningssystem för informationssäkerhet, LIS

### 1.1 Vad påverkar Kulturhuset Stadsteaterns arbete?

#### 1.1.1 Intern kontroll

- Behörighetshantering
- Incidenthantering
  - personuppgiftsincidenter inom 72 timmar
  - arbetsmiljö – tillbud
- Informationsklassning

1. Revidering av lokal anvisning
2. Öva utifrån kontinuitetsplaner
   1. Scenario: strömavbrott
   2. Scenario: utpressningsvirus

> **Underlag saknas:** registerförteckningen för 2026 har inte lämnats in.
> Komplettera före mötet.

![Incidenter per månad och typ](chart:incidenter)

![Andel som genomfört e-utbildningen](chart:utbildning)

![Klassningar per system saknas i underlaget](chart:klassningar)

---

## 2 Incidentlogg för året

{TABLE}

3. Tredje punkten i en ny numrerad lista
4. Fjärde punkten
"""

MONTHS = ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"]
CHARTS = [
    Chart("incidenter", "Incidenter per månad 2026", MONTHS,
          {"Informationssäkerhet": [3, 5, 2, 4, 6, 1, 0, 2, 7, 4, 3, 5],
           "Personuppgifter": [1, 2, 0, 1, 3, 0, 0, 1, 2, 2, 1, 0],
           "Arbetsmiljö": [0, 1, 1, 0, 0, 2, 0, 0, 1, 0, 1, 1]},
          stacked=True, y_label="Antal incidenter"),
    Chart("utbildning", "Andel medarbetare som genomfört e-utbildningen", DEPARTMENTS,
          {"2025": [82.5, 64, 91, 100, 77], "2026": [88, 71.5, 95, 100, 80]}, percent=True, horizontal=True),
]
HEADINGS = [(1, "Sammanfattning för året"), (2, "1 Ledningssystem för informationssäkerhet, LIS"),
            (3, "1.1 Vad påverkar Kulturhuset Stadsteaterns arbete?"), (4, "1.1.1 Intern kontroll"),
            (2, "2 Incidentlogg för året")]
LITERAL_HTML = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def pngs() -> dict[str, bytes]:
    return {chart.key: render_chart(chart) for chart in CHARTS}


@pytest.fixture(scope="module")
def docx(pngs):
    return Document(BytesIO(markdown_to_docx(SAMPLE, title=TITLE, charts=pngs, footer=FOOTER)))


@pytest.fixture(scope="module")
def pdf(pngs) -> PdfReader:
    return PdfReader(BytesIO(markdown_to_pdf(SAMPLE, title=TITLE, charts=pngs, footer=FOOTER)))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# ---- the Markdown model ----------------------------------------------------------------------------------


def test_html_is_text_and_images_become_figures():
    blocks = md.parse(SAMPLE)
    texts = [md.plain(b.spans) for b in blocks if isinstance(b, md.Paragraph)]
    assert any(LITERAL_HTML in t for t in texts)
    figures = [b for b in blocks if isinstance(b, md.Figure)]
    assert [(f.key, f.alt) for f in figures] == [
        ("incidenter", "Incidenter per månad och typ"), ("utbildning", "Andel som genomfört e-utbildningen"),
        ("klassningar", "Klassningar per system saknas i underlaget")]
    table = next(b for b in blocks if isinstance(b, md.Table))
    assert table.aligns == ["left", "center", None, "right"] and len(table.rows) == 60


def test_control_characters_and_non_chart_images_are_harmless():
    blocks = md.parse("a\x00b\x0bc\ud800 ![bild](https://example.com/x.png) [x](javascript:alert(1))")
    assert md.plain(blocks[0].spans) == "abc"
    assert blocks[1] == md.Figure(None, "bild")  # never fetched
    assert all(s.href is None for s in blocks[2].spans)


# ---- DOCX ------------------------------------------------------------------------------------------------


def test_docx_headings_use_word_heading_styles(docx):
    assert docx.paragraphs[0].style.name == "Title" and docx.paragraphs[0].text == TITLE
    headings = [(p.style.name, p.text) for p in docx.paragraphs if p.style.name.startswith("Heading")]
    assert headings == [(f"Heading {level}", text) for level, text in HEADINGS]


def test_docx_lists_use_list_styles_and_numbering_restarts(docx):
    styled = {p.text: p.style.name for p in docx.paragraphs}
    assert styled["Behörighetshantering"] == "List Bullet"
    assert styled["personuppgiftsincidenter inom 72 timmar"] == "List Bullet 2"
    assert styled["Revidering av lokal anvisning"] == "List Number"
    assert styled["Scenario: strömavbrott"] == "List Number 2"
    assert styled["Tredje punkten i en ny numrerad lista"] == "List Number"

    def num(text: str):
        p = next(p for p in docx.paragraphs if p.text == text)
        return p._p.pPr.numPr.numId.val

    numbering = docx.part.numbering_part.element
    later = numbering.num_having_numId(num("Tredje punkten i en ny numrerad lista"))
    assert num("Revidering av lokal anvisning") != num("Tredje punkten i en ny numrerad lista")
    assert later.lvlOverride_lst[0].startOverride.val == 3


def test_docx_text_keeps_inline_formatting_links_and_literal_html(docx):
    first = next(p for p in docx.paragraphs if p.text.startswith("Rapporten ger"))
    assert any(r.bold and r.text == "förvaltningschefen" for r in first.runs)
    assert any(r.italic and r.text == "informationssäkerhetsarbetet" for r in first.runs)
    assert "≥ 95 % ± 2 – “mål” —" in first.text
    links = [(h.text, h.address) for h in first.hyperlinks]
    assert links == [("stadens riktlinje", "https://start.stockholm/riktlinje")]
    assert any(p.text == "Läge: 🟢 Bra, 🔴 Allvarligt, ⚪ Underlag saknas ✅ 📊" for p in docx.paragraphs)
    html = next(p for p in docx.paragraphs if LITERAL_HTML in p.text)
    assert '<font size="40">stor</font> & <b>fet</b>' in html.text


def test_docx_table_cells_header_and_alignment(docx):
    assert len(docx.tables) == 1
    table = docx.tables[0]
    assert table.style.name == "Table Grid"
    assert len(table.rows) == 61
    assert [c.text for c in table.rows[0].cells] == ["Referens", "Typ", "Avdelning", "Antal"]
    assert all(r.bold for c in table.rows[0].cells for r in c.paragraphs[0].runs)
    assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert [c.text for c in table.rows[60].cells] == [str(v) for v in ROWS[-1]]
    assert table.rows[60].cells[3].paragraphs[0].alignment == 2  # right


def test_docx_pictures_missing_chart_quote(docx):
    assert len(docx.inline_shapes) == 2
    text_width = docx.sections[0].page_width - 2 * docx.sections[0].left_margin
    assert all(abs(s.width - text_width) < Cm(0.01) for s in docx.inline_shapes)
    missing = next(p for p in docx.paragraphs if p.text == "Klassningar per system saknas i underlaget")
    assert all(r.italic for r in missing.runs)
    quote = next(p for p in docx.paragraphs if p.text.startswith("Underlag saknas:"))
    assert quote._p.pPr.find(qn("w:shd")) is not None and quote.paragraph_format.left_indent


def test_docx_properties_language_page_and_footer(docx):
    props = docx.core_properties
    assert props.title == TITLE and props.language == "sv-SE"
    assert props.author == "" and props.comments == ""  # nothing left from python-docx's template
    lang = docx.styles["Normal"].element.rPr.find(qn("w:lang"))
    assert lang.get(qn("w:val")) == "sv-SE"
    section = docx.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    footer = section.footer.paragraphs[0]
    assert FOOTER in footer.text
    instructions = [t.text.strip() for t in footer._p.iter(qn("w:instrText"))]
    assert instructions == ["PAGE", "NUMPAGES"]


# ---- PDF -------------------------------------------------------------------------------------------------


def test_pdf_pages_text_and_metadata(pdf):
    assert len(pdf.pages) > 1
    text = "\n".join(page.extract_text() for page in pdf.pages)
    for _, heading in HEADINGS:
        assert heading in text
    assert TITLE in pdf.pages[0].extract_text()
    assert "INC-2026-0060" in text and "Scenkonst – Stadsteatern" in text
    assert LITERAL_HTML in text and '<font size="40">stor</font>' in text
    assert "stadens riktlinje (https://start.stockholm/riktlinje)" in text
    assert "Klassningar per system saknas i underlaget" in text  # the missing chart's alt text
    # Emoji have no glyph in DejaVu: traffic lights become coloured shapes, the rest is left out (no boxes).
    assert "Läge: ● Bra, ● Allvarligt, ⚪ Underlag saknas ✔" in text and "📊" not in text
    assert pdf.metadata.title == TITLE
    assert pdf.trailer["/Root"].get("/Lang") == "sv-SE"


def test_pdf_table_splits_with_repeated_header_and_numbered_footer(pdf):
    pages = [page.extract_text() for page in pdf.pages]
    with_rows = [i for i, t in enumerate(pages) if "INC-2026-00" in t]
    assert len(with_rows) >= 2, "the 60-row table should run over more than one page"
    assert all("Referens" in pages[i] and "Avdelning" in pages[i] for i in with_rows)
    total = len(pages)
    for number, text in enumerate(pages, start=1):
        assert f"{number} / {total}" in text and FOOTER in text


def test_pdf_embeds_dejavu_and_two_images(pdf):
    fonts, images = set(), 0
    for page in pdf.pages:
        resources = page["/Resources"]
        fonts |= {str(f.get_object()["/BaseFont"]) for f in resources.get("/Font", {}).values()}
        images += len(page.images)
    assert any("DejaVuSans" in f for f in fonts)
    assert not any("Helvetica" in f for f in fonts)
    assert images == 2


def test_pdf_text_is_escaped_and_glyphless_characters_dropped():
    assert pdf_text("<b>&</b> 📊 🟢") == '&lt;b&gt;&amp;&lt;/b&gt;  <font color="#2CA02C">●</font>'


def test_pdf_outline_follows_headings(pdf):
    outline = pdf.outline
    assert outline[0].title == HEADINGS[0][1]


def test_unusual_input_does_not_break_either_format():
    odd = "#### Bara en fyra\n\n> - citat med lista\n\n![](chart:x)\n\n    kod  <b>\n\n|a|\n|-|\n"
    bad_chart = {"x": b"not a png"}
    for make in (markdown_to_docx, markdown_to_pdf):
        assert make("", title="") and make(odd, title="T\x00", charts=bad_chart, footer="")


# ---- charts ----------------------------------------------------------------------------------------------


def test_charts_are_print_sized_pngs(pngs):
    for chart in CHARTS:
        width, height = png_size(pngs[chart.key])
        assert 1000 <= width <= 1300 and 300 <= height <= 1600  # 6.3 in at 180 dpi
    empty = render_chart(Chart("tom", "Inga data", [], {}))
    assert png_size(empty)[0] > 0


def test_chart_series_must_match_categories():
    with pytest.raises(ValueError):
        render_chart(Chart("x", "x", ["a", "b"], {"s": [1]}))


def test_numbers_are_formatted_for_swedish():
    assert number(1234.5) == "1\u00a0234,5" and number(-3) == "\u22123" and number(0) == "0"
    assert number(12.5, ".") == "12.5"


def test_unwritable_home_sends_matplotlib_to_a_temp_dir(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("HOME", str(blocker / "home"))  # cannot be created, even by root
    monkeypatch.setenv("MPLCONFIGDIR", "")  # restored after the test, whatever prepare() sets
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    mplsetup.prepare()
    chosen = Path(os.environ["MPLCONFIGDIR"])
    try:
        assert chosen.is_dir() and chosen.parent == Path(tempfile.gettempdir())
    finally:
        shutil.rmtree(chosen, ignore_errors=True)


# ---- words in narrow table columns ------------------------------------------------------------------------

CONTROLS = """\
| Rutin | Vad kontrollerades | Metod | Resultat | Iakttagelser |
|---|---|---|---|---|
| Behörighetshantering | – | – | Inte kontrollerad | Ingår i internkontrollplanen även kommande tre år. |
| Informationssäkerhet i upphandling | Att alla upphandlingar av nya system har beaktat \
informationssäkerhetsrelaterade krav. | Informationssäkerhetssamordnaren involveras i samband med \
upphandlingsförfarandet. | Brist | Stöddokumenten behöver kontrollpunkter relaterade till informationssäkerhet. \
Informationssäkerhetssamordnaren ger klartecken på att informationssäkerhetsrelaterade krav är omhändertagna. |
"""


def table_cells(markdown: str, language: str = "sv-SE") -> list:
    """Every table cell's paragraph as the PDF writer lays it out (same styles, same column widths)."""
    pdf_engine._register_fonts()
    renderer = pdf_engine._Renderer(pdf_engine._styles(language), {}, language)
    cells = []
    for block in md.parse(markdown):
        if isinstance(block, md.Table):
            table = renderer.table(block, pdf_engine.TEXT_WIDTH)
            table.wrap(pdf_engine.TEXT_WIDTH, pdf_engine.FRAME_HEIGHT)
            # reportlab keeps each cell as a tuple of its flowables
            cells += [para for row in table._cellvalues for cell in row for para in cell]
    return cells


def broken_without_hyphen(markdown: str, language: str = "sv-SE") -> list[str]:
    """The cells in which a word had to be cut where it did not fit, with no hyphen (reportlab counts these)."""
    return [para.text for para in table_cells(markdown, language) if para._splitLongWordCount]


def test_narrow_columns_hyphenate_long_words_and_fit_short_ones():
    assert broken_without_hyphen(CONTROLS) == []
    assert broken_without_hyphen(CONTROLS, "en-GB") == []
    assert sum(para._hyphenations for para in table_cells(CONTROLS)) > 0  # the long compounds were hyphenated
    text = "\n".join(page.extract_text() for page in PdfReader(BytesIO(markdown_to_pdf(CONTROLS, title=TITLE))).pages)
    lines = text.splitlines()
    # The first column is as wide as its longest word: no hyphen needed there.
    assert "Behörighetshantering" in lines and "Informationssäkerhet" in lines
    assert any(line.endswith("-") for line in lines)


def test_column_widths_keep_words_whole_where_they_can():
    # Natural widths 100 and 400 for a width of 300; the first column's longest word needs 120.
    assert md.fit_columns([100, 400], 300) == [100, 200]
    widths = md.fit_columns([150, 400], 300, minimum=[120, 50])
    assert widths[0] >= 120 and sum(widths) == pytest.approx(300)
    # Minimums that cannot all fit share the width in their proportion.
    assert md.fit_columns([400, 400], 300, minimum=[200, 400]) == pytest.approx([100, 200])


def test_docx_lets_word_hyphenate():
    document = Document(BytesIO(markdown_to_docx(CONTROLS, title=TITLE)))
    assert document.settings.element.find(qn("w:autoHyphenation")) is not None
