"""The official Chinese working-day calendar and the Civil Code's rules for periods (no Flask).

Sources, in order (docs/supervision.md, "Working days"):

1. `core/data/cn_workdays.json`: years the State Council has announced but the installed package does not
   know yet, `{"2027": {"holidays": ["2027-01-01", ...], "workdays": ["2027-02-07", ...]}}`. A year in this
   file is taken from it alone (it wins over the package): a listed holiday is a rest day, a listed workday
   (an adjusted working weekend, 调休) is a working day, any other day is a working day from Monday to
   Friday.
2. The `chinesecalendar` package (`import chinese_calendar`): the State Council's holidays and adjusted
   working weekends for the years it ships (2004-2026 in 1.11).
3. Any other year: Monday to Friday are working days, and every answer that depends on such a year is
   PROVISIONAL (`Due.provisional`, `calendar_known(year)` is False), so pages can say that the calendar for
   that year is not yet published. Never an error.

Periods follow the Civil Code (民法典 第二百零一条至第二百零三条): the day on which a period starts is not
counted (it starts on the next day); when the last day of a period counted in calendar days is a statutory
rest day (a holiday or a weekend that is not an adjusted working day), the period ends on the next working
day instead; a period ends at 24:00 of its last day. Days are days of the display zone
(`core.display.display_timezone()`, Beijing time by default): a start given as a UTC moment is first turned
into that zone's date, and the end (24:00 of the last day there) is returned as an aware UTC moment.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import chinese_calendar

from core.display import display_timezone

OVERRIDE_FILE = Path(__file__).resolve().parent / "data" / "cn_workdays.json"
#: The years the installed package has data for.
PACKAGE_YEARS = range(min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year + 1)
#: A period longer than this many days is refused (a typo, not a statutory period).
MAX_DAYS = 3660


class Due(NamedTuple):
    """The end of a period: `at` (24:00 of `last_day` in the display zone, as an aware UTC datetime),
    `last_day` (a local date) and `provisional` (True when a day it depends on lies in a year whose
    official calendar is not known: Monday-Friday was assumed)."""

    at: dt.datetime
    last_day: dt.date
    provisional: bool


class WorkdayCalendar:
    """The package's calendar with the override years on top. `overrides` maps a year to
    (holidays, workdays), two sets of dates of that year."""

    def __init__(self, overrides: dict[int, tuple[frozenset[dt.date], frozenset[dt.date]]] | None = None):
        self.overrides = dict(overrides or {})

    @classmethod
    def from_file(cls, path: Path | str) -> WorkdayCalendar:
        """Read an override file; a malformed one is refused with a message naming the problem."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(parse_overrides(data, source=str(path)))

    def calendar_known(self, year: int) -> bool:
        """Whether the official calendar of `year` is known (override file or package)."""
        return year in self.overrides or year in PACKAGE_YEARS

    def is_working_day(self, day: dt.date) -> bool:
        """A working day: an adjusted working weekend counts, a holiday does not; an unknown year has
        Monday-Friday (see `calendar_known`)."""
        day = _as_date(day)
        if day.year in self.overrides:
            holidays, workdays = self.overrides[day.year]
            if day in workdays:
                return True
            if day in holidays:
                return False
            return day.weekday() < 5
        if day.year in PACKAGE_YEARS:
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def next_working_day(self, day: dt.date) -> tuple[dt.date, bool]:
        """`day` itself when it is a working day, else the first working day after it; with whether any
        day looked at lies in an unknown year."""
        provisional = not self.calendar_known(day.year)
        for _ in range(MAX_DAYS):
            if self.is_working_day(day):
                return day, provisional
            day += dt.timedelta(days=1)
            provisional = provisional or not self.calendar_known(day.year)
        raise ValueError("no working day found")  # pragma: no cover (every week has one)

    def add_calendar_days(self, start: dt.datetime | dt.date, n: int) -> Due:
        """A period of `n` calendar days from `start` (Civil Code: the starting day is not counted; a
        last day on a statutory rest day moves to the next working day; ends at 24:00)."""
        _check_n(n)
        first = _local_date(start)
        last, provisional = self.next_working_day(first + dt.timedelta(days=n))
        return Due(_end_of(last), last, provisional)

    def add_working_days(self, start: dt.datetime | dt.date, n: int) -> Due:
        """A period of `n` working days from `start`: the n-th working day after the starting day (which is
        not counted, even when it is itself a working day); ends at 24:00 of that day. `n` = 0 ends at
        24:00 of the starting day."""
        _check_n(n)
        day = _local_date(start)
        provisional = False
        counted = 0
        while counted < n:
            day += dt.timedelta(days=1)
            provisional = provisional or not self.calendar_known(day.year)
            if self.is_working_day(day):
                counted += 1
        return Due(_end_of(day), day, provisional)

    def working_days_between(self, a: dt.datetime | dt.date, b: dt.datetime | dt.date) -> int:
        """Working days after `a` up to and including `b` (0 when `b` is not after `a`), so that
        `working_days_between(s, add_working_days(s, n).last_day) == n`."""
        first, last = _local_date(a), _local_date(b)
        if last <= first:
            return 0
        if (last - first).days > MAX_DAYS:
            raise ValueError(f"more than {MAX_DAYS} days between the two dates")
        return sum(1 for k in range(1, (last - first).days + 1)
                   if self.is_working_day(first + dt.timedelta(days=k)))


