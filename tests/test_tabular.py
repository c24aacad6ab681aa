import codecs
import io
import zipfile
from datetime import date
from pathlib import Path

import pytest

from handlers.tabular import (
    Column,
    FileError,
    FileWarning,
    RowError,
    fold,
    parse_bool_sv,
    parse_date,
    parse_email,
    read_table,
    split_list,
)

DATA = Path(__file__).parent / "data"

HR_COLUMNS = [
    Column("email", aliases=("e-post", "e-postadress"), required=True, parse=parse_email, unique=True),
    Column("name", aliases=("namn",), required=True),
    Column("department", aliases=("avdelning",)),
    Column("manager", aliases=("chef",), parse=parse_email),
    Column("employment", aliases=("anstallningsform", "employment type")),
    Column("roles", aliases=("roller",), parse=split_list),
    Column("start", aliases=("startdatum", "start date"), parse=parse_date),
]

# Both Swedish fixtures hold the same people; they differ only in encoding and padding.
SV_ROWS = [
    {
        "_line": 2,
        "email": "asa.oberg@kommunen.se",
        "name": "Åsa Öberg",
        "department": "Säkerhetsavdelningen",
        "manager": None,
        "employment": "Tillsvidareanställning",
        "roles": ["Chef", "Informationssäkerhetssamordnare"],
        "start": date(2026, 1, 31),
    },
    {
        "_line": 3,
        "email": "bjorn.angstrom@kommunen.se",
        "name": "Björn Ängström",
        "department": "Löneenheten",
        "manager": "asa.oberg@kommunen.se",
        "employment": "Visstidsanställning",
        "roles": ["objektledare"],
        "start": date(2026, 2, 15),
    },
    {
        "_line": 5,  # line 4 is Excel's blank ";;;" row
        "email": "orjan.ek@kommunen.se",
        "name": "Örjan Ek",
        "department": "Överförmyndarenheten",
        "manager": "asa.oberg@kommunen.se",
        "employment": "Tillsvidareanställning",
        "roles": None,
        "start": date(2026, 3, 1),
    },
]


def read(name: str, **kwargs):
    return read_table((DATA / name).read_bytes(), HR_COLUMNS, **kwargs)


def test_cp1252_semicolon_file_from_swedish_excel():
    raw = (DATA / "hr_sv_cp1252.csv").read_bytes()
    assert b"\xc5sa \xd6berg" in raw and b";;\r\n" in raw  # really cp1252, CRLF, padded
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")

    table = read("hr_sv_cp1252.csv")

    assert table.file_errors == [] and table.errors == [] and table.warnings == []
    assert table.rows == SV_ROWS
    assert table.headers["employment"] == "Anställningsform"


def test_utf8_bom_crlf_file_gives_the_same_rows():
    raw = (DATA / "hr_sv_utf8bom_crlf.csv").read_bytes()
    assert raw.startswith(codecs.BOM_UTF8) and b"\r\n" in raw

    table = read("hr_sv_utf8bom_crlf.csv")

    assert table.file_errors == [] and table.errors == [] and table.warnings == []
    assert table.rows == SV_ROWS
    assert table.headers["email"] == "E-post"  # the BOM is not part of the first header


def test_comma_separated_utf8_with_english_headers():
    table = read("hr_en_utf8.csv")

    assert table.errors == [] and table.warnings == []
    assert table.rows == [
        {
            "_line": 2,
            "email": "asa.oberg@kommunen.se",
            "name": "Åsa Öberg",
            "department": "IT",
            "manager": None,
            "employment": "Permanent",
            "roles": ["chef", "objektledare"],
            "start": date(2026, 1, 31),
        },
        {
            "_line": 3,
            "email": "bjorn.angstrom@kommunen.se",
            "name": "Björn Ängström",
            "department": "IT",
            "manager": "asa.oberg@kommunen.se",
            "employment": "Temporary",
            "roles": None,
            "start": date(2026, 2, 15),
        },
    ]


