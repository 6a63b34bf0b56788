"""The public inputs of an awarded tender: everything an outsider needs to recompute its draw, scores,
ranking, award and cash-release figures, in machine-readable form (docs/supervision.md, "An outsider's
audit", has the shapes; docs/evaluation.md and docs/cash-release.md the formulas).

Published only once the tender is awarded (before that, the scores and who bid are not public). Experts
appear as in the signed evaluation report: by their seat number in the room ("专家 n"), never by name.
No bank account, no bidder's deposit arrangement by name: the cash figures come per anonymous deposit
case. Services read and never commit; the edge (supervision/public_inputs_api.py) answers.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import select

from bidding.evaluation import rules as tender_rules
from bidding.evaluation.award import Award, Publicity
from bidding.evaluation.models import EvaluationRoom
from bidding.evaluation.services.sheets import counted_sheets, scores_frame
from bidding.experts.draw import record_sha256
from bidding.experts.models import Panel
from bidding.models import Tender
from bidding.opening.models import BidOpening, BidOpeningState
from bidding.submissions.models import Bid
from core.extensions import db
from core.orm import utcnow
from core.shapes import ResponseModel
from guarantees import cash_release
from guarantees.models import CashAccount, CashMovement, DepositRequirement, Guarantee, Waiver
from signing.models import LogEntry, SignedDocument

#: Beijing is UTC+8 all year: deadlines and releases are counted in its calendar days.
BEIJING = dt.timezone(dt.timedelta(hours=cash_release.LOCAL_OFFSET_HOURS))

#: Why a bid that reached the opening was not evaluated (its opening state), for people.
NOT_EVALUATED = {
    BidOpeningState.WAITING_KEY.value: "not opened: no data key was handed over",
    BidOpeningState.DECRYPTING.value: "not opened: still being decrypted",
    BidOpeningState.PLATFORM_FAULT.value: "not opened: the stored envelope differed from its receipt "
                                          "(the platform's fault; deemed withdrawn)",
}


class NotPublic(Exception):
    """The tender's inputs are not public (yet): `code` is not_found or not_awarded."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- shapes ------------------------------------------------------------------------------------------------


class PublicBid(ResponseModel):
    bid: int
    lot: int
    bidder: str
    credit_code: str
    submitted_at: str
    envelope_sha256: str
    #: Index of the bid's "bid.submitted" log entry (the entry its receipt proves).
    log_index: int
    price: str | None
    currency: str
    valid: bool
    invalid_reason: str | None


class PublicCriterion(ResponseModel):
    criterion: int
    name: str
    category: str
    max_score: str
    weight: str
    position: int


class PublicExpert(ResponseModel):
    expert: int
    #: As the signed report heads its column: "专家 n".
    label: str


class PublicScore(ResponseModel):
    expert: int
    bid: int
    criterion: int
    score: str


class PublicDraw(ResponseModel):
    draw: int
    url: str
    record_sha256: str
    seed: str
    log_index: int


class PublicLot(ResponseModel):
    lot: int
    panel: int
    experts: list[PublicExpert]
    scores: list[PublicScore]
    #: The evaluation as stored when the room's result became final (scoring.Evaluation.to_dict():
    #: rules, inputs_digest, lowest_price, benchmark_price, results, criterion_scores, tie_breaks, flags).
    result: dict[str, Any]
    report_document: int | None
    #: Index of the report's "evaluation.report_issued" log entry (it states the inputs digest).
    report_log_index: int | None
    draws: list[PublicDraw]


class PublicClose(ResponseModel):
    log_index: int
    tree_size: int
    root_hash: str
    checkpoint: str


class PublicCandidate(ResponseModel):
    lot: int
    rank: int
    bid: int
    total: str


class PublicAward(ResponseModel):
    lot: int
    bid: int
    bidder: str
    credit_code: str
    price: str
    currency: str
    candidate_rank: int
    reason: str | None
    awarded_at: str


class PublicDocument(ResponseModel):
    document: int
    kind: str
    title: str
    sha256: str
    url: str


