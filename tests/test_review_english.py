"""The review in English (LISBOT_LANGUAGE=en): the same sections, tables and figures as the Swedish one, and
every document format. The document follows the organisation's language, not the asker's: it is the
organisation's record, posted to its leadership."""

from __future__ import annotations

import io
import re

import pytest
from docx import Document
from pypdf import PdfReader

from handlers import review, review_data
from tests.test_review_data import ORG, Rows, local, register, svc  # noqa: F401  (svc is a fixture)


def headings(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("#")]


def shape(markdown: str) -> list[str]:
    """What must not depend on the language: heading levels and numbers, table rows and their cells, figures."""
    out = []
    for line in markdown.splitlines():
        if line.startswith("#"):
            out.append(re.match(r"#+ [\d.]*", line).group(0))
        elif line.startswith("|"):
            out.append(f"row of {line.count('|') - 1} cells")
    return out + sorted(re.findall(r"\*\*\d+\*\*", markdown))


@pytest.mark.parametrize("data", ["first year, nothing recorded", "a year with data"])
async def test_the_english_review_has_the_swedish_sections_and_figures(db, svc, data):  # noqa: F811
    rows = Rows()
    if data == "a year with data":
        register(rows, 1, 40)
        rows.incident(local(2026, 5, 4, 10), "personal_data", personal_data="yes", lessons="Check recipients.",
                      closed_at=local(2026, 12, 9, 10))
    await rows.store(db)
    inputs = await review_data.gather(svc, ORG, 2026)

    swedish = review.render_markdown(svc, "sv", inputs)
    english = review.render_markdown(svc, "en", inputs)

    assert shape(english) == shape(swedish)
    assert len(headings(english)) == len(headings(swedish)) >= 15
    for heading in ("## Summary", "### 1.5 Incidents", "### 1.6 Training", "### 2.2 Decisions management is asked"):
        assert any(h.startswith(heading) for h in headings(english)), heading
    for swedish_word in ("Sammanfattning", "Incidenter", "Utbildning", "Beslut", "saknas", "inga registrerade"):
        assert swedish_word not in english
    if data == "a year with data":
        assert "In 2026, **1** incident was reported" in english and "1 incident; 1 personal data breach:" in english
        assert "| Department | Done | Required | Share |" in english and "Check recipients." in english
    else:
        assert "In 2026, **0** incidents were reported" in english
        assert "There is no training campaign for 2026 recorded" in english


async def test_the_english_review_as_pdf_and_word(db, svc):  # noqa: F811
    rows = Rows()
    register(rows, 1, 12)
    await rows.store(db)
    docs = review.documents(svc, "en", await review_data.gather(svc, ORG, 2026))

    pdf = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(docs.pdf)).pages)
    word = "\n".join(p.text for p in Document(io.BytesIO(docs.docx)).paragraphs)
    for text in (pdf, word):
        assert "Summary" in text and "Information assets and information classification" in text
        assert "Sammanfattning" not in text
    assert set(docs.charts) >= {"incidents_per_month", "training_per_department", "classification_coverage"}


def test_every_review_template_exists_in_both_languages():
    from bot.i18n import LANGUAGES, TEMPLATES_DIR

    names = {p.name.split("-", 1)[-1] if "-" in p.name else p.name.split(".", 1)[-1]
             for p in (TEMPLATES_DIR / "review").glob("*.md.j2")}
    for lang in LANGUAGES:
        for name in names:
            expected = f"{lang}.md.j2" if name == "md.j2" else f"{lang}-{name}"
            assert (TEMPLATES_DIR / "review" / expected).is_file(), f"templates/review/{expected} is missing"
