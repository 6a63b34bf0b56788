"""The working-day calendar (core/workdays.py): the State Council's holidays and adjusted working weekends,
the Civil Code's period rules, provisional answers for a year nobody has published, the override file."""

from __future__ import annotations

import datetime as dt
import json

import chinese_calendar
import pytest

from core import workdays
from core.workdays import WorkdayCalendar

D = dt.date


def test_the_package_knows_2026_and_its_adjusted_weekends():
    year = chinese_calendar.get_workdays(D(2026, 1, 1), D(2026, 12, 31))
    weekend_workdays = [d for d in year if d.weekday() >= 5]
    assert D(2026, 10, 10) in weekend_workdays and D(2026, 2, 14) in weekend_workdays
    for day in weekend_workdays:
        assert workdays.is_working_day(day), day
    assert workdays.calendar_known(2026)


def test_national_day_and_spring_festival_2026_are_not_working_days():
    for k in range(1, 8):
        assert not workdays.is_working_day(D(2026, 10, k))
    assert workdays.is_working_day(D(2026, 10, 8))
    assert workdays.is_working_day(D(2026, 10, 10))  # Saturday, adjusted working day
    for k in (16, 17, 18, 19, 20, 23):  # Spring Festival weekdays off
        assert not workdays.is_working_day(D(2026, 2, k))
    assert not workdays.is_working_day(D(2026, 2, 15))  # an ordinary Sunday
    assert workdays.is_working_day(D(2026, 2, 14))  # Saturday, adjusted working day


def test_working_days_skip_national_day_and_count_the_adjusted_saturday():
    due = workdays.add_working_days(D(2026, 9, 30), 3)
    assert due.last_day == D(2026, 10, 10)  # 8th, 9th, then Saturday the 10th
    assert due.at == dt.datetime(2026, 10, 10, 16, 0, tzinfo=dt.UTC)  # 24:00 Beijing time
    assert not due.provisional
    assert workdays.add_working_days(D(2026, 2, 13), 1).last_day == D(2026, 2, 14)
    assert workdays.add_working_days(D(2026, 2, 14), 1).last_day == D(2026, 2, 24)


def test_the_starting_day_is_not_counted():
    assert workdays.add_working_days(D(2026, 12, 1), 1).last_day == D(2026, 12, 2)
    assert workdays.add_calendar_days(D(2026, 12, 1), 10).last_day == D(2026, 12, 11)
    assert workdays.add_working_days(D(2026, 12, 1), 0).last_day == D(2026, 12, 1)


def test_a_last_day_on_a_holiday_moves_to_the_next_working_day():
    due = workdays.add_calendar_days(D(2026, 9, 21), 10)  # 1 October, National Day
    assert due.last_day == D(2026, 10, 8)
    assert due.at == dt.datetime(2026, 10, 8, 16, 0, tzinfo=dt.UTC)
    assert workdays.add_calendar_days(D(2026, 12, 2), 10).last_day == D(2026, 12, 14)  # Sat 12th -> Mon
    # an adjusted working Saturday is a working day: the period ends on it
    assert workdays.add_calendar_days(D(2026, 9, 30), 10).last_day == D(2026, 10, 10)


def test_a_period_started_on_a_holiday():
    assert workdays.add_working_days(D(2026, 10, 1), 1).last_day == D(2026, 10, 8)
    assert workdays.add_calendar_days(D(2026, 10, 3), 10).last_day == D(2026, 10, 13)


def test_a_moment_counts_from_its_beijing_date():
    # 17:00 UTC on 30 September is 01:00 on 1 October in Beijing: the period starts from the 1st
    moment = dt.datetime(2026, 9, 30, 17, 0, tzinfo=dt.UTC)
    assert workdays.add_calendar_days(moment, 10).last_day == D(2026, 10, 12)  # 11th is a Sunday
    assert workdays.add_working_days(moment, 1).last_day == D(2026, 10, 8)
    before = dt.datetime(2026, 9, 30, 15, 0, tzinfo=dt.UTC)  # 23:00 on the 30th in Beijing
    assert workdays.add_calendar_days(before, 10).last_day == D(2026, 10, 10)


def test_2027_is_provisional_monday_to_friday_never_an_error():
    assert not workdays.calendar_known(2027)
    assert workdays.is_working_day(D(2027, 1, 1))  # a Friday; the real holiday is not yet published
    due = workdays.add_working_days(D(2026, 12, 30), 3)
    assert due.last_day == D(2027, 1, 4) and due.provisional  # 31 Dec, 1 Jan (Fri), then Monday
    assert not workdays.add_working_days(D(2026, 12, 1), 3).provisional
    assert workdays.add_calendar_days(D(2026, 12, 25), 10).provisional


def test_the_override_file_wins_over_the_package(tmp_path):
    path = tmp_path / "cn_workdays.json"
    path.write_text(json.dumps({
        "2027": {"holidays": ["2027-01-01"], "workdays": ["2027-01-09"]},
        "2026": {"holidays": ["2026-12-31"], "workdays": []},
    }))
    calendar = WorkdayCalendar.from_file(path)
    assert calendar.calendar_known(2027)
    assert not calendar.is_working_day(D(2027, 1, 1))
    assert calendar.is_working_day(D(2027, 1, 9))  # a Saturday listed as a working day
    assert not calendar.is_working_day(D(2026, 12, 31))  # the override's 2026 replaces the package's
    assert calendar.is_working_day(D(2026, 10, 1))  # not listed in the override's 2026
    due = calendar.add_working_days(D(2026, 12, 30), 2)  # 31 Dec and 1 Jan off, a weekend, then 4th, 5th
    assert due.last_day == D(2027, 1, 5) and not due.provisional


def test_the_shipped_override_file_is_valid():
    calendar = WorkdayCalendar.from_file(workdays.OVERRIDE_FILE)
    for year in calendar.overrides:
        assert calendar.calendar_known(year)


@pytest.mark.parametrize("data", [
    [], {"27": {}}, {"2027": {"holidays": ["2026-01-01"]}}, {"2027": {"holidays": ["soon"]}},
    {"2027": {"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}}, {"2027": {"rest": []}},
])
def test_a_malformed_override_is_refused(tmp_path, data):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError):
        WorkdayCalendar.from_file(path)


def test_working_days_between_inverts_add_working_days():
    for start in (D(2026, 9, 28), D(2026, 2, 10), D(2026, 12, 28)):
        for n in (0, 1, 3, 10, 30):
            assert workdays.working_days_between(start, workdays.add_working_days(start, n).last_day) == n
    assert workdays.working_days_between(D(2026, 10, 8), D(2026, 10, 1)) == 0


@pytest.mark.parametrize("n", [-1, 1.5, True, 100000])
def test_a_nonsense_period_is_refused(n):
    with pytest.raises(ValueError):
        workdays.add_working_days(D(2026, 1, 1), n)
