"""Read the table files coordinators save from Excel ("Spara som CSV").

Covers what Swedish Excel actually writes: Windows-1252 or UTF-8 (with BOM),
';' or ',' or tab, CRLF, padding columns and blank rows. The caller declares its
columns; problems come back as codes plus params, never prose, so the caller
renders them in Swedish or English from its own templates.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 100_000

# Order breaks ties: Swedish Excel writes ';'.
_DELIMITERS = (";", "\t", ",")
# Text files never hold these; zip (xlsx) and OLE (xls) headers do.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PARENS = re.compile(r"\([^)]*\)")
_FOLD_IGNORED = re.compile(r"[\s_\-]+")
_DATE = re.compile(r"(\d{4})([-/]?)(\d{2})\2(\d{2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_LIST_SEPARATOR = re.compile(r"\s*(?:[,;/]|\s+och\s+)\s*", re.IGNORECASE)
_TRUE = frozenset({"ja", "yes", "true", "sant", "1", "x"})
# SANT/FALSKT: what Swedish Excel writes for TRUE/FALSE.
_FALSE = frozenset({"nej", "no", "false", "falskt", "0"})


class InvalidValue(ValueError):
    """Raised by converters; code and params are copied into the RowError."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Column:
    key: str
    aliases: tuple[str, ...] = ()  # the key itself always matches too
    required: bool = False
    parse: Callable[[str], Any] | None = None  # raises ValueError for a bad value
    unique: bool = False  # compares parsed values, so parse_email makes it case-insensitive


@dataclass(frozen=True)
class RowError:
    line: int  # 1-based physical line where the row starts, as Notepad shows it
    column: str | None  # Column.key; None is for callers' own whole-row checks
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FileError:
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FileWarning:
    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Table:
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[FileWarning] = field(default_factory=list)
    file_errors: list[FileError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # Column.key -> header as written in the file


def fold(text: str) -> str:
    """Matching form of a header or enumeration value.

    "E-post *" -> "epost", "Anställningsform" -> "anstallningsform", "Namn (för- och efternamn)" -> "namn".
    """
    text = _PARENS.sub("", text).strip().rstrip("*")
    # NFKD splits å into a + ring (also for macOS' decomposed input); dropping the marks folds the letter.
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _FOLD_IGNORED.sub("", text)


def parse_date(text: str) -> date:
    """2026-01-31, 2026/01/31, 20260131 or Excel's 2026-01-31 00:00; day-first dates are ambiguous, so rejected."""
    match = _DATE.fullmatch(text.strip())
    if match:
        try:
            return date(int(match[1]), int(match[3]), int(match[4]))
        except ValueError:
            pass  # well-formed but not a calendar date, e.g. 2026-02-30
    raise InvalidValue("invalid_date")


def parse_email(text: str) -> str:
    address = text.strip().lower()
    if not _EMAIL.fullmatch(address):
        raise InvalidValue("invalid_email")
    return address


def parse_bool_sv(text: str) -> bool:
    value = text.strip().casefold()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidValue("invalid_bool")


def split_list(text: str) -> list[str]:
    """Multi-valued cell: "chef, objektledare" or "chef och objektledare" -> ["chef", "objektledare"]."""
    return [part for part in _LIST_SEPARATOR.split(text.strip()) if part]


def read_table(
    data: bytes,
    columns: Sequence[Column],
    *,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
) -> Table:
    """Parse an uploaded table; only rows without errors end up in Table.rows, each with "_line"."""
    by_alias = _alias_map(columns)
    if len(data) > max_bytes:
        return Table(file_errors=[FileError("too_large", {"max_bytes": max_bytes})])
    text = _decode(data)
    if text is None or _CONTROL.search(text):
        return Table(file_errors=[FileError("not_a_table")])

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))
    records = _records(reader)
    table = Table()
    try:
        header = next(records, None)
        if header is None:
            return Table(file_errors=[FileError("empty_file")])
        index = _map_header(header[1], columns, by_alias, table)
        if table.file_errors:
            return table

        seen: dict[str, dict[Any, int]] = {col.key: {} for col in columns if col.unique}
        for count, (line, cells) in enumerate(records, start=1):
            if count > max_rows:
                table.rows, table.errors = [], []
                table.file_errors.append(FileError("too_many_rows", {"max_rows": max_rows}))
                return table
            row, errors = _parse_row(line, cells, columns, index)
            for key, first_lines in seen.items():
                if row[key] is None:  # empty or unparseable: already reported, or nothing to compare
                    continue
                first = first_lines.setdefault(row[key], line)
                if first != line:
                    errors.append(RowError(line, key, "duplicate", {"value": cells[index[key]], "first_line": first}))
            if errors:
                table.errors.extend(errors)
            else:
                table.rows.append(row)
    except csv.Error:  # in practice a stray quote swallowing the file past csv's field size limit
        return Table(file_errors=[FileError("malformed", {"line": reader.line_num})])
    return table