class EvaluationInputs(ResponseModel):
    v: int
    tender: int
    reference: str
    title: str
    currency: str
    evaluation_method: str
    awarded_at: str
    #: The scoring rules exactly as the inputs digest uses them (ScoringRules.to_dict()).
    rules: dict[str, Any]
    #: The tender's evaluation rules as GET /api/tenders/<id>/evaluation-rules answers them (percentages,
    #: candidate_count, publicity_days, anonymise_technical...).
    tender_rules: dict[str, Any]
    criteria: list[PublicCriterion]
    bids: list[PublicBid]
    lots: list[PublicLot]
    close: PublicClose | None
    candidates: list[PublicCandidate]
    awards: list[PublicAward]
    documents: list[PublicDocument]


class CashInstrument(ResponseModel):
    instrument: str
    amount: str
    #: Local (Beijing) dates the capital-days run between; none for cash, which avoids none.
    start: str | None
    until: str | None
    days: int | None
    capital_days: str


class CashCase(ResponseModel):
    #: An ordinal, not a bidder: cases are sorted by their instruments, not by who holds them.
    case: int
    required: str
    instruments: list[CashInstrument]


class CashFigures(ResponseModel):
    cases: int
    required: str
    cash: str
    waived: str
    guaranteed: str
    released_liquidity: str
    non_cash_cover: str
    cashless_cases: int
    substitution_rate_amount: str | None
    substitution_rate_count: str | None
    capital_days: str


class CashInputs(ResponseModel):
    v: int
    tender: int
    as_of: str
    currency: str | None
    deposit_amount: str | None
    submission_deadline: str | None
    outcome_at: str | None
    bidders_by_instrument: dict[str, int]
    cases: list[CashCase]
    figures: CashFigures | None


# -- the evaluation --------------------------------------------------------------------------------------


def _iso(value: dt.datetime) -> str:
    """A time as the inputs digest writes it (Python's isoformat of the UTC instant)."""
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).isoformat()


def awarded_tender(tender_id: int) -> Tender:
    """The tender if it is public and awarded; NotPublic (not_found / not_awarded) otherwise."""
    tender = db.session.get(Tender, tender_id)
    if tender is None or not tender.is_public:
        raise NotPublic("not_found", f"tender {tender_id} does not exist or is not public")
    publicity = db.session.scalar(select(Publicity).where(Publicity.tender_id == tender.id))
    # The award makes them public for good: a later change of the tender (a complaint's decision) does not
    # take back what the award published.
    if publicity is None or publicity.awarded_at is None:
        raise NotPublic("not_awarded", f"tender {tender_id} is {tender.state.value}: its evaluation inputs "
                                       "are published with the award, not before")
    return tender


def _bids(tender: Tender) -> list[PublicBid]:
    rows = db.session.execute(
        select(Bid, BidOpening).join(BidOpening, BidOpening.bid_id == Bid.id)
        .where(BidOpening.tender_id == tender.id).order_by(Bid.lot_number, Bid.id)).all()
    out = []
    for bid, opening in rows:
        opened = opening.state == BidOpeningState.OPENED
        state = getattr(opening.state, "value", str(opening.state))
        out.append(PublicBid(
            bid=bid.id, lot=bid.lot_number, bidder=bid.organisation.name,
            credit_code=bid.organisation.credit_code, submitted_at=_iso(bid.submitted_at),
            envelope_sha256=bid.envelope_sha256, log_index=bid.log_index,
            price=None if opening.price_amount is None else str(opening.price_amount),
            currency=opening.price_currency or tender.currency, valid=opened,
            invalid_reason=None if opened else NOT_EVALUATED.get(state, f"not opened ({state})")))
    return out


