"""`make demo`'s evaluation (app/demo_evaluation.py): the scores its experts give produce what the demo
tells (one outlier, flagged; trimmed means at the panel's judgement; bidder1 first), computed by the same
scoring module as the platform; and the seeded platform has the pool the demo draws from."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from app import demo_evaluation as steps
from app.demo import Demo
from bidding.evaluation import scoring

#: The demo tender's criteria (app/demo.py, publish_tender) as the room lists them.
CRITERIA = [
    {"id": 1, "name": "投标报价", "category": "price", "max_score": "40", "weight": "40",
     "scored_by": "formula", "anonymous": False},
    {"id": 2, "name": "施工组织设计", "category": "technical", "max_score": "40", "weight": "40",
     "scored_by": "experts", "anonymous": True},
    {"id": 3, "name": "企业信誉与业绩", "category": "commercial", "max_score": "20", "weight": "20",
     "scored_by": "experts", "anonymous": False},
]
#: bid id -> (bidder, price): bidder2's replacement is the bid that was opened.
BIDS = {11: ("bidder1", "11850000.00"), 12: ("bidder2", "11790000.00"), 13: ("bidder3", "11990000.00")}


def _room_state() -> dict:
    labels = {12: "A", 13: "B", 11: "C"}  # the room's own order, not the bids'
    return {
        "criteria": CRITERIA,
        "bids": [{"bid": bid} for bid in BIDS],
        "technical": sorted(({"label": labels[bid], "responses": {"施工组织设计": Demo.BIDS[name][2]}}
                             for bid, (name, _price) in BIDS.items()), key=lambda t: t["label"]),
        "labels": labels,
    }


def _frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    state = _room_state()
    by_label = {label: bid for bid, label in state["labels"].items()}
    owners = {bid: name for bid, (name, _price) in BIDS.items()}
    rows = []
    for expert in range(1, 6):
        for entry in steps._sheet(state, expert, owners, Demo):
            bid = entry.get("bid") or by_label[entry["label"]]
            rows.append({"expert": expert, "bid": bid, "criterion": entry["criterion"],
                         "score": entry["score"]})
    scores = pd.DataFrame(rows)
    start = dt.datetime(2026, 11, 22, 8, tzinfo=dt.UTC)
    bids = pd.DataFrame([{"bid": bid, "price": Decimal(price), "valid": True,
                          "submitted_at": start + dt.timedelta(minutes=bid)}
                         for bid, (_n, price) in BIDS.items()])
    criteria = pd.DataFrame([{"criterion": c["id"], "category": c["category"],
                              "max_score": Decimal(c["max_score"]), "weight": Decimal(c["weight"])}
                             for c in CRITERIA])
    return scores, bids, criteria


def _rules() -> scoring.ScoringRules:
    r = steps.RULES
    return scoring.ScoringRules(
        price_formula=r["price_formula"], benchmark_discount=Decimal(r["benchmark_discount_percent"]) / 100,
        penalty_above=r["penalty_above"], penalty_below=r["penalty_below"], aggregation=r["aggregation"],
        trim_min_experts=r["trim_min_experts"], outlier_threshold=r["outlier_threshold_percent"],
        tie_breaks=tuple(r["tie_breaks"]))


def test_every_expert_scores_every_bid_on_every_expert_criterion_within_range():
    scores, _bids, _criteria = _frames()
    assert len(scores) == 5 * 3 * 2  # five experts, three bids, technical and commercial
    assert not scores.duplicated(["expert", "bid", "criterion"]).any()
    tops = {c["id"]: Decimal(c["max_score"]) for c in CRITERIA}
    assert all(Decimal("0") <= Decimal(s) <= tops[c] for s, c in zip(scores["score"], scores["criterion"],
                                                                     strict=True))


def test_exactly_one_outlier_expert_fives_technical_score_of_bidder2():
    scores, _bids, criteria = _frames()
    flags = scoring.flag_outliers(scores, criteria, steps.RULES["outlier_threshold_percent"])
    assert len(flags) == 1
    flag = flags.iloc[0]
    assert (int(flag["expert"]), int(flag["bid"]), int(flag["criterion"])) == (5, 12, 2)
    assert Decimal(flag["score"]) == Decimal(steps.OUTLIER["score"])


def test_the_trimmed_means_are_the_panels_judgement_and_bidder1_wins():
    scores, bids, criteria = _frames()
    result = scoring.evaluate(scores, bids, criteria, _rules())
    aggregate = result.criterion_scores["aggregate"]
    for bid, (name, _price) in BIDS.items():
        technical, commercial = (Decimal(x) for x in steps.QUALITY[name])
        assert aggregate[(bid, 3)] == commercial
        if name != steps.OUTLIER["bidder"]:
            assert aggregate[(bid, 2)] == technical
    assert aggregate[(12, 2)] < Decimal(steps.QUALITY["bidder2"][0])  # the outlier is dropped, not its pull
    assert [BIDS[b][0] for b in result.ranking()] == ["bidder1", "bidder3", "bidder2"]


def test_the_rules_the_demo_sets_are_accepted_by_the_platform(session):
    from bidding.evaluation.rules import set_rules
    from core.models import Role
    from tests import factories

    office = factories.user(Role.TENDERING_OFFICE)
    rules = set_rules(factories.tender(office), dict(steps.RULES), actor=office).to_dict()
    assert {k: rules[k] for k in steps.RULES} == steps.RULES


def test_the_seeded_platform_has_the_demo_pool_and_its_logins(session, app):
    from app.demo_experts import EXPERTS
    from app.seed import seed_if_empty
    from bidding.experts.models import Expert

    assert seed_if_empty()
    experts = {e.user.username: e for e in session.scalars(select(Expert))}
    assert set(EXPERTS) <= set(experts) and len(experts) >= 5
    assert len({e.employer_id for e in experts.values()}) == len(experts)
    logins = json.loads((Path(app.instance_path) / "demo-logins.json").read_text())
    assert {entry["username"] for entry in logins if entry["role"] == "expert"} >= set(EXPERTS)