def test_quoted_fields_with_delimiters_quotes_and_newlines():
    table = read("quoted_fields.csv")

    assert table.errors == []
    assert [(r["_line"], r["name"], r["department"], r["roles"]) for r in table.rows] == [
        (2, "Öberg; Åsa", "Säkerhet\noch beredskap", ["chef", "objektledare"]),
        (4, 'Björn "Nalle" Ängström', "IT\nDrift\nSupport", None),
        (7, "Karin Lund", "IT", None),  # the two quoted cells above span lines 2-3 and 4-6
    ]


def test_every_bad_row_is_reported_with_its_physical_line():
    table = read("bad_rows.csv")

    assert table.errors == [
        RowError(3, "email", "invalid_email", {"value": "inte-en-adress"}),
        RowError(5, "start", "invalid_date", {"value": "2026-13-01"}),  # the row's cell spans lines 5-6
        RowError(7, "email", "duplicate", {"value": "ASA.OBERG@kommunen.se", "first_line": 2}),
        RowError(8, "email", "required"),
        RowError(9, "email", "invalid_email", {"value": "per@@kommunen.se"}),
        RowError(9, "start", "invalid_date", {"value": "31/1/2026"}),
        RowError(10, "name", "required"),
        RowError(10, "manager", "invalid_email", {"value": "nej@"}),
    ]
    assert [(r["_line"], r["name"]) for r in table.rows] == [(2, "Åsa Öberg"), (11, "Eva Ström")]
    assert table.file_errors == []


def test_missing_required_column_is_a_file_error_and_no_rows():
    table = read("missing_column.csv")

    assert table.file_errors == [FileError("missing_column", {"column": "email"})]
    assert table.warnings == [FileWarning("unknown_column", {"header": "Mobilnummer"})]
    assert table.rows == [] and table.errors == []


@pytest.mark.parametrize("data", [(DATA / "empty.csv").read_bytes(), codecs.BOM_UTF8, b"\r\n;;;\r\n \r\n"])
def test_empty_file(data):
    assert read_table(data, HR_COLUMNS).file_errors == [FileError("empty_file")]


def xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@pytest.mark.parametrize("data", [xlsx_bytes(), b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)])  # xlsx, old xls
def test_binary_file_is_not_a_table(data):
    table = read_table(data, HR_COLUMNS)
    assert table.file_errors == [FileError("not_a_table")]
    assert table.rows == []


def test_excel_unicode_text_utf16_tab_separated():
    data = "E-post\tNamn\r\nasa.oberg@kommunen.se\tÅsa Öberg\r\n".encode("utf-16")
    assert [r["name"] for r in read_table(data, HR_COLUMNS).rows] == ["Åsa Öberg"]


def test_header_folding_padding_columns_and_unknown_headers():
    data = (
        "\r\n"
        " E_POST * ;NAMN (för- och efternamn);Startdatum (ÅÅÅÅ-MM-DD);Mobil;;\r\n"
        "  asa.oberg@kommunen.se ; Åsa Öberg ;2026-01-31;070;;\r\n"
    ).encode("cp1252")

    table = read_table(data, HR_COLUMNS)

    assert table.warnings == [FileWarning("unknown_column", {"header": "Mobil"})]
    assert table.headers == {
        "email": "E_POST *",
        "name": "NAMN (för- och efternamn)",
        "start": "Startdatum (ÅÅÅÅ-MM-DD)",
    }
    assert table.rows == [
        {"_line": 3, "email": "asa.oberg@kommunen.se", "name": "Åsa Öberg", "department": None,
         "manager": None, "employment": None, "roles": None, "start": date(2026, 1, 31)},
    ]


def test_delimiter_is_counted_outside_quotes_on_the_header_line():
    # Two quoted commas against one real ';': a naive count would pick ','.
    data = '"Efternamn, förnamn, titel";E-post\n"Öberg, Åsa, chef";asa@kommunen.se\n'.encode()
    columns = [Column("name", aliases=("efternamn, förnamn, titel",)), Column("email", aliases=("e-post",))]
    assert read_table(data, columns).rows == [{"_line": 2, "name": "Öberg, Åsa, chef", "email": "asa@kommunen.se"}]


def test_two_headers_for_one_column_is_a_file_error():
    table = read_table(b"E-post;Epost\na@kommunen.se;b@kommunen.se\n", HR_COLUMNS)
    assert FileError("duplicate_column", {"column": "email", "header": "Epost"}) in table.file_errors
    assert table.rows == []