def _alias_map(columns: Sequence[Column]) -> dict[str, Column]:
    by_alias: dict[str, Column] = {}
    for col in columns:
        for name in (col.key, *col.aliases):
            other = by_alias.setdefault(fold(name), col)
            if other is not col:
                raise ValueError(f"header alias {name!r} is declared for both {other.key!r} and {col.key!r}")
    return by_alias


def _decode(data: bytes) -> str | None:
    if data.startswith(codecs.BOM_UTF8):
        encodings = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode-text"
        encodings = ["utf-16"]
    else:
        # cp1252 decodes almost any bytes, so UTF-8 must be tried first.
        encodings = ["utf-8", "cp1252"]
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _sniff_delimiter(text: str) -> str:
    """Count candidates outside quotes on the first non-blank line; csv.Sniffer guesses wrong on short files."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    in_quotes = has_content = False
    for ch in text:
        if ch == '"':
            in_quotes = not in_quotes
            has_content = True
        elif in_quotes:
            continue
        elif ch in counts:
            counts[ch] += 1
        elif ch in "\r\n":
            if has_content:
                break
            counts = dict.fromkeys(_DELIMITERS, 0)  # blank or ";;;" line before the header
        elif not ch.isspace():
            has_content = True
    return max(_DELIMITERS, key=counts.__getitem__)


def _records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the physical line each starts on; quoted newlines advance reader.line_num."""
    line = 1
    for record in reader:
        cells = [cell.strip() for cell in record]
        if any(cells):
            yield line, cells
        line = reader.line_num + 1


def _map_header(
    cells: list[str], columns: Sequence[Column], by_alias: dict[str, Column], table: Table
) -> dict[str, int]:
    index: dict[str, int] = {}
    for position, header in enumerate(cells):
        if not header:  # Excel pads rows with empty columns
            continue
        col = by_alias.get(fold(header))
        if col is None:
            table.warnings.append(FileWarning("unknown_column", {"header": header}))
        elif col.key in index:
            table.file_errors.append(FileError("duplicate_column", {"column": col.key, "header": header}))
        else:
            index[col.key] = position
            table.headers[col.key] = header
    for col in columns:
        if col.required and col.key not in index:
            table.file_errors.append(FileError("missing_column", {"column": col.key}))
    return index


def _parse_row(
    line: int, cells: list[str], columns: Sequence[Column], index: dict[str, int]
) -> tuple[dict[str, Any], list[RowError]]:
    row: dict[str, Any] = {"_line": line}
    errors: list[RowError] = []
    for col in columns:
        position = index.get(col.key)
        raw = cells[position] if position is not None and position < len(cells) else ""
        row[col.key] = None
        if not raw:
            if col.required:
                errors.append(RowError(line, col.key, "required"))
            continue
        try:
            row[col.key] = col.parse(raw) if col.parse else raw
        except InvalidValue as exc:
            errors.append(RowError(line, col.key, exc.code, {"value": raw, **exc.params}))
        except ValueError as exc:  # the caller's own converter, e.g. int()
            errors.append(RowError(line, col.key, "invalid_value", {"value": raw, "detail": str(exc)}))
    return row, errors
