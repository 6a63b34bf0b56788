"""Each collusion and risk signal on constructed facts: one case that must trigger it, and near misses that
must not (supervision/signal_rules.py; docs/supervision.md, "Collusion and risk signals")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from supervision import signal_rules as r
from supervision.signal_rules import BidFacts, LotFacts, Settings, TenderFacts

S = Settings()
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def bid(n: int, price: str | None = "1000000.00", *, org: int | None = None, state: str = "opened",
        lot: int = 1, **kw) -> BidFacts:
    org = org if org is not None else n
    return BidFacts(bid_id=n, organisation_id=org, organisation=f"公司{org}号",
                    credit_code=f"91350100MA{org:08d}", lot=lot, state=state,
                    price=Decimal(price) if price is not None else None, **kw)


def lot(*bids: BidFacts, tender: int = 1, estimated: str = "1000000", award: int | None = None,
        number: int = 1, opened_at: dt.datetime | None = None) -> LotFacts:
    return LotFacts(tender_id=tender, number=number, estimated=Decimal(estimated), bids=tuple(bids),
                    award_bid_id=award, opened_at=opened_at)


def tender(*lots: LotFacts, tender_id: int = 1, **kw) -> TenderFacts:
    return TenderFacts(tender_id=tender_id, lots=tuple(lots), **kw)


def codes(findings) -> list[str]:
    return [f.code for f in findings]


def doc(sha: str, name: str = "documents/技术标.pdf", **pdf) -> dict:
    return {"name": name, "size": 100, "sha256": sha, "pdf": pdf or None}


# -- documents ---------------------------------------------------------------------------------------------


def test_identical_documents_across_bidders_fire_and_a_tender_form_or_one_bidders_copies_do_not():
    a = bid(1, documents=(doc("a" * 64), doc("c" * 64, "documents/投标函.pdf")))
    b = bid(2, documents=(doc("a" * 64, "documents/other.pdf"), doc("c" * 64)))
    found = r.same_documents(tender(lot(a, b), tender_documents=frozenset({"c" * 64})))
    assert codes(found) == ["same_document"] and found[0].bids == (1, 2)
    assert found[0].numbers["sha256"] == "a" * 64 and "documents/other.pdf" in found[0].numbers["names"]
    # near misses: the same digest twice in one bidder's bids (two lots), different digests
    same_org = bid(3, org=1, lot=2, documents=(doc("a" * 64),))
    assert r.same_documents(tender(lot(a), lot(same_org, number=2))) == []
    assert r.same_documents(tender(lot(a, bid(2, documents=(doc("b" * 64),))))) == []


def test_the_same_pdf_author_fires_a_different_one_or_none_does_not():
    a = bid(1, documents=(doc("a" * 64, author="张三", creator="Word", producer="Acrobat"),))
    b = bid(2, documents=(doc("b" * 64, author=" 张三 ", creator="WPS", producer="WPS"),))
    found = r.same_pdf_author(tender(lot(a, b)))
    assert codes(found) == ["same_pdf_author"] and found[0].numbers["author"] == "张三"
    c = bid(2, documents=(doc("b" * 64, author="李四"),))
    d = bid(2, documents=(doc("b" * 64, author=""),))
    assert r.same_pdf_author(tender(lot(a, c))) == [] and r.same_pdf_author(tender(lot(a, d))) == []
    defaults = [bid(n, documents=(doc(f"{n}" * 64, author="Administrator"),)) for n in (1, 2)]
    assert r.same_pdf_author(tender(lot(*defaults))) == []  # the name office software writes by default


def test_the_same_pdf_software_pair_fires_low_and_a_shared_creator_alone_does_not():
    a = bid(1, documents=(doc("a" * 64, creator="Word", producer="Acrobat 9"),))
    b = bid(2, documents=(doc("b" * 64, creator="Word", producer="Acrobat 9"),))
    found = r.same_pdf_software(tender(lot(a, b)))
    assert codes(found) == ["same_pdf_software"] and found[0].severity == r.LOW
    c = bid(2, documents=(doc("b" * 64, creator="Word", producer="Acrobat 10"),))
    assert r.same_pdf_software(tender(lot(a, c))) == []


def test_a_document_naming_another_bidder_fires_and_one_naming_the_holder_does_not():
    a = bid(1, documents=(doc("a" * 64, "documents/公司2号-技术标.pdf"),))
    b = bid(2)
    found = r.foreign_documents(tender(lot(a, b)))
    assert codes(found) == ["foreign_document"]
    assert found[0].numbers["holder"] == "公司1号" and found[0].numbers["owner"] == "公司2号"
    by_author = bid(1, documents=(doc("a" * 64, author="91350100MA00000002"),))
    assert codes(r.foreign_documents(tender(lot(by_author, b)))) == ["foreign_document"]
    own = bid(1, documents=(doc("a" * 64, "documents/公司1号-技术标.pdf"),))
    assert r.foreign_documents(tender(lot(own, b))) == []


# -- submission and deposits ------------------------------------------------------------------------------


def test_the_same_network_digest_fires_and_different_digests_do_not():
    found = r.same_network(tender(lot(bid(1, network="n" * 64), bid(2, network="n" * 64),
                                      bid(3, network="m" * 64))))
    assert codes(found) == ["same_network"] and found[0].bids == (1, 2)
    assert r.same_network(tender(lot(bid(1, network="n" * 64), bid(2, network="m" * 64), bid(3)))) == []


def test_the_same_device_digest_fires_low_and_none_recorded_does_not():
    found = r.same_device(tender(lot(bid(1, device="d" * 64), bid(2, device="d" * 64))))
    assert codes(found) == ["same_device"] and found[0].severity == r.LOW
    assert r.same_device(tender(lot(bid(1), bid(2)))) == []


def test_deposits_from_the_same_account_fire_and_different_accounts_do_not():
    found = r.same_deposit_account(tender(lot(bid(1, deposit_accounts=frozenset({"6222000011112222"})),
                                              bid(2, deposit_accounts=frozenset({"6222000011112222", "X"})))))
    assert codes(found) == ["same_deposit_account"] and found[0].numbers["account"] == "6222…2222"
    assert r.same_deposit_account(tender(lot(bid(1, deposit_accounts=frozenset({"A1"})),
                                             bid(2, deposit_accounts=frozenset({"A2"}))))) == []


def test_guarantees_applied_for_by_the_same_person_fire_and_by_different_people_do_not():
    found = r.same_guarantee_applicant(tender(lot(bid(1, guarantee_applicants=frozenset({"user:7"})),
                                                  bid(2, guarantee_applicants=frozenset({"user:7"})))))
    assert codes(found) == ["same_guarantee_applicant"]
    assert r.same_guarantee_applicant(tender(lot(bid(1, guarantee_applicants=frozenset({"user:7"})),
                                                 bid(2, guarantee_applicants=frozenset({"user:8"}))))) == []


# -- prices ------------------------------------------------------------------------------------------------


def test_prices_abnormally_close_fire_and_a_spread_just_above_the_threshold_does_not():
    close = tender(lot(bid(1, "1000000.00"), bid(2, "1004000.00"), bid(3, "1009999.00")))
    found = r.close_prices(close, S)
    assert codes(found) == ["close_prices"] and found[0].numbers["spread"] == "1.00%"
    near = tender(lot(bid(1, "1000000.00"), bid(2, "1004000.00"), bid(3, "1010000.00")))
    assert r.close_prices(near, S) == []  # exactly 1%: not below the threshold
    two = tender(lot(bid(1, "1000000.00"), bid(2, "1000001.00")))
    assert r.close_prices(two, S) == []  # fewer than 3 bids
    assert r.close_prices(close, Settings(close_spread=Decimal("0.005"))) == []


def test_prices_in_constant_differences_or_ratios_fire_and_irregular_ones_do_not():
    steps = tender(lot(bid(1, "900000.00"), bid(2, "950000.00"), bid(3, "1000000.00"), bid(4, "1200000.00")))
    found = r.price_steps(steps, S)
    assert codes(found) == ["price_steps"] and found[0].bids == (1, 2, 3)
    assert found[0].numbers["kind"] == "difference" and found[0].numbers["step"] == "50000.00"
    ratios = tender(lot(bid(1, "1000000.00"), bid(2, "1050000.00"), bid(3, "1102500.00")))
    found = r.price_steps(ratios, S)
    assert [f.numbers["kind"] for f in found] == ["ratio"] and found[0].numbers["step"] == "1.0500"
    irregular = tender(lot(bid(1, "900000.00"), bid(2, "950000.00"), bid(3, "1000000.02")))
    assert r.price_steps(irregular, S) == []
    equal = tender(lot(bid(1, "900000.00"), bid(2, "900000.00"), bid(3, "900000.00")))
    assert r.price_steps(equal, S) == []  # identical prices are R028's, not steps


def test_identical_prices_fire_r028_and_prices_a_cent_apart_do_not():
    found = r.r028(tender(lot(bid(1, "990000.00"), bid(2, "990000.00"), bid(3, "980000.00"))))
    assert codes(found) == ["R028"] and found[0].bids == (1, 2)
    assert r.r028(tender(lot(bid(1, "990000.00"), bid(2, "990000.01")))) == []
    # the same price in different lots is not a match
    assert r.r028(tender(lot(bid(1, "990000.00")), lot(bid(2, "990000.00", lot=2), number=2))) == []


# -- history -----------------------------------------------------------------------------------------------


def test_cover_bids_far_above_the_estimate_fire_while_the_winner_is_near_it():
    covered = tender(lot(bid(1, "980000.00"), bid(2, "1350000.00"), bid(3, "1400000.00"), award=1))
    found = r.cover_bidding(covered, S)
    assert codes(found) == ["cover_bidding"] and found[0].numbers["covers"] == 2
    just_under = tender(lot(bid(1, "980000.00"), bid(2, "1300000.00"), award=1))
    assert r.cover_bidding(just_under, S) == []  # exactly 1.3 times: not above
    far_winner = tender(lot(bid(1, "800000.00"), bid(2, "1400000.00"), award=1))
    assert r.cover_bidding(far_winner, S) == []  # the winner is 20% below the estimate: not "near it"
    before_award = tender(lot(bid(1, "1020000.00"), bid(2, "1400000.00")))
    assert codes(r.cover_bidding(before_award, S)) == ["cover_bidding"]  # the lowest bid stands in


def _meeting(tender_id: int, orgs: list[int], winner: int | None = None, day: int = 1) -> LotFacts:
    bids = [bid(tender_id * 100 + o, org=o) for o in orgs]
    award = next((b.bid_id for b in bids if b.organisation_id == winner), None)
    return lot(*bids, tender=tender_id, award=award, opened_at=T0 + dt.timedelta(days=day))


def test_the_same_group_of_three_meeting_in_three_tenders_fires_and_in_two_does_not():
    current = tender(_meeting(1, [1, 2, 3, 4]), tender_id=1)
    history = [_meeting(2, [1, 2, 3]), _meeting(3, [1, 2, 3, 5]), _meeting(4, [1, 2, 9])]
    found = r.group_meetings(current, history, S)
    assert codes(found) == ["group_meetings"]
    assert found[0].organisations == (1, 2, 3) and found[0].numbers["meetings"] == 3
    assert [e["tender"] for e in found[0].evidence] == [2, 3]
    assert r.group_meetings(current, history[:1] + history[2:], S) == []  # met twice only
    # the same address on another tender says nothing; neither does a pair meeting often
    pairs = [_meeting(t, [1, 2, 8 + t]) for t in range(2, 6)]
    assert r.group_meetings(current, pairs, S) == []


def test_winners_taking_turns_in_a_group_fire_rotation_and_the_same_winner_twice_does_not():
    current = tender(_meeting(4, [1, 2, 3], winner=3, day=4), tender_id=4)
    history = [_meeting(1, [1, 2, 3], winner=1, day=1), _meeting(2, [1, 2, 3], winner=2, day=2),
               _meeting(3, [1, 2, 3], winner=1, day=3)]
    found = r.bid_rotation(current, history, S)
    assert codes(found) == ["bid_rotation"] and found[0].numbers["meetings"] == 4
    assert found[0].numbers["winners"] == "公司1号 → 公司2号 → 公司1号 → 公司3号"
    twice = [_meeting(1, [1, 2, 3], winner=1, day=1), _meeting(2, [1, 2, 3], winner=1, day=2),
             _meeting(3, [1, 2, 3], winner=2, day=3)]
    assert r.bid_rotation(current, twice, S) == []
    outsider = [_meeting(1, [1, 2, 3, 7], winner=7, day=1), *history[1:]]
    assert r.bid_rotation(current, outsider, S) == []  # someone outside the group won one meeting


# -- Cardinal ----------------------------------------------------------------------------------------------


def test_r024_fires_when_the_second_lowest_is_within_the_threshold_and_r058_when_far_above():
    close = tender(lot(bid(1, "1000000.00"), bid(2, "1005000.00"), bid(3, "1100000.00"), award=1))
    assert codes(r.r024_r058(close, [], S)) == ["R024"]
    apart = tender(lot(bid(1, "1000000.00"), bid(2, "1020000.00"), award=1))
    assert r.r024_r058(apart, [], S) == []
    discounted = tender(lot(bid(1, "700000.00"), bid(2, "1000000.00"), award=1))
    assert codes(r.r024_r058(discounted, [], S)) == ["R058"]
    not_lowest = tender(lot(bid(1, "1000000.00"), bid(2, "1001000.00"), bid(3, "900000.00"), award=1))
    assert r.r024_r058(not_lowest, [], S) == []  # excluded: the winner is not the lowest bid
    assert r.r024_r058(tender(lot(bid(1, "1000000.00"), bid(2, "1001000.00"))), [], S) == []  # no award


def test_r024_uses_the_platforms_fences_once_there_are_enough_awarded_lots():
    history = [lot(bid(t * 10 + 1, "1000000.00", org=t * 10 + 1), bid(t * 10 + 2, f"{1040000 + t * 1000}.00",
                                                                       org=t * 10 + 2),
                   tender=t, award=t * 10 + 1) for t in range(2, 10)]
    # differences 4.2%..4.9%: Q1 ≈ 4.375%, IQR ≈ 0.35%, lower fence ≈ 3.85%; 3% is below it
    current = tender(lot(bid(1, "1000000.00"), bid(2, "1030000.00"), award=1))
    found = r.r024_r058(current, history, S)
    assert codes(found) == ["R024"] and found[0].numbers["source"] == "fences"
    assert r.r024_r058(current, history[:3], S) == []  # too few lots: the configured 1% applies


def test_r035_fires_when_only_the_winner_is_valid_and_not_when_another_valid_bid_remains():
    alone = tender(lot(bid(1), bid(2, None, state="revoked"), bid(3, None, state="failed"), award=1))
    found = r.r035(alone)
    assert codes(found) == ["R035"] and found[0].numbers["disqualified"] == 2
    other_valid = tender(lot(bid(1), bid(2), bid(3, None, state="revoked"), award=1))
    assert r.r035(other_valid) == []
    platform_fault = tender(lot(bid(1), bid(2, None, state="platform_fault"), award=1))
    assert r.r035(platform_fault) == []  # the platform's fault is not a disqualification


def test_r038_fires_for_a_bidder_mostly_disqualified_and_not_below_the_minimum_of_bids():
    current = tender(lot(bid(1), bid(2, None, state="revoked")), tender_id=1)
    history = [lot(bid(20, None, org=2, state="failed"), bid(21, org=5), tender=2)]
    found = r.r038(current, history, S)
    assert codes(found) == ["R038"] and found[0].numbers["ratio"] == "100.00%"
    assert r.r038(current, [], S) == []  # one bid only: below the minimum of 2
    good_history = [lot(bid(20 + t, org=2), tender=t) for t in range(2, 5)]
    assert r.r038(current, good_history, S) == []  # 1 of 4: 25%


def test_r025_fires_for_a_frequent_bidder_that_almost_never_wins_and_not_for_an_occasional_one():
    # bidder 1 bid in 6 awarded lots and won none; bidders 2 and 3 took turns
    history = [lot(bid(t * 10 + 1, org=1), bid(t * 10 + 2, org=2 + t % 2), tender=t, award=t * 10 + 2)
               for t in range(2, 7)]
    current = tender(lot(bid(1, org=1), bid(2, org=2), award=2))
    found = r.r025(current, history, S)
    assert codes(found) == ["R025"] and found[0].organisations == (1,)
    assert found[0].numbers["wins"] == 0 and found[0].numbers["valid"] == 6
    # four valid bids only: below the configured top-tenderer minimum of 5
    assert r.r025(current, history[:3], S) == []
    # one win in six: above the 5% threshold
    won_once = [*history[:-1], lot(bid(61, org=1), bid(62, org=2), tender=6, award=61)]
    assert r.r025(current, won_once, S) == []
    # lots without an award are left out
    unawarded = [lot(b, tender=h.tender_id) for h in history for b in h.bids if b.organisation_id == 1]
    assert r.r025(current, unawarded, S) == []


def test_r003_fires_for_a_short_submission_period_and_not_for_fifteen_days():
    short = tender(published_at=T0, submission_deadline=T0 + dt.timedelta(days=10))
    assert codes(r.r003(short, S)) == ["R003"]
    assert r.r003(tender(published_at=T0, submission_deadline=T0 + dt.timedelta(days=15)), S) == []
    invited = tender(published_at=T0, submission_deadline=T0 + dt.timedelta(days=10),
                     procurement_method="invited_tendering")
    assert r.r003(invited, S) == []


def test_settings_come_from_the_configuration():
    settings = Settings.from_config({"SIGNALS_CLOSE_SPREAD": "0.02", "SIGNALS_GROUP_MEETINGS": 4})
    assert settings.close_spread == Decimal("0.02") and settings.group_meetings == 4
    assert settings.cover_ratio == Decimal("1.3")


@pytest.mark.parametrize("rule", [r.same_documents, r.same_pdf_author, r.same_network, r.same_device,
                                  r.same_deposit_account, r.same_guarantee_applicant, r.r028, r.r035])
def test_a_lone_bidder_never_fires_a_comparison(rule):
    one = tender(lot(bid(1, network="n", device="d", documents=(doc("a" * 64, author="x"),),
                         deposit_accounts=frozenset({"A"}), guarantee_applicants=frozenset({"user:1"}))))
    assert rule(one) == []


def test_evaluate_runs_every_rule():
    facts = tender(lot(bid(1, "990000.00", network="n"), bid(2, "990000.00", network="n"), award=1))
    assert {"same_network", "R028", "R024"} <= set(codes(r.evaluate(facts, [], S)))
