"""The texts in templates/i18n (one folder per language, one YAML file per area): both languages complete,
every text renders, no untranslated leftovers, and the handlers take every word a person reads from there."""

from __future__ import annotations

import ast
import re
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import pytest
import yaml
from jinja2 import meta

from bot.i18n import LANGUAGES, Texts
from templates import TEMPLATES_DIR

ROOT = Path(__file__).resolve().parents[1]
I18N = TEMPLATES_DIR / "i18n"
TEXTS = Texts()
# What the bot itself loads, whatever the file layout.
CATALOGS = TEXTS.catalogs
ALL_KEYS = sorted(set(CATALOGS["sv"]) | set(CATALOGS["en"]))
MOMENT = datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)
INTEGER_PARAMS = {"count", "max", "shown"}

# Words spelled the same in Swedish and English (names, loan words). A text identical in both languages is
# fine when it is made only of these, symbols, numbers and parameters; anything else identical is a text
# somebody forgot to translate.
SAME_IN_BOTH = {"incident", "system", "information", "status", "admin", "lisbot", "slack", "gdpr", "imy", "ok"}
# Whole words that are English and not Swedish; matched case-insensitively on word boundaries.
ENGLISH_WORDS = ("the", "and", "please", "you", "your", "with", "will", "should", "cannot", "report", "send",
                 "close", "yes", "happened", "details", "show")
# English product names quoted in Swedish texts: Slack's own (English-only) menus and headings.
QUOTED_ENGLISH = ("Create New App", "From a manifest", "Bot User OAuth Token", "Signing Secret", "Socket Mode",
                  "Connect to Slack")
# Swedish words that would give away an untranslated English text.
SWEDISH_WORDS = ("och", "att", "inte", "det", "är", "för", "du", "har", "ett", "en", "på", "med", "som")
# Swedish kept in English texts on purpose: authorities, and the Swedish words a person must type or will see
# in the data (role names, the employment column of the staff list).
SWEDISH_IN_ENGLISH = ("Arbetsmiljöverket", "informationssäkerhetssamordnare", "anställd", "konsult")
DATETIME_FILTERS = {"dt"}
NUMERIC_NODES = (jinja2.nodes.Add, jinja2.nodes.Sub, jinja2.nodes.Mul, jinja2.nodes.Div, jinja2.nodes.FloorDiv,
                 jinja2.nodes.Mod, jinja2.nodes.Pow, jinja2.nodes.Neg)


def param_kinds(source: str) -> dict[str, str]:
    """How a text uses each variable (from the Jinja2 AST): "datetime" when it goes through |dt or is named
    *_at or deadline, "number" when the text computes with it, else "text"."""
    tree = TEXTS.env.parse(source)
    kinds = {name: "text" for name in meta.find_undeclared_variables(tree)}
    for name in kinds:
        if name.endswith("_at") or name == "deadline":
            kinds[name] = "datetime"
        elif name in INTEGER_PARAMS:
            kinds[name] = "number"
    for node in tree.find_all(jinja2.nodes.Filter):
        if node.name in DATETIME_FILTERS and isinstance(node.node, jinja2.nodes.Name) and node.node.name in kinds:
            kinds[node.node.name] = "datetime"
    for node in tree.find_all(NUMERIC_NODES):
        for operand in node.iter_child_nodes():
            if isinstance(operand, jinja2.nodes.Name) and operand.name in kinds:
                kinds[operand.name] = "number"
    return kinds


def dummy_params(source: str) -> dict:
    """Plausible values for every variable a text uses."""
    params: dict = {}
    for name, kind in param_kinds(source).items():
        if kind == "datetime":
            params[name] = MOMENT
        elif kind == "number":
            params[name] = 42
        elif name == "tz":
            params[name] = "Europe/Stockholm"
        else:
            params[name] = f"<{name}&>"  # markup characters show whether |esc is applied
    return params


