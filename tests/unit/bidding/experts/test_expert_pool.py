"""The pool: adding and changing experts, availability, and CSV import with its report of rejected rows."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select

from bidding.experts import pool
from bidding.experts.models import Expert
from core.extensions import db
from core.models import Role
from core.validation import ValidationError
from signing.models import LogEntry
from tests import factories
from tests.unit.bidding.experts.expert_builders import admin, employer, expert

HEADER = ("username,display_name,region,specialties,employer_credit_code,title,relations,unavailable,"
          "available\n")


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Expert))


def _log(event: str) -> list[dict]:
    query = select(LogEntry).where(LogEntry.event == event).order_by(LogEntry.index)
    return [json.loads(e.body) for e in db.session.scalars(query)]


def test_adding_and_changing_an_expert_is_logged_without_their_name(session):
    actor = admin()
    work = employer()
    made = expert(actor, employer_=work, specialties=["a01", "D01", "A01"], title="高级工程师")
    assert made.specialty_codes == ["A01", "D01"] and made.employer is work and made.active
    changed = pool.update_expert(actor, made, {"region": "110101", "active": False,
                                               "relations": [{"credit_code": work.credit_code.lower(),
                                                              "kind": "shareholder"}]})
    assert changed == ["active", "region", "relations"]
    assert made.relations[0].credit_code == work.credit_code and not made.active
    added, updated = _log("expert.added")[-1], _log("expert.updated")[-1]
    assert added["subject"] == {"expert": made.id} and updated["data"]["fields"] == changed
    assert updated["data"]["state_sha256"] == pool.state_sha256(made) != added["data"]["state_sha256"]
    text = json.dumps([added, updated], ensure_ascii=False)
    assert made.user.display_name not in text and made.user.username not in text


@pytest.mark.parametrize(("data", "field"), [
    ({"specialties": []}, "specialties"),
    ({"specialties": ["Q9"]}, "specialties"),
    ({"region": "35010"}, "region"),
    ({"employer": "91350100M000100Y3X"}, "employer"),
    ({"relations": [{"credit_code": "123", "kind": "other"}]}, "relations[0].credit_code"),
    ({"relations": [{"credit_code": None, "kind": "cousin"}]}, "relations[0].credit_code"),
    ({"availability": [{"kind": "unavailable", "starts_on": "2026-12-05", "ends_on": "2026-12-01"}]},
     "availability[0].ends_on"),
    ({"availability": [{"kind": "sometimes", "starts_on": "2026-12-05"}]}, "availability[0].kind"),
    ({"shoe_size": 42}, "shoe_size"),
    ({"username": "other"}, "username"),
])
def test_bad_changes_name_the_field_and_change_nothing(session, data, field):
    actor = admin()
    made = expert(actor)
    session.commit()
    before = pool.state_sha256(made)
    with pytest.raises(ValidationError) as caught:
        pool.update_expert(actor, made, data)
    assert caught.value.field == field
    db.session.rollback()
    assert pool.state_sha256(db.session.get(Expert, made.id)) == before


def test_an_unregistered_employer_code_is_refused(session):
    code = factories.organisation().credit_code
    db.session.rollback()
    with pytest.raises(ValidationError, match="register the employer first"):
        expert(admin(), employer_=None, employer=code)


def test_a_non_expert_user_cannot_join_the_pool(session):
    bidder = factories.user(Role.BIDDER)
    with pytest.raises(ValidationError, match="not expert"):
        pool.add_expert(admin(), {"username": bidder.username, "region": "350100", "specialties": ["A01"]})


def test_availability_windows():
    made = Expert(availability=[])
    from bidding.experts.models import ExpertAvailability

    day = dt.date(2026, 12, 1)
    assert pool.available_on(made, day)
    made.availability = [ExpertAvailability(kind="available", starts_on=dt.date(2026, 12, 3),
                                            ends_on=dt.date(2026, 12, 9))]
    assert not pool.available_on(made, day) and pool.available_on(made, dt.date(2026, 12, 9))
    made.availability.append(ExpertAvailability(kind="unavailable", starts_on=dt.date(2026, 12, 5),
                                                ends_on=dt.date(2026, 12, 5)))
    assert not pool.available_on(made, dt.date(2026, 12, 5)) and pool.available_on(made, dt.date(2026, 12, 6))


def test_import_adds_good_rows_and_reports_each_bad_one(session):
    actor = admin()
    work, related = employer(), employer()
    existing = factories.user(Role.BIDDER)
    unregistered = "91350100M000100Y3X"
    rows = [
        f"zhang.wei,张伟,350100,A01;D01,{work.credit_code},高级工程师,{related.credit_code}:former_employer,"
        "2026-12-01..2026-12-05;2027-01-10,",                                  # 2: good
        f"li.na,李娜,3501,A01,{work.credit_code},,,,",                           # 3: region
        "wang.fang,王芳,350100,X99,,,,,",                                        # 4: specialty
        f"zhao.lei,赵磊,350100,A01,{unregistered},,,,",                          # 5: employer not registered
        "zhang.wei,张伟二,350100,A01,,,,,",                                       # 6: repeated username
        f"{existing.username},某人,350100,A01,,,,,",                              # 7: a bidder's account
        "chen.jie,陈杰,350100,B01,,,ABC:other,,",                                 # 8: relation code
        "liu.yang,刘洋,350100,C02,,,,2026-12-09..2026-12-01,",                    # 9: backwards range
        "sun.li,孙丽,350100,D02,,,,,,extra",                                     # 10: too many cells
        "zhou.min,周敏,110101,C01,,教授,,,2026-12-01..2026-12-31",               # 11: good
    ]
    report = pool.import_csv(actor, (HEADER + "\n".join(rows) + "\n").encode(), filename="pool.csv")
    rejected = {(r["row"], r["column"]) for r in report.rejected}
    assert rejected == {(3, "region"), (4, "specialties"), (5, "employer_credit_code"), (6, "username"),
                        (7, "username"), (8, "relations"), (9, "unavailable/available"), (10, None)}
    assert all(r["reason"] for r in report.rejected)
    assert report.rows == 10 and [a["row"] for a in report.added] == [2, 11]
    assert all(a["initial_password"] for a in report.added)
    zhang = db.session.get(Expert, report.added[0]["expert"])
    assert zhang.specialty_codes == ["A01", "D01"] and zhang.employer is work and zhang.title == "高级工程师"
    assert [(r.credit_code, r.kind.value) for r in zhang.relations] == [
        (related.credit_code, "former_employer")]
    assert [(a.starts_on.isoformat(), a.ends_on.isoformat()) for a in zhang.availability] == [
        ("2026-12-01", "2026-12-05"), ("2027-01-10", "2027-01-10")]
    summary = _log("expert.imported")[-1]["data"]
    assert summary["rows"] == 10 and len(summary["imported"]) == 2 and len(summary["rejected"]) == 8
    # a new account can sign in with the reported password
    from core.accounts import authenticate

    assert authenticate("zhang.wei", report.added[0]["initial_password"]).role == Role.EXPERT


def test_import_reads_gb18030_and_excel_bom(session):
    body = (HEADER + "qian.hao,钱浩,350100,A02,,,,,\n")
    assert pool.import_csv(admin(), body.encode("gb18030")).added
    assert pool.import_csv(admin(), ("\ufeff" + HEADER + "wu.di,吴迪,350100,A02,,,,,\n").encode()).added


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "empty"),
    (b"\n\n", "empty"),
    (b"username,display_name,region\nx,y,350100\n", "lacks the column(s) specialties, employer_credit_code"),
    ((HEADER.strip() + ",shoe_size\n").encode(), "unknown column(s) in the header: shoe_size"),
    ((HEADER.strip() + ",region\n").encode(), "appear twice"),
    (HEADER.encode() + b'"unterminated,x,350100,A01,,,,,\n', "not valid CSV"),
    (b"\x00\x01\x02" * 50, "NUL"),
])
def test_a_file_of_the_wrong_structure_is_refused_whole(session, raw, message):
    before = _count()
    entries = db.session.scalar(select(func.count()).select_from(LogEntry))
    good_row = b"ok.row,\xe5\xa5\xbd,350100,A01,,,,,\n"
    with pytest.raises(ValidationError, match=re.escape(message)) as caught:
        pool.import_csv(admin(), raw + (good_row if raw.startswith(b"username") else b""))
    assert caught.value.field == "file"
    db.session.rollback()
    assert _count() == before
    assert db.session.scalar(select(func.count()).select_from(LogEntry)) == entries


def test_the_demo_pool(session):
    from app.demo_experts import EXPERTS, seed_experts

    for username in EXPERTS:
        factories.user(Role.EXPERT, username=username)
    actor = admin()
    logins = seed_experts(actor=actor, extra=2)
    assert [x["username"] for x in logins] == ["expert6", "expert7"]
    experts = db.session.scalars(select(Expert).order_by(Expert.id)).all()[-7:]
    assert [e.user.username for e in experts] == [*EXPERTS, "expert6", "expert7"]
    assert len({e.employer_id for e in experts}) == 7
    before = _count()
    assert seed_experts(actor=actor, extra=2) == [] and _count() == before