def parse_overrides(data: object, source: str = "override file") -> dict[int, tuple[frozenset, frozenset]]:
    """`{"2027": {"holidays": [...], "workdays": [...]}}` -> {2027: (holidays, workdays)}, checked: ISO
    dates inside their year, no day both a holiday and a workday."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected an object of years")
    result: dict[int, tuple[frozenset, frozenset]] = {}
    for key, entry in data.items():
        if not (isinstance(key, str) and key.isdigit() and len(key) == 4) or not isinstance(entry, dict):
            raise ValueError(f"{source}: {key!r} is not a year with holidays and workdays")
        year = int(key)
        unknown = set(entry) - {"holidays", "workdays", "source"}
        if unknown:
            raise ValueError(f"{source}: {key}: unknown keys {sorted(unknown)}")
        sets = []
        for kind in ("holidays", "workdays"):
            days = set()
            for text in entry.get(kind, []):
                try:
                    day = dt.date.fromisoformat(text)
                except (TypeError, ValueError):
                    raise ValueError(f"{source}: {key} {kind}: {text!r} is not a date (YYYY-MM-DD)") from None
                if day.year != year:
                    raise ValueError(f"{source}: {key} {kind}: {text} is not in {year}")
                days.add(day)
            sets.append(frozenset(days))
        both = sets[0] & sets[1]
        if both:
            days = sorted(d.isoformat() for d in both)
            raise ValueError(f"{source}: {key}: {days} both holiday and workday")
        result[year] = (sets[0], sets[1])
    return result


def _check_n(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_DAYS:
        raise ValueError(f"a period is a whole number of days from 0 to {MAX_DAYS}")


def _zone() -> ZoneInfo:
    return ZoneInfo(display_timezone())


def _as_date(day: dt.date | dt.datetime) -> dt.date:
    return _local_date(day) if isinstance(day, dt.datetime) else day


def _local_date(start: dt.datetime | dt.date) -> dt.date:
    """A moment's date in the display zone (a naive moment is UTC, the database's); a date as it is."""
    if isinstance(start, dt.datetime):
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
        return start.astimezone(_zone()).date()
    return start


def _end_of(day: dt.date) -> dt.datetime:
    """24:00 of `day` in the display zone, as an aware UTC moment."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=_zone())
    return midnight.astimezone(dt.UTC)


_default: WorkdayCalendar | None = None


def default_calendar() -> WorkdayCalendar:
    """The calendar with the shipped override file (read once per process)."""
    global _default
    if _default is None:
        _default = WorkdayCalendar.from_file(OVERRIDE_FILE)
    return _default


def is_working_day(day: dt.date) -> bool:
    return default_calendar().is_working_day(day)


def calendar_known(year: int) -> bool:
    return default_calendar().calendar_known(year)


def add_working_days(start: dt.datetime | dt.date, n: int) -> Due:
    return default_calendar().add_working_days(start, n)


def add_calendar_days(start: dt.datetime | dt.date, n: int) -> Due:
    return default_calendar().add_calendar_days(start, n)


def working_days_between(a: dt.datetime | dt.date, b: dt.datetime | dt.date) -> int:
    return default_calendar().working_days_between(a, b)
