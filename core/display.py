"""The one time format, without the web framework: what documents and the command-line client share.

`core.labels` is the version pages use (it finds the request's language); this module takes the language
and the zone as arguments, so `signing.pdf` (which the `ebid` client imports to verify documents) can show
times exactly as pages do without loading Flask. Inside the application, `display_timezone()` reads the
deployment's DISPLAY_TIMEZONE (BABEL_DEFAULT_TIMEZONE); a process that never loaded Flask (the client, an
issuer's own service) gets Beijing time.
"""

from __future__ import annotations

import datetime as dt
import sys
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_LOCALE = "zh_CN"

#: Zones shown by name: (Chinese, English). Any other zone is shown by its offset ("UTC+9").
ZONE_NAMES: dict[str, tuple[str, str]] = {
    "Asia/Shanghai": ("北京时间", "Beijing time"), "Asia/Chongqing": ("北京时间", "Beijing time"),
    "Asia/Harbin": ("北京时间", "Beijing time"), "PRC": ("北京时间", "Beijing time"),
    "Asia/Hong_Kong": ("香港时间", "Hong Kong time"), "Asia/Macau": ("澳门时间", "Macao time"),
    "Asia/Taipei": ("台北时间", "Taipei time"),
    "UTC": ("协调世界时", "UTC"), "Etc/UTC": ("协调世界时", "UTC"),
}


def display_timezone() -> str:
    """The zone times are shown in: the running application's DISPLAY_TIMEZONE, else Beijing time.

    Flask is looked up, not imported: a process that has not loaded it has no application to ask.
    """
    flask = sys.modules.get("flask")
    if flask is not None and flask.has_app_context():
        return str(flask.current_app.config.get("BABEL_DEFAULT_TIMEZONE") or DEFAULT_TIMEZONE)
    return DEFAULT_TIMEZONE


def offset_name(local: dt.datetime) -> str:
    """A zone without a name, by its offset at that moment: "UTC+9", "UTC+5:30", "UTC-3"."""
    offset = local.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def zone_name(tz: str, locale: str, at: dt.datetime | None = None) -> str:
    """The zone's name in `locale`: "北京时间" / "Beijing time", else its offset at `at` ("UTC+9")."""
    names = ZONE_NAMES.get(tz)
    if names is not None:
        return names[0] if locale.lower().startswith("zh") else names[1]
    return offset_name((at or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(tz)))


def format_time(moment: dt.datetime | None, locale: str = DEFAULT_LOCALE, tz: str | None = None, *,
                seconds: bool = False) -> str:
    """The one time format: "2026-12-06 16:30 北京时间" ("…:26 北京时间" with seconds).

    Local date and time in `tz` (default: `display_timezone()`), 24-hour clock, then the zone's name in
    `locale`. A naive time is taken as UTC (the database's). A time the zone cannot show (year 9999) is
    shown in UTC, so named.
    """
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    tz = tz or display_timezone()
    try:
        local = moment.astimezone(ZoneInfo(tz))
    except (OverflowError, ValueError):  # a time stored before the range check (core.validation)
        return f"{moment.astimezone(dt.UTC).strftime(pattern)} UTC"
    return f"{local.strftime(pattern)} {zone_name(tz, locale, at=local)}"
