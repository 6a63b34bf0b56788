"""Publicity of the candidates, objections and the award. Services flush and never commit.

1. `publicise`: once every lot's evaluation report is signed by all its experts, the office publishes
   the first `candidate_count` (3) bids of each lot's ranking for the tender's publicity period
   (EVALUATING -> PUBLICITY); a signed public notice names them.
2. `raise_objection`: a bidder of the tender objects during the period; refused after it ends.
   `answer_objection`: the office answers (also after the period, before the award).
3. `award`: after the period, with every objection answered, the office awards each lot to its first
   candidate (or another candidate, with a reason), confirming with its password: award notices to
   the winners (signed by the platform and by the office person), result notices to the other
   bidders, a public result announcement naming the panels, whose names are revealed now, and the
   reports opened to the office (PUBLICITY -> AWARDED). Everything is in the audit log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select

from bidding.evaluation import award_notices as notices
from bidding.evaluation.award import (
    Award,
    AwardNotice,
    AwardObjection,
    Candidate,
    IllegalObjectionTransition,
    NoticeKind,
    ObjectionAction,
    ObjectionState,
    Publicity,
    next_objection_state,
)
from bidding.evaluation.models import EvaluationRoom
from bidding.evaluation.rules import rules_for
from bidding.experts.models import Panel
from bidding.experts.services import reveal_panel
from bidding.lifecycle import IllegalTransition, TenderAction, next_state
from bidding.models import Tender
from bidding.opening.models import BidOpening, BidOpeningState
from bidding.submissions.models import Bid
from bidding.suspension import check_not_suspended
from core.errors import Refused
from core.extensions import db
from core.models import Role, User
from core.orm import utcnow
from core.validation import ValidationError, parse_int, parse_text
from signing import audit, documents
from signing.models import SignedDocument

MAX_TEXT = 4000


@contextlib.contextmanager
def refusals_logged(tender_id: int, actor: User | None, action: str) -> Iterator[None]:
    """On a refusal: undo everything, log "award.refused" with the reason, commit that alone, re-raise."""
    try:
        yield
    except (Refused, ValidationError) as exc:
        db.session.rollback()
        message = exc.message
        audit.record("award.refused", actor=actor, subject={"tender": tender_id},
                     data={"action": action, "reason": exc.code, "message": message})
        db.session.commit()
        raise


def _transition(tender: Tender, action: TenderAction) -> None:
    check_not_suspended(tender, action)
    try:
        tender.state = next_state(tender.state, action)
    except IllegalTransition as exc:
        raise Refused(str(exc), code="illegal_transition") from exc


def publicity_of(tender: Tender) -> Publicity | None:
    return db.session.scalar(select(Publicity).where(Publicity.tender_id == tender.id))


def panels_of(tender: Tender) -> list[Panel]:
    query = select(Panel).where(Panel.tender_id == tender.id).order_by(Panel.lot_number)
    return list(db.session.scalars(query))


def _room(panel: Panel) -> EvaluationRoom | None:
    return db.session.scalar(select(EvaluationRoom).where(EvaluationRoom.panel_id == panel.id))


def signed_report(panel: Panel) -> tuple[EvaluationRoom, SignedDocument]:
    """The panel's room and its evaluation report, signed by every expert; otherwise a refusal saying why."""
    room = _room(panel)
    if room is None or room.result is None or room.report_document_id is None:
        raise Refused(f"lot {panel.lot_number} has no final evaluation yet: its panel is still evaluating",
                      code="not_evaluated")
    report = db.session.get(SignedDocument, room.report_document_id)
    assert report is not None
    pending = documents.pending_fields(report)
    if pending:
        raise Refused(
            f"the evaluation report of lot {panel.lot_number} is not signed by every expert yet: "
            f"waiting for {', '.join(r['label'] for r in pending)}",
            code="report_not_signed",
        )
    return room, report


def _ranked(room: EvaluationRoom) -> list[dict[str, Any]]:
    rows = [r for r in room.result["results"] if r.get("rank") is not None]
    return sorted(rows, key=lambda r: int(r["rank"]))


