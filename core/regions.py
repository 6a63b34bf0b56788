"""China's administrative divisions (GB/T 2260 codes): province, prefecture, county, with Chinese names.

The data ship with the code in `core/data/gb2260.json` (source and licence in docs/tendering.md and
`core/data/gb2260.LICENSE`). A tender's region is one of these codes; a code that is not in the list is
refused with a message naming it. Pure: no Flask, no database (messages are translated when a request
is there to choose the language).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from flask_babel import gettext as _

from core.validation import ValidationError

DATA = Path(__file__).resolve().parent / "data" / "gb2260.json"

#: Codes the office may type before the name, e.g. "350102 福建省 福州市 鼓楼区".
_LEADING_CODE = re.compile(r"\s*(\d{6})(?:\s|$)")
#: Placeholder level names in the list ("municipal districts"): not shown in a path.
_PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    parent: str | None

    @property
    def level(self) -> int:
        """1 province, 2 prefecture, 3 county."""
        return len(path(self.code))

    @property
    def full_name(self) -> str:
        """The names from the province down, e.g. 福建省 福州市 鼓楼区 (placeholder levels left out)."""
        names = [d.name for d in path(self.code)]
        shown = [n for n in names[:-1] if n not in _PLACEHOLDERS] + names[-1:]
        return " ".join(shown)

    @property
    def label(self) -> str:
        """What a list of choices shows: the code, then the full name."""
        return f"{self.code} {self.full_name}"


@cache
def divisions() -> dict[str, Division]:
    """Every division by code, in code order."""
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    return {code: Division(code, name, parent or None) for code, name, parent in raw["divisions"]}


def get(code: str) -> Division | None:
    return divisions().get(code)


def path(code: str) -> list[Division]:
    """The division and its ancestors, province first ([] for an unknown code)."""
    chain: list[Division] = []
    division = divisions().get(code)
    while division is not None:
        chain.append(division)
        division = divisions().get(division.parent) if division.parent else None
    return chain[::-1]


def name(code: str | None) -> str:
    """The full name of a code, or the code itself when it is not in the list (an old record)."""
    division = divisions().get(code or "")
    return division.full_name if division else (code or "")


def children(code: str | None) -> list[Division]:
    """The divisions directly under `code` (the provinces for None)."""
    return [d for d in divisions().values() if d.parent == (code or None)]


@cache
def _by_full_name() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for division in divisions().values():
        for key in {division.full_name, division.name, division.full_name.replace(" ", "")}:
            found.setdefault(key, []).append(division.code)
    return found


def resolve(value: Any, field: str | None = "region") -> str:
    """The code the office meant: a six-digit code in the list, a choice's label ("350102 福建省 福州市
    鼓楼区"), or a name that names one division only. Anything else is refused, naming the field."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, _("choose the region from the list of administrative divisions"))
    text = value.strip()
    lead = _LEADING_CODE.match(text)
    if lead:
        code = lead.group(1)
        if code not in divisions():
            raise ValidationError(field, _("no administrative division has the code %(code)s", code=code))
        return code
    if text.isdigit():
        raise ValidationError(field, _("an administrative division code is six digits, e.g. 350100"))
    matches = _by_full_name().get(" ".join(text.split()), [])
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValidationError(field, _("several divisions are called %(name)s: choose one from the list",
                                       name=text))
    raise ValidationError(field, _("no administrative division is called %(name)s", name=text))


def check(code: str, field: str | None = "region") -> str:
    """A code as stored: six digits and in the list."""
    if code not in divisions():
        raise ValidationError(field, _("no administrative division has the code %(code)s", code=code))
    return code