def _lot(panel: Panel) -> PublicLot | None:
    room = db.session.scalar(select(EvaluationRoom).where(EvaluationRoom.panel_id == panel.id))
    if room is None or room.result is None:
        return None
    numbers = sorted(s.number for s in counted_sheets(panel, room))
    frame = scores_frame(panel, room)
    scores = sorted((PublicScore(expert=int(r.expert), bid=int(r.bid), criterion=int(r.criterion),
                                 score=str(r.score)) for r in frame.itertuples(index=False)),
                    key=lambda s: (s.bid, s.criterion, s.expert))
    draws = [PublicDraw(draw=d.number, url=f"/api/tenders/{panel.tender_id}/panels/{panel.lot_number}/draws/"
                                            f"{d.number}",
                        record_sha256=record_sha256(d.record), seed=d.seed, log_index=d.log_index)
             for d in sorted(panel.draws, key=lambda d: d.number)]
    return PublicLot(lot=panel.lot_number, panel=panel.id,
                     experts=[PublicExpert(expert=n, label=f"专家 {n}") for n in numbers],
                     scores=scores, result=room.result, report_document=room.report_document_id,
                     report_log_index=_report_entry(panel.tender_id, room.report_document_id), draws=draws)


def _report_entry(tender_id: int, document_id: int | None) -> int | None:
    """The "evaluation.report_issued" log entry of the report (newest first: the report is recent)."""
    if document_id is None:
        return None
    subject = {"tender": tender_id, "document": document_id}
    for index, body in db.session.execute(select(LogEntry.index, LogEntry.body).where(
            LogEntry.event == "evaluation.report_issued").order_by(LogEntry.index.desc())):
        if json.loads(body).get("subject") == subject:
            return int(index)
    return None


def _close(panels: list[Panel]) -> PublicClose | None:
    for panel in panels:
        for d in sorted(panel.draws, key=lambda d: d.number):
            close = d.record.get("close", {})
            return PublicClose(log_index=close["log_index"], tree_size=close["tree_size"],
                               root_hash=close["root_hash"], checkpoint=close["checkpoint"])
    return None


def _documents(tender: Tender) -> list[PublicDocument]:
    found = db.session.scalars(select(SignedDocument).where(
        SignedDocument.public.is_(True), SignedDocument.subject["tender"].as_integer() == tender.id)
        .order_by(SignedDocument.id))
    return [PublicDocument(document=d.id, kind=d.kind, title=d.title, sha256=d.current.sha256,
                           url=f"/documents/{d.id}/pdf")
            for d in found if isinstance(d.subject, dict) and d.subject.get("tender") == tender.id]


def evaluation_inputs(tender: Tender) -> EvaluationInputs:
    """The public inputs of an awarded tender (see awarded_tender)."""
    panels = list(db.session.scalars(select(Panel).where(Panel.tender_id == tender.id)
                                      .order_by(Panel.lot_number)))
    lots = [lot for lot in (_lot(p) for p in panels) if lot is not None]
    publicity = db.session.scalar(select(Publicity).where(Publicity.tender_id == tender.id))
    assert publicity is not None and publicity.awarded_at is not None
    awards = db.session.scalars(select(Award).where(Award.tender_id == tender.id).order_by(Award.lot_number))
    return EvaluationInputs(
        v=1, tender=tender.id, reference=tender.reference, title=tender.title, currency=tender.currency,
        evaluation_method=tender.evaluation_method.value, awarded_at=_iso(publicity.awarded_at),
        rules=lots[0].result["rules"] if lots else {},
        tender_rules=tender_rules.rules_for(tender).to_model().model_dump(mode="json"),
        criteria=[PublicCriterion(criterion=c.id, name=c.name, category=c.category.value,
                                  max_score=str(c.max_score), weight=str(c.weight), position=c.position)
                  for c in sorted(tender.criteria, key=lambda c: c.position)],
        bids=_bids(tender), lots=lots, close=_close(panels),
        candidates=[PublicCandidate(lot=c.lot_number, rank=c.rank, bid=c.bid_id, total=str(c.total))
                    for c in sorted(publicity.candidates, key=lambda c: (c.lot_number, c.rank))],
        awards=[PublicAward(lot=a.lot_number, bid=a.bid_id, bidder=a.organisation.name,
                            credit_code=a.organisation.credit_code, price=str(a.price_amount),
                            currency=a.price_currency, candidate_rank=a.candidate_rank, reason=a.reason,
                            awarded_at=_iso(a.awarded_at)) for a in awards],
        documents=_documents(tender),
    )