def publicise(tender: Tender, actor: User, now: dt.datetime | None = None) -> Publicity:
    """Publish each lot's first candidates for the tender's publicity period (the office)."""
    now = now or utcnow()
    _transition(tender, TenderAction.PUBLICISE)
    panels = panels_of(tender)
    if not panels:
        raise Refused("no expert panel has evaluated this tender", code="not_evaluated")
    opened_lots = set(db.session.scalars(
        select(Bid.lot_number).join(BidOpening, BidOpening.bid_id == Bid.id)
        .where(BidOpening.tender_id == tender.id, BidOpening.state == BidOpeningState.OPENED)))
    unpanelled = sorted(opened_lots - {p.lot_number for p in panels})
    if unpanelled:
        raise Refused(f"lot {unpanelled[0]} has opened bids but no evaluation panel", code="not_evaluated")
    rules = rules_for(tender)
    picked: list[tuple[int, dict[str, Any]]] = []
    digests = {}
    for panel in panels:
        room, report = signed_report(panel)
        ranked = _ranked(room)
        if not ranked:
            raise Refused(f"lot {panel.lot_number} has no valid bid to name as a candidate: the tender fails "
                          "instead", code="no_candidates")
        picked += [(panel.lot_number, row) for row in ranked[: rules.candidate_count]]
        digests[str(panel.lot_number)] = {"report": report.id, "report_sha256": report.current.sha256,
                                          "inputs_digest": room.result.get("inputs_digest")}
    day = current_app.config.get("PUBLICITY_DAY", dt.timedelta(days=1))
    publicity = Publicity(tender_id=tender.id, starts_at=now, ends_at=now + rules.publicity_days * day,
                          published_by_id=actor.id)
    candidates = []
    for lot, row in picked:
        bid = db.session.get(Bid, int(row["bid"]))
        assert bid is not None and bid.tender_id == tender.id
        candidates.append(Candidate(
            lot_number=lot, rank=int(row["rank"]), bid=bid, organisation=bid.organisation,
            price_amount=Decimal(row["price"]), price_currency=tender.currency, total=Decimal(row["total"])))
    publicity.candidates = candidates
    # Added once its notice exists (the notice needs only the period and the candidates).
    notice = notices.issue_candidates_notice(tender, publicity, candidates, actor)
    publicity.notice_document_id = notice.id
    db.session.add(publicity)
    db.session.flush()
    audit.record(
        "award.publicised",
        actor=actor,
        subject={"tender": tender.id},
        data={
            "starts_at": publicity.starts_at.isoformat(),
            "ends_at": publicity.ends_at.isoformat(),
            "candidates": [{"lot": c.lot_number, "rank": c.rank, "bid": c.bid_id, "bidder": c.organisation_id,
                            "price": f"{c.price_amount:.2f}", "total": f"{c.total:.2f}"} for c in candidates],
            "reports": digests,
            "notice_sha256": notice.current.sha256,
        },
        checkpoint="award.publicised",
    )
    return publicity


def _bidder_organisations(tender: Tender) -> set[int]:
    """Organisations whose bids were in the opening (they are the ones who may object)."""
    return set(db.session.scalars(
        select(Bid.organisation_id).join(BidOpening, BidOpening.bid_id == Bid.id)
        .where(BidOpening.tender_id == tender.id)))


def _require_publicity(tender: Tender) -> Publicity:
    publicity = publicity_of(tender)
    if publicity is None:
        raise Refused("the candidates of this tender have not been publicised", code="not_publicised")
    return publicity


