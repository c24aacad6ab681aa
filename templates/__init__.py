"""Every word a person reads: short chat texts in i18n/<lang>.yaml, longer documents as Jinja2 files."""

from pathlib import Path

TEMPLATES_DIR = Path(__file__).parent