def test_callers_own_converter_errors_become_invalid_value():
    table = read_table(b"Antal\n3\ntre\n", [Column("count", aliases=("antal",), parse=int)])
    assert [r["count"] for r in table.rows] == [3]
    assert table.errors == [
        RowError(3, "count", "invalid_value", {"value": "tre", "detail": "invalid literal for int() with base 10: 'tre'"})
    ]


def test_same_alias_on_two_columns_is_a_programming_error():
    with pytest.raises(ValueError):
        read_table(b"x\n", [Column("a", aliases=("Namn",)), Column("b", aliases=("namn",))])


def test_size_guards():
    assert read_table(b"E-post\n" + b"a@kommunen.se\n" * 10, HR_COLUMNS, max_bytes=50).file_errors == [
        FileError("too_large", {"max_bytes": 50})
    ]
    data = b"E-post;Namn\n" + b"".join(b"p%d@kommunen.se;P\n" % i for i in range(4))
    table = read_table(data, HR_COLUMNS, max_rows=3)
    assert table.file_errors == [FileError("too_many_rows", {"max_rows": 3})]
    assert table.rows == [] and table.errors == []
    assert len(read_table(data, HR_COLUMNS, max_rows=4).rows) == 4


def test_unterminated_quote_running_past_the_field_limit_is_malformed():
    data = b'E-post;Namn\na@kommunen.se;"' + b"x" * 200_000 + b"\n"
    assert read_table(data, HR_COLUMNS).file_errors == [FileError("malformed", {"line": 2})]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Anställningsform", "anstallningsform"),
        ("E-post", "epost"),
        (" Startdatum * ", "startdatum"),
        ("Namn (för- och efternamn)", "namn"),
        ("informationssäkerhetssamordnare", "informationssakerhetssamordnare"),
        ("INFORMATIONSSA\u030aKERHETS_SAMORDNARE", "informationssakerhetssamordnare"),  # macOS decomposed å
        ("Öppen Källkod-Ansvarig", "oppenkallkodansvarig"),
        ("Médarbetare", "medarbetare"),
    ],
)
def test_fold(text, expected):
    assert fold(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31", date(2026, 1, 31)),
        ("2026/01/31", date(2026, 1, 31)),
        ("20260131", date(2026, 1, 31)),
        ("2026-01-31 00:00", date(2026, 1, 31)),
        ("2026-01-31 13:45:10", date(2026, 1, 31)),
    ],
)
def test_parse_date_accepts(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["31/1/2026", "2026-02-30", "2026-01/31", "jan 2026", "2026-1-5", "46053"])
def test_parse_date_rejects(text):
    with pytest.raises(ValueError) as excinfo:
        parse_date(text)
    assert excinfo.value.code == "invalid_date"


def test_parse_email():
    assert parse_email(" Åsa.Öberg@Kommunen.SE ") == "åsa.öberg@kommunen.se"
    bad_addresses = ["asa", "asa@", "@kommunen.se", "asa@kommunen", "asa@@kommunen.se", "a b@kommunen.se", "a@kommunen..se"]
    for bad in bad_addresses:
        with pytest.raises(ValueError) as excinfo:
            parse_email(bad)
        assert excinfo.value.code == "invalid_email"


def test_parse_bool_sv():
    assert [parse_bool_sv(v) for v in ["Ja", "yes", "TRUE", "SANT", "1", "x"]] == [True] * 6
    assert [parse_bool_sv(v) for v in ["nej", "No", "false", "FALSKT", "0"]] == [False] * 5
    with pytest.raises(ValueError) as excinfo:
        parse_bool_sv("kanske")
    assert excinfo.value.code == "invalid_bool"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("chef, objektledare", ["chef", "objektledare"]),
        ("chef;objektledare / systemförvaltare", ["chef", "objektledare", "systemförvaltare"]),
        ("Chef OCH informationssäkerhetssamordnare", ["Chef", "informationssäkerhetssamordnare"]),
        ("Kochansvarig", ["Kochansvarig"]),  # "och" only separates as a word
        ("chef,,", ["chef"]),
    ],
)
def test_split_list(text, expected):
    assert split_list(text) == expected