def raise_objection(tender: Tender, actor: User, text: Any, now: dt.datetime | None = None) -> AwardObjection:
    """A bidder of the tender objects to the candidates, during the publicity period only."""
    now = now or utcnow()
    if actor.role != Role.BIDDER or actor.organisation_id not in _bidder_organisations(tender):
        raise Refused("only a bidder whose bid was opened in this tender may object to its candidates",
                      code="not_a_bidder", status=403)
    publicity = _require_publicity(tender)
    if now >= publicity.ends_at:
        raise Refused(f"the publicity period ended at {notices.when(publicity.ends_at)}: objections are no "
                      "longer taken", code="publicity_ended")
    if publicity.awarded_at is not None:  # pragma: no cover - the award needs the period over
        raise Refused("the tender is awarded", code="awarded")
    body = parse_text(text, "text", max_length=MAX_TEXT)
    objection = AwardObjection(tender_id=tender.id, publicity_id=publicity.id,
                               organisation_id=actor.organisation_id, raised_by_id=actor.id, text=body,
                               raised_at=now, state=ObjectionState.RAISED)
    db.session.add(objection)
    db.session.flush()
    audit.record("award.objection_raised", actor=actor,
                 subject={"tender": tender.id, "objection": objection.id},
                 data={"bidder": actor.organisation_id, "text_sha256": _sha(body), "length": len(body)})
    return objection


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def answer_objection(tender: Tender, objection_id: Any, actor: User, text: Any,
                     now: dt.datetime | None = None) -> AwardObjection:
    """The office answers an objection (until the award)."""
    now = now or utcnow()
    _require_publicity(tender)
    number = parse_int(objection_id, "objection", minimum=1)
    objection = db.session.get(AwardObjection, number)
    if objection is None or objection.tender_id != tender.id:
        raise Refused("no such objection in this tender", code="not_found", status=404)
    try:
        objection.state = next_objection_state(objection.state, ObjectionAction.ANSWER)
    except IllegalObjectionTransition as exc:
        raise Refused("this objection is already answered", code="already_answered") from exc
    if tender.state.value != "publicity":
        raise Refused(f"the tender is {tender.state.value}: objections are answered before the award",
                      code="illegal_transition")
    body = parse_text(text, "answer", max_length=MAX_TEXT)
    objection.answer, objection.answered_by_id, objection.answered_at = body, actor.id, now
    db.session.flush()
    audit.record("award.objection_answered", actor=actor,
                 subject={"tender": tender.id, "objection": objection.id},
                 data={"answer_sha256": _sha(body), "length": len(body)})
    return objection


def _choices(raw: Any, candidates: list[Candidate]) -> dict[int, tuple[Candidate, str | None]]:
    """{lot: (winning candidate, reason)}: the first candidate of each lot unless `raw` names another."""
    lots = sorted({c.lot_number for c in candidates})
    chosen = {lot: (next(c for c in candidates if c.lot_number == lot and c.rank == 1), None) for lot in lots}
    if raw is None:
        return chosen
    if not isinstance(raw, list):
        raise ValidationError("winners", 'give a list such as [{"lot": 1, "bid": 7, "reason": "..."}]')
    seen = set()
    for i, item in enumerate(raw):
        where = f"winners[{i}]"
        if not isinstance(item, dict):
            raise ValidationError(where, 'each winner is an object {"lot", "bid", "reason"}')
        lot = parse_int(item.get("lot", 1), f"{where}.lot", minimum=1)
        bid = parse_int(item.get("bid"), f"{where}.bid", minimum=1)
        if lot not in chosen:
            raise ValidationError(f"{where}.lot", f"lot {lot} has no candidates")
        if lot in seen:
            raise ValidationError(f"{where}.lot", f"lot {lot} is named twice")
        seen.add(lot)
        candidate = next((c for c in candidates if c.lot_number == lot and c.bid_id == bid), None)
        if candidate is None:
            raise ValidationError(f"{where}.bid", f"bid {bid} is not a publicised candidate of lot {lot}")
        reason = parse_text(item.get("reason"), f"{where}.reason", max_length=MAX_TEXT,
                            required=False) or None
        if candidate.rank != 1 and reason is None:
            raise ValidationError(
                f"{where}.reason",
                f"bid {bid} is candidate no. {candidate.rank}: say why the candidates before it do not win")
        chosen[lot] = (candidate, reason)
    return chosen


