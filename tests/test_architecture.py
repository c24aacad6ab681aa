"""The layering the README promises, checked on the source.

The rules:

1. handlers/ and storage/ (every .py below them, migrations included) import no chat-platform or web SDK:
   not slack_bolt, slack_sdk, aiohttp, nor a Teams SDK (botbuilder, botframework, microsoft_teams, teams).
   Not directly, and not through something they import (checked by importing them in a fresh interpreter).
2. storage/ imports nothing from bot/ or handlers/ — with one exception, bot.clock, a stdlib-only module of
   time helpers (as_utc, Clock) that storage may share. Storage does not use it today; the exception is kept
   safe by rule 3.
3. bot.clock imports only the standard library.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_SDKS = {"slack_bolt", "slack_sdk", "aiohttp", "botbuilder", "botframework", "microsoft_teams", "teams"}
STORAGE_MAY_USE_FROM_BOT = {"bot.clock"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Every module a source imports, anywhere in it (functions and TYPE_CHECKING blocks too), resolved to
    absolute names: `from storage import incidents` gives storage.incidents and storage."""
    found: list[tuple[int, str]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.append((node.lineno, prefix))
            found += [(node.lineno, f"{prefix}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module" or getattr(node.func, "id", None) in
                   ("import_module", "__import__"))):
            found.append((node.lineno, node.args[0].value))
    return found


def python_files(folder: str) -> list[Path]:
    files = sorted((ROOT / folder).glob("**/*.py"))
    assert files, f"no Python files under {folder}/"
    return files


def top(name: str) -> str:
    return name.split(".")[0]


def within(name: str, allowed: set[str]) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allowed)


def violations(folder: str, bad) -> list[str]:
    found = []
    for path in python_files(folder):
        for lineno, name in imports(path.read_text("utf-8"), module_name(path), path.name == "__init__.py"):
            if bad(name):
                found.append(f"{path.relative_to(ROOT)}:{lineno} imports {name}")
    return found


# ---- the scanner itself --------------------------------------------------------------------------------


def test_the_import_scanner_sees_every_form_of_import():
    src = ("import slack_sdk.web\nfrom aiohttp import web\nfrom . import sibling\nfrom ..bot import clock\n"
           "def f():\n    import botbuilder.core\n    importlib.import_module('slack_bolt')\n")
    names = {name for _, name in imports(src, "storage.sub.mod")}
    assert {"slack_sdk.web", "aiohttp", "aiohttp.web", "storage.sub.sibling", "storage.bot.clock",
            "botbuilder.core", "slack_bolt"} <= names
    assert {n for _, n in imports("from .models import Base", "storage", is_package=True)} >= {"storage.models"}


# ---- rule 1 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["handlers", "storage"])
def test_no_platform_sdk_is_imported(folder):
    found = violations(folder, lambda name: top(name) in PLATFORM_SDKS)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("folder", ["handlers", "storage"])
def test_no_platform_sdk_is_imported_indirectly(folder):
    """Importing every module of the folder in a fresh interpreter loads no platform SDK (and, for storage,
    nothing of bot/ or handlers/ beyond what rule 2 allows)."""
    modules = [module_name(p) for p in python_files(folder)
               if p.name != "env.py"]  # migrations/env.py runs the migrations when imported
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    sdks = sorted(m for m in loaded if top(m) in PLATFORM_SDKS)
    assert not sdks, f"importing {folder}/ loads {sdks}"
    if folder == "storage":
        ours = sorted(m for m in loaded if top(m) in ("bot", "handlers") and m != "bot"
                      and not within(m, STORAGE_MAY_USE_FROM_BOT))
        assert not ours, f"importing storage/ loads {ours}"


# ---- rule 2 ------------------------------------------------------------------------------------------


def test_storage_does_not_import_bot_or_handlers():
    def bad(name: str) -> bool:
        if top(name) == "handlers":
            return True
        return top(name) == "bot" and not within(name, STORAGE_MAY_USE_FROM_BOT) and name != "bot"

    found = violations("storage", bad)
    # `from bot import clock` resolves to both "bot" and "bot.clock"; a bare `import bot` or
    # `from bot import x` for anything else is caught by the names it brings in.
    assert not found, "\n".join(found)


# ---- rule 3 ------------------------------------------------------------------------------------------


def test_bot_clock_is_standard_library_only():
    path = ROOT / "bot" / "clock.py"
    names = {top(name) for _, name in imports(path.read_text("utf-8"), "bot.clock")}
    not_stdlib = sorted(n for n in names if n not in sys.stdlib_module_names and n != "__future__")
    assert not not_stdlib, f"bot/clock.py imports {not_stdlib}; storage may import it only while it is stdlib-only"
