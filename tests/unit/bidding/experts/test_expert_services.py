"""Draws against the database: conflicts ruled out, refusals naming the constraint, answers, backups, the
supplementary draw, and revealing the names."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from bidding.experts import draw as drawing
from bidding.experts import services
from bidding.experts.models import MemberStatus, PanelState
from core.errors import Refused
from core.models import Role
from core.orm import utcnow
from core.validation import ValidationError
from signing.models import LogEntry
from tests import factories
from tests.unit.bidding.experts.expert_builders import admin, closed_tender, employer, expert, pool_of

DAY = (utcnow() + dt.timedelta(days=3)).date().isoformat()


@pytest.fixture
def setup(session):
    office = factories.user(Role.TENDERING_OFFICE)
    bidders = [employer() for _ in range(3)]
    tender = closed_tender(office, bidders)
    return type("Setup", (), {"office": office, "bidders": bidders, "tender": tender, "admin": admin()})


def _ask(setup, count=3, backups=1, specialties=("A01",), **extra):
    return services.request_draw(setup.tender, setup.office,
                                 {"specialties": list(specialties), "count": count, "backups": backups,
                                  "evaluation_date": DAY, **extra})


def _entries(event: str) -> list[dict]:
    return [json.loads(e.body) for e in
            __import__("core.extensions", fromlist=["db"]).db.session.scalars(
                select(LogEntry).where(LogEntry.event == event).order_by(LogEntry.index))]


def test_a_draw_publishes_a_record_that_recomputes_and_logs_its_hash(setup):
    pool_of(setup.admin, 8)
    made = _ask(setup)
    panel = made.panel
    assert panel.state == PanelState.FORMING and panel.seats == 3
    assert [m.status for m in panel.members] == [MemberStatus.DRAWN] * 3 + [MemberStatus.BACKUP]
    result = drawing.recompute(made.record)
    assert result.matches, result.mismatches
    assert [p.pseudonym for p in result.picks] == [m.pseudonym for m in panel.members]
    entry = _entries("panel.drawn")[-1]
    assert entry["index"] == made.log_index
    assert entry["data"]["record_sha256"] == drawing.record_sha256(made.record)
    assert entry["data"]["picks"] == made.record["picks"]
    # the seed comes from the close checkpoint's root
    close = services.close_point(setup.tender)
    assert made.record["close"] == close
    assert made.record["close"]["log_index"] == _entries("tender.closed")[-1]["index"]
    # nothing names an expert in the record
    text = json.dumps(made.record, ensure_ascii=False)
    assert all(m.expert.user.display_name not in text and m.expert.user.username not in text
               for m in panel.members)


def _refusal(setup, match: str, **kw):
    with pytest.raises(Refused, match=match) as caught:
        _ask(setup, **kw)
    assert caught.value.code == "pool_exhausted"
    return caught.value.message


def test_experts_employed_by_a_bidder_or_the_tenderee_are_kept_off(setup):
    pool_of(setup.admin, 2)
    expert(setup.admin, employer_=setup.bidders[0])
    expert(setup.admin, employer_=setup.tender.tendering_office)
    message = _refusal(setup, "'employer is a bidder or the tenderee'")
    assert "needs 4 experts (3 + 1 backups)" in message and "only 2 remain" in message
    expert(setup.admin, employer_=employer())
    expert(setup.admin, employer_=employer())
    made = _ask(setup)
    assert made.record["pool"]["excluded"]["employer_interested"] == 2
    conflicted = {m.expert.employer_id for m in made.panel.members}
    assert setup.bidders[0].id not in conflicted and setup.tender.tendering_office_id not in conflicted


def test_declared_relations_with_a_bidder_keep_the_expert_off(setup):
    pool_of(setup.admin, 3)
    expert(setup.admin, employer_=employer(),
           relations=[{"credit_code": setup.bidders[1].credit_code, "kind": "former_employer"}])
    _refusal(setup, "'declared_relation' ran out")


def test_a_recent_panel_of_the_same_tenderee_keeps_the_expert_off(setup):
    experts = pool_of(setup.admin, 4)
    first = _ask(setup, count=4, backups=0)
    for member in first.panel.members:
        services.accept(member, member.expert.user, {"coi": dict.fromkeys(services.coi_items(), True)})
    assert first.panel.state == PanelState.CONSTITUTED
    other = closed_tender(setup.office, [employer() for _ in range(3)])
    with pytest.raises(Refused, match="'recent_panel' ran out"):
        services.request_draw(other, setup.office, {"specialties": ["A01"], "count": 1,
                                                    "evaluation_date": DAY})
    # another tenderee is not concerned, and past the period the rule lapses
    stranger = factories.user(Role.TENDERING_OFFICE)
    theirs = closed_tender(stranger, [employer()])
    assert services.request_draw(theirs, stranger, {"specialties": ["A01"], "count": 4,
                                                    "evaluation_date": DAY})
    later = utcnow() + dt.timedelta(days=services.DEFAULT_RECENT_DAYS + 1)
    later_day = (later.date() + dt.timedelta(days=1)).isoformat()
    made = services.request_draw(other, setup.office, {"specialties": ["A01"], "count": 4,
                                                       "evaluation_date": later_day}, now=later)
    assert {m.expert_id for m in made.panel.members} == {e.id for e in experts}


def test_unavailability_and_available_windows(setup):
    day = dt.date.fromisoformat(DAY)
    pool_of(setup.admin, 3)
    expert(setup.admin, employer_=employer(), availability=[
        {"kind": "unavailable", "starts_on": (day - dt.timedelta(days=1)).isoformat(),
         "ends_on": (day + dt.timedelta(days=1)).isoformat()}])
    expert(setup.admin, employer_=employer(), availability=[
        {"kind": "available", "starts_on": (day + dt.timedelta(days=5)).isoformat(),
         "ends_on": (day + dt.timedelta(days=9)).isoformat()}])
    _refusal(setup, "'unavailable on the evaluation date': the constraint 'unavailable' ran out")
    expert(setup.admin, employer_=employer(), availability=[
        {"kind": "available", "starts_on": DAY, "ends_on": DAY}])
    made = _ask(setup)
    assert made.record["pool"]["excluded"]["unavailable"] == 2


def test_at_most_one_expert_per_employer(setup):
    shared = employer()
    pool_of(setup.admin, 2)
    expert(setup.admin, employer_=shared)
    expert(setup.admin, employer_=shared)
    _refusal(setup, "work for only 3 different employers: the constraint 'at most one expert per employer'")
    expert(setup.admin, employer_=employer())
    made = _ask(setup)
    employers = [m.expert.employer_id for m in made.panel.members]
    assert len(set(employers)) == 4


def test_a_pool_without_the_specialty_names_it(setup):
    pool_of(setup.admin, 5, specialties=["B01"])
    _refusal(setup, "the pool has only 0 experts with these specialties: the constraint 'specialty' ran out")


def test_a_parent_code_takes_experts_of_its_specialties(setup):
    pool_of(setup.admin, 2, specialties=["A02"])
    pool_of(setup.admin, 2, specialties=["A04"])
    made = _ask(setup, specialties=("A",))
    assert len(made.panel.members) == 4


def test_regions_restrict_the_candidates(setup):
    pool_of(setup.admin, 3, region="350100")
    pool_of(setup.admin, 3, region="110101")
    _refusal(setup, "'region' ran out", regions=["11"])
    made = _ask(setup, count=2, regions=["11"])
    assert {m.expert.region for m in made.panel.members} == {"110101"}


@pytest.mark.parametrize(("data", "field"), [
    ({"specialties": ["ZZ"], "count": 1}, "specialties"),
    ({"specialties": ["A01"], "count": 0}, "count"),
    ({"specialties": ["A01"], "count": 30}, "count"),
    ({"specialties": ["A01"], "count": 1, "backups": -1}, "backups"),
    ({"specialties": ["A01"], "count": 1, "lot": 9}, "lot"),
    ({"specialties": ["A01"], "count": 1, "evaluation_date": "2020-01-01"}, "evaluation_date"),
    ({"specialties": ["A01"], "count": 1, "evaluation_date": "soon"}, "evaluation_date"),
    ({"specialties": ["A01"], "count": 1, "regions": ["3"]}, "regions"),
])
def test_bad_requests_name_the_field(setup, data, field):
    pool_of(setup.admin, 2)
    with pytest.raises(ValidationError) as caught:
        services.request_draw(setup.tender, setup.office, {"evaluation_date": DAY, **data})
    assert caught.value.field == field


def test_only_after_the_close_and_only_once(setup, session):
    pool_of(setup.admin, 6)
    draft = factories.tender(setup.office)
    with pytest.raises(Refused, match="after the close"):
        services.request_draw(draft, setup.office, {"specialties": ["A01"], "count": 1,
                                                    "evaluation_date": DAY})
    _ask(setup, count=1, backups=0)
    with pytest.raises(Refused, match="already drawn"):
        _ask(setup, count=1, backups=0)
    with pytest.raises(Refused, match="only the tendering office"):
        services.request_draw(setup.tender, factories.user(Role.TENDERING_OFFICE),
                              {"specialties": ["A01"], "count": 1, "lot": 1, "evaluation_date": DAY})


ALL_YES = {"coi": dict.fromkeys(["no_employment", "no_interest", "no_involvement", "no_other_conflict",
                                 "confidentiality"], True)}


def test_answers_backups_shortage_supplementary_draw_and_reveal(setup):
    pool_of(setup.admin, 7)
    made = _ask(setup, count=2, backups=1)
    panel = made.panel
    first, second, backup = panel.members
    # only the drawn expert answers, and only with every statement item confirmed
    with pytest.raises(Refused, match="only the drawn expert"):
        services.accept(first, second.expert.user, ALL_YES)
    with pytest.raises(ValidationError, match="confirm every item") as caught:
        services.accept(first, first.expert.user, {"coi": {**ALL_YES["coi"], "no_interest": False}})
    assert caught.value.field == "coi.no_interest"
    with pytest.raises(Refused, match="backup"):
        services.accept(backup, backup.expert.user, ALL_YES)
    services.accept(first, first.expert.user, ALL_YES)
    assert first.status == MemberStatus.ACCEPTED and first.accepted_at and first.coi_flags["no_interest"]
    with pytest.raises(Refused, match="accepted"):
        services.decline(first, first.expert.user, {"reason": "changed my mind"})
    with pytest.raises(ValidationError) as caught:
        services.decline(second, second.expert.user, {"reason": " "})
    assert caught.value.field == "reason"
    called = services.decline(second, second.expert.user, {"reason": "我是投标人的前雇员"})
    assert called is backup and backup.status == MemberStatus.DRAWN and backup.replaces_id == second.id
    assert second.status == MemberStatus.DECLINED
    # an accepted member replaced by the office, with no backup left: the panel is short
    assert services.replace(first, setup.office, {"reason": "conflict found"}) is None
    assert panel.state == PanelState.SHORT and services.vacant_seats(panel) == [first]
    with pytest.raises(ValidationError, match="must add up to 1"):
        _ask(setup, count=2, backups=0)
    more = _ask(setup, count=1, backups=1)
    assert more.number == 2 and panel.state == PanelState.FORMING
    assert drawing.recompute(more.record).matches
    fresh = [m for m in panel.members if m.draw_id == more.id]
    assert fresh[0].replaces_id == first.id and fresh[0].status == MemberStatus.DRAWN
    assert {m.expert_id for m in fresh}.isdisjoint({first.expert_id, second.expert_id, backup.expert_id})
    services.accept(backup, backup.expert.user, ALL_YES)
    services.accept(fresh[0], fresh[0].expert.user, ALL_YES)
    assert panel.state == PanelState.CONSTITUTED
    events = [e["event"] for e in _entries_all()]
    for event in ("panel.drawn", "panel.accepted", "panel.declined", "panel.backup_called",
                  "panel.member_replaced", "panel.short", "panel.constituted"):
        assert event in events
    # entries about experts' own acts name the pseudonym, not the person, and no address
    for entry in _entries("panel.accepted") + _entries("panel.declined"):
        assert entry["actor"] is None and entry["ip"] is None and len(entry["data"]["pseudonym"]) == 64
    assert "前雇员" not in json.dumps(_entries("panel.declined"), ensure_ascii=False)

    # names are hidden until revealed; the reveal proves each pseudonym
    assert "expert" not in services.panel_json(panel, setup.office)["members"][0]
    published = services.reveal_panel(setup.tender.id)
    assert services.reveal_panel(setup.tender.id) == published
    assert len(_entries("panel.revealed")) == 1
    shown = services.panel_json(panel, None)["members"]
    assert {m["expert"]["name"] for m in shown} == {m.expert.user.display_name for m in panel.members}
    for item in published[0]["members"]:
        assert drawing.pseudonym(bytes.fromhex(item["nonce"]), item["expert"]) == item["pseudonym"]
    salts = {d["draw"]: bytes.fromhex(d["employer_salt"]) for d in published[0]["draws"]}
    for item in published[0]["members"]:
        record = made.record if item["draw"] == 1 else more.record
        token = next(c["employer"] for c in record["candidates"] if c["pseudonym"] == item["pseudonym"])
        assert token == drawing.employer_token(salts[item["draw"]], item["employer_credit_code"])


def _entries_all() -> list[dict]:
    from core.extensions import db

    return [json.loads(e.body) for e in db.session.scalars(select(LogEntry).order_by(LogEntry.index))]


def test_supervisors_see_names_before_the_reveal(setup):
    pool_of(setup.admin, 3)
    panel = _ask(setup, count=1, backups=0).panel
    supervisor = factories.user(Role.SUPERVISOR)
    assert "expert" in services.panel_json(panel, supervisor)["members"][0]
    bidder = factories.user(Role.BIDDER, organisation_=setup.bidders[0])
    assert "expert" not in services.panel_json(panel, bidder)["members"][0]