def award(tender: Tender, actor: User, password: Any, winners: Any = None,
          now: dt.datetime | None = None) -> list[Award]:
    """Award every lot after the publicity period, with every objection answered (the office)."""
    now = now or utcnow()
    publicity = _require_publicity(tender)
    _transition(tender, TenderAction.AWARD)
    if now < publicity.ends_at:
        raise Refused(f"the publicity period runs until {notices.when(publicity.ends_at)}: the award comes "
                      "after it", code="publicity_running")
    open_objections = list(db.session.scalars(
        select(AwardObjection)
        .where(AwardObjection.tender_id == tender.id, AwardObjection.state == ObjectionState.RAISED)
        .order_by(AwardObjection.id)))
    if open_objections:
        first = open_objections[0]
        raise Refused(f"answer every objection first: {len(open_objections)} unanswered, the first (no. "
                      f"{first.id}) from {first.organisation.name}", code="objections_open")
    if not isinstance(password, str) or not password:
        raise Refused("the award notice carries your signature: confirm with your password",
                      code="confirmation_failed", status=403, field="password")
    chosen = _choices(winners, list(publicity.candidates))
    awards, sent = [], []
    for lot, (candidate, reason) in sorted(chosen.items()):
        made = Award(tender_id=tender.id, lot_number=lot, bid_id=candidate.bid_id,
                     organisation_id=candidate.organisation_id, candidate_rank=candidate.rank, reason=reason,
                     price_amount=candidate.price_amount, price_currency=candidate.price_currency,
                     awarded_by_id=actor.id, awarded_at=now)
        db.session.add(made)
        db.session.flush()
        awards.append(made)
        notice = notices.issue_award_notice(tender, made, actor)
        documents.countersign(notice, notices.TENDEREE_FIELD, user=actor, password=password)
        db.session.add(AwardNotice(tender_id=tender.id, lot_number=lot, bid_id=made.bid_id,
                                   organisation_id=made.organisation_id, kind=NoticeKind.AWARD,
                                   document_id=notice.id))
        sent.append({"lot": lot, "bid": made.bid_id, "bidder": made.organisation_id, "kind": "award",
                     "document": notice.id, "sha256": notice.current.sha256})
        others = db.session.scalars(
            select(Bid).join(BidOpening, BidOpening.bid_id == Bid.id)
            .where(BidOpening.tender_id == tender.id, Bid.lot_number == lot, Bid.id != made.bid_id)
            .order_by(Bid.id))
        for bid in others:
            result = notices.issue_result_notice(tender, made, bid.organisation, bid.id, lot, actor)
            db.session.add(AwardNotice(tender_id=tender.id, lot_number=lot, bid_id=bid.id,
                                       organisation_id=bid.organisation_id, kind=NoticeKind.RESULT,
                                       document_id=result.id))
            sent.append({"lot": lot, "bid": bid.id, "bidder": bid.organisation_id, "kind": "result",
                         "document": result.id, "sha256": result.current.sha256})
    panels = []
    for panel in panels_of(tender):
        _room, report = signed_report(panel)
        panels.append((panel.lot_number, signer_names(report)))
        report.organisation_id = tender.tendering_office_id  # the names are public now: the office reads it
    reveal_panel(tender.id, now)  # the pool's record of who sat, with what proves each pseudonym (logged)
    announcement = notices.issue_announcement(tender, awards, panels, actor, now)
    publicity.awarded_at = now
    publicity.result_document_id = announcement.id
    db.session.flush()
    audit.record(
        "award.issued",
        actor=actor,
        subject={"tender": tender.id},
        data={
            "winners": [{"lot": a.lot_number, "bid": a.bid_id, "bidder": a.organisation_id,
                         "candidate_rank": a.candidate_rank, "price": f"{a.price_amount:.2f}",
                         "reason": a.reason} for a in awards],
            "notices": sent,
            "announcement_sha256": announcement.current.sha256,
            "panels": [{"lot": lot, "experts": names} for lot, names in panels],
        },
        checkpoint="award.issued",
    )
    return awards


def signer_names(report: SignedDocument) -> list[str]:
    """The names of the people who signed the report, in signing order (the panel's experts)."""
    return [db.session.get(User, v.signed_by_id).display_name for v in report.versions
            if v.signed_by_id is not None]
