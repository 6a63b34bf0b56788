"""The Chinese catalogue translates every message the code and templates use."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
CATALOGUE = ROOT / "app" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def _ids(path: Path) -> dict[str, str]:
    with path.open("rb") as fh:
        catalog = read_po(fh)
    return {m.id: m.string for m in catalog if m.id and not isinstance(m.id, tuple)}


def test_every_message_in_the_sources_has_a_chinese_translation(tmp_path: Path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "lazy_gettext", "-o", str(pot), "--no-location", "--ignore-dirs",
                    ".venv node_modules tests benchmarks", "."], cwd=ROOT, check=True, capture_output=True)
    used = set(_ids(pot))
    translated = {k for k, v in _ids(CATALOGUE).items() if v}
    missing = sorted(used - translated)
    assert not missing, f"untranslated (run `make messages` and translate): {missing[:10]}"


def _texts(value: str | tuple | None) -> list[str]:
    """A message's id or translation as a list of texts (plural messages have several)."""
    if not value:
        return []
    return list(value) if isinstance(value, tuple) else [value]


def test_no_translation_is_fuzzy_or_empty() -> None:
    with CATALOGUE.open("rb") as fh:
        catalog = read_po(fh)
    bad = [m.id for m in catalog if m.id and (m.fuzzy or not _texts(m.string) or not all(_texts(m.string)))]
    assert not bad, f"fuzzy or empty: {bad[:10]}"


#: What %-formatting accepts in our messages: a literal "%%" or a named placeholder; any other % is bare.
_PERCENT = re.compile(r"%%|%\(\w+\)[sd]|%")


def _bare_percent(text: str) -> bool:
    return any(token == "%" for token in _PERCENT.findall(text))


def test_the_bare_percent_check_reads_double_percent_as_a_literal() -> None:
    assert not _bare_percent("%(rate)s%% by amount, 100%%")
    assert _bare_percent("50% off")
    assert _bare_percent("%(rate)s% by amount")


def test_no_bare_percent_sign_that_jinja_would_try_to_format() -> None:
    # Jinja's gettext applies %-formatting to every message; a lone % breaks the page at render time.
    with CATALOGUE.open("rb") as fh:
        catalog = read_po(fh)
    bad = [m.id for m in catalog if m.id
           and any(_bare_percent(t) for t in _texts(m.id) + _texts(m.string))]
    assert not bad, f"messages with a bare %: {bad}"