def prose(text: str) -> str:
    """The words of a text, without Jinja2 expressions, mrkdwn and emoji codes."""
    text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", text)
    text = re.sub(r":[a-z_]+:", " ", text)
    return re.sub(r"[*_`]", "", text)


# ---- completeness --------------------------------------------------------------------------------------


def test_catalogs_are_not_empty():
    assert len(CATALOGS["sv"]) > 20 and len(CATALOGS["en"]) > 20


def test_swedish_and_english_have_the_same_keys():
    only_sv = sorted(set(CATALOGS["sv"]) - set(CATALOGS["en"]))
    only_en = sorted(set(CATALOGS["en"]) - set(CATALOGS["sv"]))
    assert not only_sv and not only_en, f"only in Swedish: {only_sv}; only in English: {only_en}"


def test_both_languages_use_the_same_parameters():
    """A translation that drops or renames a {{ param }} would fail only at run time, for one language."""
    mismatched = {}
    for key in sorted(set(CATALOGS["sv"]) & set(CATALOGS["en"])):
        sv = meta.find_undeclared_variables(TEXTS.env.parse(CATALOGS["sv"][key]))
        en = meta.find_undeclared_variables(TEXTS.env.parse(CATALOGS["en"][key]))
        if sv != en:
            mismatched[key] = (sorted(sv), sorted(en))
    assert not mismatched, mismatched


def text_files(lang: str) -> list[Path]:
    """The YAML files of one language: templates/i18n/<lang>/*.yaml, or the older single <lang>.yaml."""
    files = sorted((I18N / lang).glob("**/*.yaml")) + sorted(I18N.glob(f"{lang}.yaml"))
    assert files, f"no texts for {lang} in {I18N}"
    return files


def raw_texts(path: Path) -> dict:
    tree = yaml.safe_load(path.read_text("utf-8")) or {}
    assert isinstance(tree, dict), f"{path} is not a mapping"
    return _flatten_raw(tree)