# -- the cash figures ------------------------------------------------------------------------------------


def _day(value: dt.datetime) -> dt.date:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(BEIJING).date()


def _money(value: Decimal) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def cash_inputs(tender: Tender, as_of: dt.datetime | None = None) -> CashInputs:
    """The tender's deposit cases (anonymous) and figures, as docs/cash-release.md defines them."""
    as_of = as_of or utcnow()
    req = db.session.scalar(select(DepositRequirement).where(DepositRequirement.tender_id == tender.id))
    empty = CashInputs(v=1, tender=tender.id, as_of=_iso(as_of), currency=None, deposit_amount=None,
                       submission_deadline=None, outcome_at=None, bidders_by_instrument={}, cases=[],
                       figures=None)
    if req is None:
        return empty
    start = _day(req.submission_deadline)
    fallback = req.outcome_at or as_of
    per_case: dict[int, list[CashInstrument]] = {}

    def add(org: int, instrument: str, amount: Decimal, released: dt.datetime | None) -> None:
        if instrument == cash_release.CASH:
            row = CashInstrument(instrument=instrument, amount=_money(amount), start=None, until=None,
                                 days=None, capital_days="0.00")
        else:
            until = _day(released or fallback)
            days = max(0, (until - start).days)
            row = CashInstrument(instrument=instrument, amount=_money(amount), start=start.isoformat(),
                                 until=until.isoformat(), days=days,
                                 capital_days=_money(Decimal(amount) * days))
        per_case.setdefault(org, []).append(row)

    for w in db.session.scalars(select(Waiver).where(Waiver.requirement_id == req.id)):
        add(w.organisation_id, cash_release.WAIVER, w.amount, None)
    for g in db.session.scalars(select(Guarantee).where(
            Guarantee.requirement_id == req.id, Guarantee.accepted.is_(True),
            Guarantee.state.in_(cash_release.COUNTED_STATES))):
        add(g.organisation_id, g.instrument, g.undertaking_amount, g.closed_at)
    receipts = db.session.execute(
        select(CashAccount.organisation_id, CashMovement.amount)
        .join(CashMovement, CashMovement.account_id == CashAccount.id)
        .where(CashAccount.requirement_id == req.id, CashMovement.kind == "receipt"))
    for org, amount in receipts:
        add(org, cash_release.CASH, amount, None)
    cases = sorted((sorted(rows, key=lambda r: (r.instrument, Decimal(r.amount), r.until or ""))
                    for rows in per_case.values()),
                   key=lambda rows: [(r.instrument, Decimal(r.amount), r.until or "") for r in rows])
    counts: dict[str, int] = {}
    for rows in cases:
        for kind in {r.instrument for r in rows}:
            counts[kind] = counts.get(kind, 0) + 1
    figures = None
    if req.opening_time <= min(as_of, utcnow()):
        totals = cash_release.presented(cash_release.report(as_of=as_of, requirement=req.id).totals())
        if totals:
            t = totals[0]
            figures = CashFigures(
                **{k: _money(t[k]) for k in ("required", "cash", "waived", "guaranteed", "released_liquidity",
                                              "non_cash_cover", "capital_days")},
                cases=int(t["cases"]), cashless_cases=int(t["cashless_cases"]),
                substitution_rate_amount=None if t["substitution_rate_amount"] is None
                else str(t["substitution_rate_amount"]),
                substitution_rate_count=None if t["substitution_rate_count"] is None
                else str(t["substitution_rate_count"]))
    return empty.model_copy(update={
        "currency": req.currency, "deposit_amount": _money(req.deposit_amount),
        "submission_deadline": _iso(req.submission_deadline),
        "outcome_at": None if req.outcome_at is None else _iso(req.outcome_at),
        "bidders_by_instrument": dict(sorted(counts.items())),
        "cases": [CashCase(case=i, required=_money(req.deposit_amount), instruments=rows)
                  for i, rows in enumerate(cases, start=1)],
        "figures": figures,
    })
