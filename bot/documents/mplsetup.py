"""Importing matplotlib safely on a server: no display, and a writable config/cache directory.

matplotlib writes a font cache when first imported. Under a service account with a read-only or missing
HOME it would warn and pick a directory itself; we point MPLCONFIGDIR at a private temp dir instead. The
import is lazy so that importing bot.documents stays cheap for processes that never draw anything."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK)


def _default_dirs() -> list[Path]:
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no passwd entry
        return []
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "matplotlib"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "matplotlib"
    return [config, cache]


def prepare() -> None:
    if os.environ.get("MPLCONFIGDIR"):
        return
    dirs = _default_dirs()
    if not dirs or not all(_writable(d) for d in dirs):
        os.environ["MPLCONFIGDIR"] = tempfile.mkdtemp(prefix="lisbot-mpl-")


def data_path() -> Path:
    """matplotlib's bundled data (fonts live in fonts/ttf)."""
    prepare()
    import matplotlib

    return Path(matplotlib.get_data_path())
