"""The document engine for the management review: Markdown (written by the review's template) to Word and
PDF, with bar charts. It adds no words of its own; every text comes from the template or the caller."""

from .charts import Chart, render_chart
from .docx import markdown_to_docx
from .pdf import markdown_to_pdf

__all__ = ["Chart", "render_chart", "markdown_to_docx", "markdown_to_pdf"]