def _flatten_raw(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        # YAML reads bare yes/no/on/off keys as booleans: the key would be True, not "yes".
        assert isinstance(key, str), f"key {prefix}{key!r} is not a string; quote it in the YAML"
        if isinstance(value, dict):
            flat.update(_flatten_raw(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_every_language_has_the_same_files_with_the_same_keys():
    """Each area file in sv/ has its twin in en/ with the same keys, so a text is found where it is expected."""
    layout = {lang: {str(p.relative_to(I18N / lang)) if p.is_relative_to(I18N / lang) else "<single file>": p
                     for p in text_files(lang)} for lang in LANGUAGES}
    assert set(layout["sv"]) == set(layout["en"]), {lang: sorted(files) for lang, files in layout.items()}
    for name in layout["sv"]:
        sv, en = set(raw_texts(layout["sv"][name])), set(raw_texts(layout["en"][name]))
        assert sv == en, f"{name}: only in sv: {sorted(sv - en)}; only in en: {sorted(en - sv)}"


def test_the_loader_sees_every_key_in_the_files():
    catalogs = Texts().catalogs  # loaded now, next to the files read below
    for lang in LANGUAGES:
        in_files = set().union(*(raw_texts(p) for p in text_files(lang)))
        assert set(catalogs[lang]) == in_files


def test_every_value_is_a_non_empty_string():
    for lang in LANGUAGES:
        for path in text_files(lang):
            for key, value in raw_texts(path).items():
                # YAML turns bare yes/no/on/off/numbers into other types: such a text would read "True".
                assert isinstance(value, str), f"{path.name} {key} is {type(value).__name__} {value!r}; quote it"
                assert value.strip(), f"{path.name} {key} is empty"


# ---- rendering ---------------------------------------------------------------------------------------


def always_shows_a_time(source: str) -> bool:
    """A |dt outside any {% if %} or {% for %}: the rendered text must contain a formatted time."""
    top_level = [node for node in TEXTS.env.parse(source).body if isinstance(node, jinja2.nodes.Output)]
    return any(f.name in DATETIME_FILTERS for node in top_level for f in node.find_all(jinja2.nodes.Filter))


# Each text once per language it exists in; a text missing in one language is reported once, by the key tests.
@pytest.mark.parametrize("lang,key", [pytest.param(lang, key, id=f"{lang}:{key}")
                                      for lang in LANGUAGES for key in sorted(CATALOGS[lang])])
def test_every_text_renders(lang, key):
    source = CATALOGS[lang][key]
    params = dummy_params(source)
    rendered = TEXTS.t(lang, key, **params)
    assert rendered.strip()
    assert "{{" not in rendered and "{%" not in rendered
    if always_shows_a_time(source):
        assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", rendered), f"{key}: no time shown"
    if params:
        # StrictUndefined: a missing parameter is an error, not an empty gap in the text.
        with pytest.raises(jinja2.UndefinedError):
            TEXTS.t(lang, key)


# Parameters that always carry free text a person typed into a form.
TYPED = {"asset", "description", "cause", "measures", "lessons"}


def test_person_typed_values_are_escaped():
    """Free text a person typed goes through |esc wherever it is shown (no <!channel>, no fake links)."""
    unescaped = []
    for lang, catalog in CATALOGS.items():
        for key, source in catalog.items():
            params = dummy_params(source)
            rendered = TEXTS.t(lang, key, **params)
            for name in params.keys() & TYPED:
                if params[name] in rendered:
                    unescaped.append(f"{lang} {key}: {name}")
    assert not unescaped, unescaped


# ---- translation -------------------------------------------------------------------------------------


def same_in_both_languages(text: str) -> bool:
    """True when a text may read the same in Swedish and English: only shared words, symbols and numbers."""
    words = re.findall(r"[^\W\d_][\w-]*", prose(text))
    return all(word.lower() in SAME_IN_BOTH for word in words)


def test_the_copy_detector_works():
    assert same_in_both_languages("{{ reference }} · {{ status }}")
    assert same_in_both_languages("*System/information*\n{{ asset | esc }}")
    assert same_in_both_languages(":alarm_clock: *GDPR* –")
    assert not same_in_both_languages("Thank you for reporting {{ reference }}")
    assert not same_in_both_languages("Tack för rapporten")


def test_english_is_not_a_copy_of_swedish():
    copies = [key for key in sorted(set(CATALOGS["sv"]) & set(CATALOGS["en"]))
              if CATALOGS["sv"][key] == CATALOGS["en"][key] and not same_in_both_languages(CATALOGS["sv"][key])]
    assert not copies, f"the same in Swedish and English; translate (or add the word to SAME_IN_BOTH): {copies}"


def english_leftovers(text: str) -> list[str]:
    words = prose(text)
    for quoted in QUOTED_ENGLISH:
        words = words.replace(quoted, " ")
    words = re.sub(r"https?://\S+", " ", words)
    return [w for w in ENGLISH_WORDS if re.search(rf"(?<![\w-]){w}(?![\w-])", words, re.IGNORECASE)]


def test_the_leftover_detector_works():
    assert set(english_leftovers("Please try again and send the report.")) == {"the", "and", "please", "send",
                                                                               "report"}
    assert english_leftovers("Försök igen om en liten stund. Rapportera det här.") == []


def test_swedish_texts_have_no_english_leftovers():
    found = {key: hits for key, text in CATALOGS["sv"].items() if (hits := english_leftovers(text))}
    assert not found, f"English words in the Swedish texts: {found}"


def test_english_texts_have_no_swedish_leftovers():
    found = {}
    for key, text in CATALOGS["en"].items():
        words = prose(text)
        for kept in SWEDISH_IN_ENGLISH:
            words = words.replace(kept, " ")
        hits = [w for w in SWEDISH_WORDS if re.search(rf"(?<![\w-]){w}(?![\w-])", words, re.IGNORECASE)]
        if re.search(r"[åäöÅÄÖ]", words):
            hits.append("å/ä/ö")
        if hits:
            found[key] = hits
    assert not found, f"Swedish in the English texts: {found}"


# ---- the handlers use the texts -------------------------------------------------------------------------

# The neutral model's constructors whose string arguments a person reads.
VISIBLE = {"Text", "Header", "Note", "Button", "Screen", "Message", "Form", "Option", "TextField", "ChoiceField",
           "DateTimeField", "NumberField", "FormErrors"}
PROSE = re.compile(r"[^\W\d_]{3,}\s+\S|\S\s+[^\W\d_]{3,}")  # a space next to a word of three or more letters


def literal_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return " ".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    if isinstance(node, ast.BinOp):  # "a" + "b"
        parts = [literal_text(node.left), literal_text(node.right)]
        return " ".join(p for p in parts if p) or None
    return None


def hard_coded_texts(source: str, filename: str = "<src>") -> list[str]:
    """`Text("Tack för din rapport")` and the like: prose passed straight to a visible constructor."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        if name not in VISIBLE:
            continue
        arguments = list(node.args) + [k.value for k in node.keywords]
        for argument in arguments:
            candidates = [argument] + (list(argument.elts) if isinstance(argument, (ast.Tuple, ast.List)) else [])
            for candidate in candidates:
                text = literal_text(candidate)
                if text and PROSE.search(text):
                    found.append(f"{filename}:{node.lineno}: {name}({text!r})")
    return found


def test_the_hard_coded_text_detector_works():
    assert hard_coded_texts('Text("Tack för din rapport")')
    assert hard_coded_texts('m.Header(f"Ny incident {ref}")')
    assert hard_coded_texts('Screen(title=t("x"), blocks=(Text("Inget att visa"),))')
    assert hard_coded_texts('Button("act", "Visa detaljer")')
    assert not hard_coded_texts('Text(t(lang, "home.none"))')
    assert not hard_coded_texts('Text("", ("a",))')
    assert not hard_coded_texts('TextField("description", label)')
    assert not hard_coded_texts('Button(SHOW_ACTION, t(lang, "incident.notice.show"), str(i.id), "primary")')


def test_handlers_take_every_visible_word_from_the_texts():
    files = sorted((ROOT / "handlers").glob("**/*.py"))
    assert files
    found = [hit for path in files
             for hit in hard_coded_texts(path.read_text("utf-8"), str(path.relative_to(ROOT)))]
    assert not found, "put these in templates/i18n/:\n" + "\n".join(found)


def literal_keys() -> list[tuple[str, str]]:
    """Text keys spelled out in the code, e.g. t(lang, "incident.form.title"), and the prefixes of f-string keys."""
    namespaces = {key.split(".")[0] for key in ALL_KEYS}
    pattern = re.compile(rf"^(?:{'|'.join(map(re.escape, sorted(namespaces)))})\.[a-z0-9_.]*$")
    found = []
    for path in sorted([*(ROOT / "handlers").glob("**/*.py"), *(ROOT / "bot").glob("**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.match(node.value):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.value))
            elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                head = node.values[0].value
                if isinstance(head, str) and pattern.match(head) and head.endswith("."):
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", head))
    return found


def test_every_key_the_code_names_exists_in_both_languages():
    """A key spelled out in the code exists in both languages, as a text or as the prefix of a group of texts
    (t(lang, "incident.form.title"), options(lang, "incident.kind"), f"incident.status.{status}"). Some
    modules prefix their keys in a helper (_t(svc, lang)("home.header") reads classification.home.header), so a
    key is also found under any prefix of existing keys."""
    keys = literal_keys()
    assert len(keys) > 10
    missing = []
    for lang in LANGUAGES:
        groups = {k.rsplit(".", n)[0] for k in CATALOGS[lang] for n in range(1, k.count(".") + 1)}
        names = set(CATALOGS[lang]) | groups  # a text, or a group of texts
        prefixes = [""] + [g + "." for g in groups]
        for where, key in keys:
            if not any(p + key.rstrip(".") in names for p in prefixes):
                missing.append(f"{where}: {key!r} not in the {lang} texts")
    assert not missing, "\n".join(missing)
