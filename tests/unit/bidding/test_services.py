"""Tender services: creation and its validation, publication, amendment, cancellation, reading."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bidding import services
from bidding.lifecycle import TenderState
from bidding.models import Amendment, Criterion, EvaluationMethod, Lot, Tender
from core.errors import Refused
from core.models import Role
from core.orm import utcnow
from core.validation import ValidationError
from tests import factories

DAY = dt.timedelta(days=1)


def publish(tender: Tender, *, now: dt.datetime) -> Tender:
    """Publish a draft once what publication needs besides the tender (its opening key) is there."""
    factories.opening_key(tender)
    return services.publish(tender, actor=tender.created_by, now=now)


def rows(session) -> tuple[int, int, int, int]:
    """How many tenders, lots, criteria and amendments there are."""
    return tuple(session.scalar(select(func.count()).select_from(model))  # type: ignore[return-value]
                 for model in (Tender, Lot, Criterion, Amendment))


@pytest.fixture
def office(session):
    return factories.user(Role.TENDERING_OFFICE)


@pytest.fixture
def now():
    return utcnow().replace(microsecond=0)


# -- creating ------------------------------------------------------------------------------------


def test_create_makes_a_draft_with_one_lot_when_none_given(session, office, now):
    tender = factories.tender(office, now=now)
    assert tender.state is TenderState.DRAFT
    assert tender.published_at is None
    assert tender.tendering_office_id == office.organisation_id
    assert tender.created_by is office
    assert tender.reference.startswith(f"ZB{now:%Y%m%d}-")
    assert [(lot.number, lot.title, lot.estimated_amount) for lot in tender.lots] == [
        (1, "闽江路改造工程", Decimal("1000000.00"))]
    assert [(c.position, c.name, c.weight) for c in tender.criteria] == [
        (1, "价格", Decimal("40")), (2, "技术", Decimal("60"))]
    assert tender.estimated_price.amount == Decimal("1000000.00")
    assert tender.currency == "CNY"
    assert tender.evaluation_method is EvaluationMethod.COMPREHENSIVE_SCORING
    # No opening time given: the opening is at the deadline.
    assert tender.opening_time == tender.submission_deadline
    assert rows(session)[:3] == (1, 1, 2)


def test_create_with_lots_that_sum_to_the_estimate(session, office, now):
    tender = factories.tender(office, now=now, lots=[{"title": "一标段", "estimated_price": "600000"},
                                                     {"title": "二标段", "estimated_price": "400000.00"}])
    assert [(lot.number, lot.title, lot.estimated_amount) for lot in tender.lots] == [
        (1, "一标段", Decimal("600000.00")), (2, "二标段", Decimal("400000.00"))]


def test_only_tendering_offices_create_tenders(session, now):
    bidder = factories.user(Role.BIDDER)
    before = rows(session)
    with pytest.raises(Refused) as refused:
        factories.tender(bidder, now=now)
    assert refused.value.status == 403
    assert rows(session) == before


def _deadline(now: dt.datetime, days: float) -> str:
    return (now + dt.timedelta(days=days)).isoformat()


BAD_INPUT = {
    "lots not summing to the estimate": (
        {"lots": [{"title": "一标段", "estimated_price": "400000"},
                  {"title": "二标段", "estimated_price": "500000"}]},
        "lots", "add up to 900000.00"),
    "weights not summing to 100": (
        {"criteria": [{"name": "价格", "category": "price", "weight": "40", "max_score": "40"},
                      {"name": "技术", "category": "technical", "weight": "50", "max_score": "60"}]},
        "criteria", "sum to 100, not 90"),
    "weights over 100": (
        {"criteria": [{"name": "价格", "category": "price", "weight": "60", "max_score": "40"},
                      {"name": "技术", "category": "technical", "weight": "60", "max_score": "60"}]},
        "criteria", "sum to 100, not 120"),
    "no criteria": ({"criteria": []}, "criteria", "at least one"),
    "negative estimate": ({"estimated_price": "-1000000.00"}, "estimated_price", "cannot be negative"),
    "zero estimate": ({"estimated_price": "0"}, "estimated_price", "more than zero"),
    "negative deposit": ({"deposit_amount": "-1"}, "deposit_amount", "cannot be negative"),
    "estimate with three decimals": ({"estimated_price": "1000000.001"}, "estimated_price",
                                     "two decimal places"),
    "deposit with three decimals": ({"deposit_amount": "100.005"}, "deposit_amount", "two decimal places"),
    "estimate as a float": ({"estimated_price": 1000000.0}, "estimated_price", "not a floating-point number"),
    "deposit as a float": ({"deposit_amount": 100.5}, "deposit_amount", "not a floating-point number"),
    "lot price with three decimals": (
        {"lots": [{"title": "一标段", "estimated_price": "999999.999"}]}, "lots[0].estimated_price",
        "two decimal"),
    "weight as a float": (
        {"criteria": [{"name": "价格", "category": "price", "weight": 100.0, "max_score": "40"}]},
        "criteria[0].weight", "float"),
    "deposit over the 2% cap": ({"deposit_amount": "20000.01"}, "deposit_amount", "may not exceed 2%"),
    "unknown evaluation method": ({"evaluation_method": "auction"}, "evaluation_method",
                                  "unknown value 'auction'"),
    "unknown currency": ({"currency": "RMB"}, "currency", "RMB"),
    "unknown criterion category": (
        {"criteria": [{"name": "价格", "category": "beauty", "weight": "100", "max_score": "40"}]},
        "criteria[0].category", "beauty"),
    "deadline without offset": ({"submission_deadline": "2099-01-01T09:00:00"}, "submission_deadline",
                                "offset"),
    "bad region": ({"region": "35"}, "region", "six digits"),
    "no title": ({"title": "  "}, "title", "required"),
    "validity of zero days": ({"bid_validity_days": 0}, "bid_validity_days", "at least 1"),
}


@pytest.mark.parametrize("overrides, field, message", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_names_the_field_and_writes_nothing(session, office, now, overrides, field, message):
    before = rows(session)
    with pytest.raises(ValidationError) as refused:
        factories.tender(office, now=now, **overrides)
    assert refused.value.field == field
    assert message in refused.value.message
    session.flush()
    assert rows(session) == before


@pytest.mark.parametrize("days, message", [(-1, "must be in the future"), (-1 / 24, "must be in the future"),
                                           (19, "at least 20 days"), (20 - 1 / 24, "at least 20 days")])
def test_deadline_in_the_past_or_too_soon_is_refused(session, office, now, days, message):
    before = rows(session)
    with pytest.raises(ValidationError) as refused:
        factories.tender(office, now=now, submission_deadline=_deadline(now, days))
    assert refused.value.field == "submission_deadline"
    assert message in refused.value.message
    assert rows(session) == before


def test_deadline_at_exactly_the_minimum_period_is_accepted(session, office, now, app):
    earliest = now + app.config["MIN_BIDDING_PERIOD"]
    tender = factories.tender(office, now=now, submission_deadline=earliest.isoformat())
    assert tender.submission_deadline == now + dt.timedelta(days=20)


def test_the_minimum_period_comes_from_configuration(session, office, now, app, monkeypatch):
    monkeypatch.setitem(app.config, "MIN_BIDDING_PERIOD", dt.timedelta(days=40))
    with pytest.raises(ValidationError, match="at least 40 days"):
        factories.tender(office, now=now, submission_deadline=_deadline(now, 30))


def test_opening_before_the_deadline_is_refused(session, office, now):
    with pytest.raises(ValidationError) as refused:
        factories.tender(office, now=now, opening_time=_deadline(now, 29))
    assert refused.value.field == "opening_time"


def test_deposit_at_the_cap_is_accepted(session, office, now):
    tender = factories.tender(office, now=now, deposit_amount="20000.00")
    assert tender.deposit_amount == Decimal("20000.00")


def test_update_draft_replaces_lots_and_criteria(session, office, now):
    tender = factories.tender(office, now=now)
    services.update_draft(tender, factories.tender_data(
        now, title="新标题", estimated_price="500000", deposit_amount="0",
        lots=[{"title": "甲", "estimated_price": "200000"}, {"title": "乙", "estimated_price": "300000"}],
        criteria=[{"name": "价格", "category": "price", "weight": "100", "max_score": "100"}]), now=now)
    session.expire_all()
    tender = session.get(Tender, tender.id)
    assert tender.title == "新标题"
    assert [lot.title for lot in tender.lots] == ["甲", "乙"]
    assert [c.name for c in tender.criteria] == ["价格"]
    assert rows(session)[1:3] == (2, 1)


def test_update_draft_with_bad_input_changes_nothing(session, office, now):
    tender = factories.tender(office, now=now)
    session.commit()
    with pytest.raises(ValidationError) as refused:
        services.update_draft(tender, factories.tender_data(now, title="新标题", estimated_price="-1"),
                              now=now)
    assert refused.value.field == "estimated_price"
    session.rollback()
    assert session.get(Tender, tender.id).title == "闽江路改造工程"
    assert rows(session)[:3] == (1, 1, 2)


# -- publishing, amending, cancelling ------------------------------------------------------------


def test_publish_sets_state_and_published_at(session, office, now):
    tender = factories.tender(office, now=now)
    publish(tender, now=now + DAY)
    assert tender.state is TenderState.PUBLISHED
    assert tender.published_at == now + DAY
    assert tender.is_public
    session.expire_all()
    assert session.get(Tender, tender.id).published_at == now + DAY


def test_publish_rechecks_the_minimum_period(session, office, now):
    tender = factories.tender(office, now=now, submission_deadline=_deadline(now, 25))
    with pytest.raises(ValidationError, match="at least 20 days") as refused:
        publish(tender, now=now + 6 * DAY)
    assert refused.value.field == "submission_deadline"
    assert tender.state is TenderState.DRAFT
    assert tender.published_at is None


def test_editing_a_published_tender_needs_an_amendment(session, office, now):
    tender = factories.tender(office, publish=True, now=now)
    with pytest.raises(Refused) as refused:
        services.update_draft(tender, factories.tender_data(now, title="偷改"), now=now)
    assert refused.value.code == "amendment_required"
    assert refused.value.status == 409
    assert tender.title == "闽江路改造工程"


def test_amend_records_reason_and_changes(session, office, now):
    tender = factories.tender(office, publish=True, now=now)
    deadline = tender.submission_deadline
    data = {"reason": "更正标题笔误",
            "changes": {"title": "闽江路改造工程（更正）", "deposit_amount": "10000"}}
    amendment = services.amend(tender, office, data, now=now + DAY)
    assert amendment.number == 1
    assert amendment.reason == "更正标题笔误"
    assert amendment.changes == {"title": {"from": "闽江路改造工程", "to": "闽江路改造工程（更正）"},
                                 "deposit_amount": {"from": "20000.00", "to": "10000.00"}}
    assert amendment.deadline_extended is False
    assert amendment.created_by_id == office.id
    assert tender.title == "闽江路改造工程（更正）"
    assert tender.submission_deadline == deadline
    assert tender.state is TenderState.PUBLISHED
    second = services.amend(tender, office, {"reason": "澄清"}, now=now + 2 * DAY)
    assert second.number == 2 and second.changes == {}
    assert rows(session)[3] == 2


def test_amend_close_to_the_deadline_moves_deadline_and_opening(session, office, now, app):
    tender = factories.tender(office, publish=True, now=now,
                              opening_time=_deadline(now, 31))
    deadline, opening = tender.submission_deadline, tender.opening_time
    when = now + 20 * DAY  # ten days before the deadline; the notice period is fifteen
    data = {"reason": "调整技术要求", "changes": {"description": "新要求"}}
    amendment = services.amend(tender, office, data, now=when)
    notice = app.config["MIN_AMENDMENT_NOTICE"]
    assert notice == dt.timedelta(days=15)
    assert amendment.deadline_extended is True
    assert tender.submission_deadline == when + notice
    assert tender.opening_time == opening + (when + notice - deadline)
    assert tender.opening_time - tender.submission_deadline == opening - deadline
    assert amendment.changes["submission_deadline"] == {"from": deadline.isoformat(),
                                                        "to": (when + notice).isoformat()}
    assert set(amendment.changes) == {"description", "submission_deadline", "opening_time"}


def test_amend_with_enough_notice_leaves_the_deadline(session, office, now):
    tender = factories.tender(office, publish=True, now=now)
    deadline = tender.submission_deadline
    amendment = services.amend(tender, office, {"reason": "澄清"}, now=now + 15 * DAY)  # exactly 15 days left
    assert amendment.deadline_extended is False
    assert tender.submission_deadline == deadline


@pytest.mark.parametrize("data, field", [
    ({"changes": {"title": "新"}}, "reason"),
    ({"reason": " ", "changes": {}}, "reason"),
    ({"reason": "x", "changes": {"estimated_price": "1"}}, "changes.estimated_price"),
    ({"reason": "x", "changes": {"deposit_amount": "-1"}}, "changes.deposit_amount"),
    ({"reason": "x", "changes": {"deposit_amount": "50000"}}, "changes.deposit_amount"),
    ({"reason": "x", "changes": {"submission_deadline": "2000-01-01T00:00:00+08:00"}},
     "changes.submission_deadline"),
    ({"reason": "x", "changes": {"opening_time": "2000-01-01T00:00:00+08:00"}}, "changes.opening_time"),
    ({"reason": "x", "changes": ["title"]}, "changes"),
])
def test_bad_amendments_are_refused_and_change_nothing(session, office, now, data, field):
    tender = factories.tender(office, publish=True, now=now)
    before = (tender.title, tender.submission_deadline, tender.deposit_amount, rows(session))
    with pytest.raises(ValidationError) as refused:
        services.amend(tender, office, data, now=now + DAY)
    assert refused.value.field == field
    assert (tender.title, tender.submission_deadline, tender.deposit_amount, rows(session)) == before


def test_amendment_cannot_pull_the_deadline_inside_the_notice_period(session, office, now):
    tender = factories.tender(office, publish=True, now=now)
    with pytest.raises(ValidationError, match="minimum notice") as refused:
        data = {"reason": "提前", "changes": {"submission_deadline": _deadline(now, 10)}}
        services.amend(tender, office, data, now=now + DAY)
    assert refused.value.field == "changes.submission_deadline"


def test_cancel_records_the_reason(session, office, now):
    tender = factories.tender(office, publish=True, now=now)
    services.cancel(tender, "  项目取消  ", now=now + DAY)
    assert tender.state is TenderState.CANCELLED
    assert tender.cancel_reason == "项目取消"
    assert tender.cancelled_at == now + DAY


@pytest.mark.parametrize("reason", [None, "", "   ", 42, "x" * 4001])
def test_cancel_needs_a_reason(session, office, now, reason):
    tender = factories.tender(office, publish=True, now=now)
    with pytest.raises(ValidationError) as refused:
        services.cancel(tender, reason)
    assert refused.value.field == "reason"
    assert tender.state is TenderState.PUBLISHED


def test_a_draft_may_be_cancelled(session, office, now):
    tender = factories.tender(office, now=now)
    services.cancel(tender, "不再需要")
    assert tender.state is TenderState.CANCELLED


ILLEGAL = {
    "publish twice": (True, lambda t, u, now: services.publish(t, actor=u, now=now),
                      "cannot publish a tender that is published"),
    "amend a draft": (False, lambda t, u, now: services.amend(t, u, {"reason": "x"}, now=now),
                      "cannot amend a tender that is draft"),
    "cancel a cancelled": (True, lambda t, u, now: (services.cancel(t, "一"), services.cancel(t, "二")),
                           "cannot cancel a tender that is cancelled"),
}


@pytest.mark.parametrize("published, act, message", ILLEGAL.values(), ids=ILLEGAL.keys())
def test_illegal_transitions_are_refused(session, office, now, published, act, message):
    tender = factories.tender(office, publish=published, now=now)
    state = tender.state
    with pytest.raises(Refused) as refused:
        act(tender, office, now + DAY)
    assert refused.value.code == "illegal_transition"
    assert refused.value.status == 409
    assert message in refused.value.message
    assert tender.state in (state, TenderState.CANCELLED)


# -- reading -------------------------------------------------------------------------------------


@pytest.fixture
def listed(session, office, now):
    """Four tenders: three public (two published, one cancelled) in different regions, and a draft."""
    other = factories.user(Role.TENDERING_OFFICE)
    a = factories.tender(office, now=now, title="滨江 Bridge-XYZ 工程", region="350102")
    publish(a, now=now + 1 * dt.timedelta(minutes=1))
    b = factories.tender(other, now=now, title="海沧 道路", region="350203", description="含 xyz 字样")
    publish(b, now=now + 2 * dt.timedelta(minutes=1))
    c = factories.tender(office, now=now, title="仓山 xyz 草稿", region="350104")
    d = factories.tender(other, now=now, title="马尾 管网", region="350105")
    publish(d, now=now + 3 * dt.timedelta(minutes=1))
    services.cancel(d, "资金未落实")
    return {"a": a, "b": b, "draft": c, "d": d}


def _ids(page, listed):
    names = {t.id: name for name, t in listed.items()}
    return [names.get(t.id, t.id) for t in page.items]


def test_search_public_lists_public_tenders_newest_first_and_never_drafts(session, listed):
    page = services.search_public()
    assert _ids(page, listed) == ["d", "b", "a"]
    assert (page.total, page.pages, page.page) == (3, 1, 1)


@pytest.mark.parametrize("query, expected", [
    ("xyz", ["b", "a"]), ("XYZ", ["b", "a"]), ("Bridge", ["a"]), ("草稿", []), ("管网", ["d"]),
    ("%", []), ("_", []),
])
def test_search_public_query(session, listed, query, expected):
    assert _ids(services.search_public(query=query), listed) == expected


def test_search_public_query_matches_the_reference(session, listed):
    assert _ids(services.search_public(query=listed["b"].reference), listed) == ["b"]
    assert services.search_public(query=listed["draft"].reference).items == []


@pytest.mark.parametrize("state, expected", [("published", ["b", "a"]), ("cancelled", ["d"]),
                                             ("awarded", [])])
def test_search_public_filters_by_state(session, listed, state, expected):
    assert _ids(services.search_public(state=state), listed) == expected


@pytest.mark.parametrize("region, expected", [
    ("350000", ["d", "b", "a"]), ("35", ["d", "b", "a"]), ("350100", ["d", "a"]), ("3501", ["d", "a"]),
    ("350102", ["a"]), ("350200", ["b"]), ("350104", []), ("110000", []),
])
def test_search_public_filters_by_region_prefix(session, listed, region, expected):
    assert _ids(services.search_public(region=region), listed) == expected


def test_search_public_combines_filters(session, listed):
    assert _ids(services.search_public(query="xyz", state="published", region="3502"), listed) == ["b"]


def test_search_public_paginates(session, listed):
    first = services.search_public(page=1, per_page=2)
    second = services.search_public(page=2, per_page=2)
    beyond = services.search_public(page=3, per_page=2)
    assert _ids(first, listed) == ["d", "b"]
    assert _ids(second, listed) == ["a"]
    assert beyond.items == []
    assert (first.total, first.pages, second.total, second.pages) == (3, 2, 3, 2)


def test_visible_tender_hides_drafts_from_everyone_but_their_office(session, listed, office):
    draft, published = listed["draft"], listed["a"]
    colleague = factories.user(Role.TENDERING_OFFICE, organisation_=office.organisation)
    stranger = factories.user(Role.TENDERING_OFFICE)
    bidder = factories.user(Role.BIDDER)
    assert services.visible_tender(draft.id, office) is draft
    assert services.visible_tender(draft.id, colleague) is draft
    for outsider in (None, stranger, bidder):
        assert services.visible_tender(draft.id, outsider) is None
        assert services.visible_tender(published.id, outsider) is published
    assert services.visible_tender(10**9, office) is None


def test_office_tenders_lists_the_office_own_including_drafts(session, listed, office):
    assert {t.id for t in services.office_tenders(office)} == {listed["a"].id, listed["draft"].id}
