"""Collusion and risk signals for the supervisor, after the opening, each explained and linked to evidence.

`signals_for(tender)` gathers the tender's facts (its opened bids and prices, what was recorded at
submission and at the opening in `bid_fingerprints`, its cash deposits and guarantees, its award) and
the platform's other opened tenders (for the history-based rules), runs the rules of
`supervision/signal_rules.py`, and words each finding: a stable code, a title and an explanation in the
reader's language with the numbers, a severity, the bids and organisations involved, and the evidence
(bid receipts, log entries by index with their inclusion proofs, the opening record, guarantees, cash
accounts, the other tenders).

Signals never act: nothing here changes any state. They are computed only after the tender's opening has
ended (concluded or failed); before that, for a tender that does not exist, or for anyone but a
supervisor, the request is refused and the refusal logged (`supervision.signals_refused`). Reading the
signals is itself logged (`supervision.signals_viewed`). docs/supervision.md, "Collusion and risk signals".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from bidding.evaluation.award import Award
from bidding.models import Tender
from bidding.opening.models import BidOpening, Opening, OpeningState
from bidding.submissions.models import Bid, BidFingerprint, BidState
from bidding.tender_documents import TenderDocument
from core.errors import Refused
from core.extensions import db
from core.models import Role, User
from guarantees.models import CashAccount, CashMovement, DepositRequirement, Guarantee
from signing import audit
from signing.models import LogEntry
from supervision import signal_rules as rules
from supervision.signal_rules import BidFacts, Finding, LotFacts, Settings, TenderFacts

#: Opening states after which the signals may be read.
ENDED = frozenset({OpeningState.CONCLUDED, OpeningState.FAILED})
#: The list of tenders with signals shows at most this many tenders (newest openings first).
LIST_LIMIT = 100

TITLES = {
    "same_document": _l("Identical documents in different bidders' envelopes"),
    "foreign_document": _l("One bidder's document inside another's envelope"),
    "same_pdf_author": _l("The same PDF author across bidders"),
    "same_deposit_account": _l("Deposits paid from the same account"),
    "same_guarantee_applicant": _l("Guarantees applied for by the same person"),
    "same_network": _l("Submitted from the same network address"),
    "close_prices": _l("Prices abnormally close"),
    "price_steps": _l("Prices in regular steps"),
    "same_device": _l("Submitted from the same device"),
    "same_pdf_software": _l("The same PDF software across bidders"),
    "bid_rotation": _l("Bid rotation"),
    "group_meetings": _l("The same group of bidders meets again"),
    "cover_bidding": _l("Cover bidding far above the estimate"),
    "R028": _l("Identical bid prices (Cardinal R028)"),
    "R024": _l("Price close to the winning bid (Cardinal R024)"),
    "R058": _l("Heavily discounted bid (Cardinal R058)"),
    "R035": _l("All except the winning bid disqualified (Cardinal R035)"),
    "R038": _l("Excessive disqualified bids (Cardinal R038)"),
    "R025": _l("Excessive unsuccessful bids (Cardinal R025)"),
    "R003": _l("Short submission period (Cardinal R003)"),
}

EXPLANATIONS = {
    "same_document": _l("%(count)s bidders' envelopes hold a document with the same SHA-256 %(sha256)s "
                        "(%(names)s): documents made by the same unit or person are deemed collusion "
                        "(Regulations on the Implementation of the Bidding Law, art. 40)."),
    "foreign_document": _l("The envelope of %(holder)s holds %(name)s, which names %(owner)s (%(mark)s) in "
                           "its file name or PDF author: one bidder's documents in another's envelope."),
    "same_pdf_author": _l("PDF documents of %(count)s bidders name the same author, \"%(author)s\": "
                          "documents made by the same person."),
    "same_deposit_account": _l("The cash deposits of %(count)s bidders came from or return to the same "
                               "account %(account)s."),
    "same_guarantee_applicant": _l("The guarantees of %(count)s bidders were applied for by the same "
                                   "applicant (%(applicant)s)."),
    "same_network": _l("%(count)s bidders submitted their envelopes from the same network address (keyed "
                       "digest %(digest)s…); bidders behind one shared gateway also do."),
    "close_prices": _l("The %(count)s opened prices of lot %(lot)s lie within %(spread)s of each other "
                       "(%(lowest)s to %(highest)s), below the threshold of %(threshold)s."),
    "price_steps": _l("%(count)s opened prices of lot %(lot)s step by a constant %(kind)s of %(step)s: "
                      "%(prices)s."),
    "same_device": _l("%(count)s bidders submitted from the same device (browser or client and language, "
                      "keyed digest %(digest)s…); weak alone: many people use the same browser."),
    "same_pdf_software": _l("PDF documents of %(count)s bidders were made with the same software "
                            "(creator \"%(creator)s\", producer \"%(producer)s\"); weak alone."),
    "bid_rotation": _l("%(members)s met in %(meetings)s awarded tenders and the winners took turns: "
                       "%(winners)s."),
    "group_meetings": _l("The group %(members)s (%(size)s bidders) met in %(meetings)s tenders including "
                         "this one (threshold %(threshold)s); the others: %(tenders)s."),
    "cover_bidding": _l("In lot %(lot)s %(covers)s losing prices are above %(ratio)s times the estimate "
                        "%(estimate)s (up to %(highest)s times) while %(winner)s's price %(winner_price)s is "
                        "near it."),
    "R028": _l("%(count)s bidders offered the same price %(price)s in lot %(lot)s."),
    "R024": _l("In lot %(lot)s the second-lowest valid bid is only %(difference)s above the winning bid "
               "(at or below %(threshold)s)."),
    "R058": _l("In lot %(lot)s the second-lowest valid bid is %(difference)s above the winning bid (at or "
               "above %(threshold)s): the winning bid is heavily discounted."),
    "R035": _l("In lot %(lot)s only the winner's bid is valid; %(disqualified)s other bidders' bids were "
               "disqualified (revoked or failed at the opening)."),
    "R038": _l("%(disqualified)s of this bidder's %(submitted)s bids on the platform were disqualified "
               "(%(ratio)s, at or above %(threshold)s)."),
    "R025": _l("This bidder won %(wins)s of its %(valid)s valid bids in awarded tenders on the platform "
               "(%(ratio)s, at or below %(threshold)s) while bidding as often as the most active bidders "
               "(%(top)s or more valid bids)."),
    "R003": _l("The submission period was %(days)s days, shorter than %(threshold)s days."),
}

STEP_KINDS = {"difference": _l("difference"), "ratio": _l("ratio")}
SEVERITIES = {rules.HIGH: _l("High"), rules.MEDIUM: _l("Medium"), rules.LOW: _l("Low")}
#: The signals about prices: their evidence includes each bid's "opening.bid_opened" log entry.
PRICE_CODES = frozenset({"close_prices", "price_steps", "cover_bidding", "R028", "R024", "R058"})


@dataclass
class Signal:
    """One signal as the supervisor reads it."""

    code: str
    title: str
    explanation: str
    severity: str
    severity_label: str
    lot: int | None
    bids: list[dict[str, Any]]
    organisations: list[dict[str, Any]]
    evidence: list[dict[str, Any]] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title, "explanation": self.explanation,
                "severity": self.severity, "lot": self.lot, "bids": self.bids,
                "organisations": self.organisations, "evidence": self.evidence,
                "numbers": {k: (str(v) if isinstance(v, Decimal) else v) for k, v in self.numbers.items()}}


class SignalsRefused(Refused):
    """Signals asked for too early, for no tender, or by someone who may not read them."""


# -- refusals ---------------------------------------------------------------------------------------------


def refuse(actor: User | None, code: str, message: str, status: int,
           subject: dict[str, Any]) -> SignalsRefused:
    """Log the refusal (its own transaction) and give the error to raise."""
    db.session.rollback()
    audit.record("supervision.signals_refused", actor=actor, subject=subject,
                 data={"reason": code, "message": message, "role": actor.role.value if actor else None})
    db.session.commit()
    return SignalsRefused(message, code=code, status=status)


def check_reader(actor: User | None, subject: dict[str, Any]) -> None:
    """Only supervisors read signals (the tendering office does not: it may be the one colluding)."""
    if actor is None or actor.role != Role.SUPERVISOR:
        raise refuse(actor, "forbidden", _("Only supervisors read the collusion and risk signals."), 403,
                     subject)


def readable_tender(tender_id: int, actor: User | None) -> Tender:
    """The tender, if a supervisor may read its signals now; otherwise a logged refusal."""
    subject = {"tender": tender_id}
    check_reader(actor, subject)
    tender = db.session.get(Tender, tender_id)
    if tender is None:
        raise refuse(actor, "not_found", _("There is no tender %(id)s.", id=tender_id), 404, subject)
    opening = db.session.scalar(select(Opening).where(Opening.tender_id == tender_id))
    if opening is None or opening.state not in ENDED:
        raise refuse(actor, "not_opened", _("Signals are computed only after the tender's opening has ended; "
                                            "before it nothing of the bids may be compared."), 409, subject)
    return tender


# -- facts ------------------------------------------------------------------------------------------------


def _lots_of(tender_ids: list[int] | None) -> dict[int, list[LotFacts]]:
    """The opened tenders' lots (their bids' states, prices and awards), by tender; all of them with None."""
    query = (select(Bid, BidOpening, Opening.started_at)
             .options(joinedload(Bid.organisation))
             .join(BidOpening, BidOpening.bid_id == Bid.id)
             .join(Opening, Opening.tender_id == Bid.tender_id)
             .where(Opening.state.in_(ENDED), Bid.state == BidState.ACTIVE))
    if tender_ids is not None:
        query = query.where(Bid.tender_id.in_(tender_ids))
    rows = db.session.execute(query).all()
    ids = {bid.tender_id for bid, _o, _s in rows}
    awards = {(a.tender_id, a.lot_number): a.bid_id
              for a in db.session.scalars(select(Award).where(Award.tender_id.in_(ids)))} if ids else {}
    estimates: dict[tuple[int, int], Decimal] = {}
    if ids:
        for tender in db.session.scalars(select(Tender).where(Tender.id.in_(ids))):
            for lot in tender.lots:
                estimates[(tender.id, lot.number)] = lot.estimated_amount
    grouped: dict[tuple[int, int], list[tuple[Bid, BidOpening]]] = {}
    started: dict[int, Any] = {}
    for bid, opening, started_at in rows:
        grouped.setdefault((bid.tender_id, bid.lot_number), []).append((bid, opening))
        started[bid.tender_id] = started_at
    lots: dict[int, list[LotFacts]] = {}
    for (tender_id, number), members in sorted(grouped.items()):
        facts = tuple(BidFacts(bid_id=bid.id, organisation_id=bid.organisation_id,
                               organisation=bid.organisation.name, credit_code=bid.organisation.credit_code,
                               lot=number, state=opening.state.value, price=opening.price_amount,
                               submitted_at=bid.submitted_at) for bid, opening in members)
        lots.setdefault(tender_id, []).append(LotFacts(
            tender_id=tender_id, number=number, estimated=estimates.get((tender_id, number), Decimal(0)),
            bids=facts, award_bid_id=awards.get((tender_id, number)), opened_at=started.get(tender_id)))
    return lots


def _deposit_facts(tender_id: int) -> tuple[dict[int, set[str]], dict[int, set[str]], dict[int, list]]:
    """Per organisation: the accounts its cash deposit came from or returns to; who applied for its
    guarantees; and the records (cash accounts, guarantees) as evidence."""
    accounts: dict[int, set[str]] = {}
    applicants: dict[int, set[str]] = {}
    records: dict[int, list] = {}
    requirement = db.session.scalar(
        select(DepositRequirement).where(DepositRequirement.tender_id == tender_id))
    if requirement is None:
        return accounts, applicants, records
    cash = select(CashAccount).where(CashAccount.requirement_id == requirement.id)
    for account in db.session.scalars(cash):
        held = accounts.setdefault(account.organisation_id, set())
        if account.payee_account:
            held.add(_account(account.payee_account))
        for movement in db.session.scalars(select(CashMovement).where(CashMovement.account_id == account.id,
                                                                      CashMovement.kind == "receipt")):
            if movement.counterparty_account:
                held.add(_account(movement.counterparty_account))
        records.setdefault(account.organisation_id, []).append(("cash_account", account))
    for guarantee in db.session.scalars(select(Guarantee).where(Guarantee.requirement_id == requirement.id)):
        who = applicants.setdefault(guarantee.organisation_id, set())
        if guarantee.applied_by_id is not None:
            who.add(f"user:{guarantee.applied_by_id}")
        records.setdefault(guarantee.organisation_id, []).append(("guarantee", guarantee))
    return accounts, applicants, records


def _account(value: str) -> str:
    return "".join(value.split()).upper()


def tender_facts(tender: Tender, lots: list[LotFacts]) -> tuple[TenderFacts, dict[int, list]]:
    """The tender's facts with what was recorded at submission and the opening, and its deposits."""
    bid_ids = [b.bid_id for lot in lots for b in lot.bids]
    prints = {f.bid_id: f for f in db.session.scalars(
        select(BidFingerprint).where(BidFingerprint.bid_id.in_(bid_ids)))} if bid_ids else {}
    accounts, applicants, records = _deposit_facts(tender.id)
    enriched = []
    for lot in lots:
        bids = []
        for b in lot.bids:
            found = prints.get(b.bid_id)
            bids.append(BidFacts(**{
                **b.__dict__,
                "network": found.network_digest if found else None,
                "device": found.device_digest if found else None,
                "documents": tuple(found.documents or ()) if found else (),
                "deposit_accounts": frozenset(accounts.get(b.organisation_id, ())),
                "guarantee_applicants": frozenset(applicants.get(b.organisation_id, ())),
            }))
        enriched.append(LotFacts(**{**lot.__dict__, "bids": tuple(bids)}))
    documents = frozenset(db.session.scalars(select(TenderDocument.sha256)
                                             .where(TenderDocument.tender_id == tender.id)))
    return TenderFacts(tender_id=tender.id, lots=tuple(enriched), published_at=tender.published_at,
                       submission_deadline=tender.submission_deadline,
                       procurement_method=tender.procurement_method, tender_documents=documents), records


# -- wording and evidence ---------------------------------------------------------------------------------


def _opened_entries(tender_id: int) -> dict[int, int]:
    """Bid id -> the index of its "opening.bid_opened" log entry."""
    found: dict[int, int] = {}
    marker = f'"tender":{tender_id}'
    for index, body in db.session.execute(select(LogEntry.index, LogEntry.body).where(
            LogEntry.event == "opening.bid_opened", LogEntry.body.contains(marker))):
        entry = json.loads(body)
        if entry.get("subject", {}).get("tender") == tender_id:
            found[entry.get("data", {}).get("bid")] = index
    return found


def _entry(index: int, event: str) -> dict[str, Any]:
    return {"kind": "log_entry", "index": index, "event": event,
            "label": _("Log entry %(index)s (%(event)s) with its inclusion proof", index=index, event=event),
            "url": url_for("log_api.entry", index=index)}


def evidence_for(finding: Finding, tender: Tender, bids: dict[int, Bid], opened: dict[int, int],
                 records: dict[int, list], prints: dict[int, BidFingerprint]) -> list[dict[str, Any]]:
    """The records behind a finding, each with a link where the platform has a page for it."""
    found: list[dict[str, Any]] = []
    for bid_id in finding.bids:
        bid = bids[bid_id]
        name = bid.organisation.name
        if bid.receipt_document_id is not None:
            found.append({"kind": "receipt", "bid": bid_id,
                          "label": _("Bid receipt of %(name)s", name=name),
                          "url": url_for("signing.document_page", document_id=bid.receipt_document_id)})
        found.append({**_entry(bid.log_index, "bid.submitted"), "bid": bid_id})
        if finding.code in PRICE_CODES and bid_id in opened:
            found.append({**_entry(opened[bid_id], "opening.bid_opened"), "bid": bid_id})
        fingerprint = prints.get(bid_id)
        if finding.code in {"same_network", "same_device"} and fingerprint is not None:
            value = fingerprint.network_digest if finding.code == "same_network" \
                else fingerprint.device_digest
            found.append({"kind": "fingerprint", "bid": bid_id, "url": None,
                          "label": _("Recorded at submission for %(name)s: %(digest)s", name=name,
                                     digest=value or "")})
        if finding.code in {"same_document", "same_pdf_author", "same_pdf_software", "foreign_document"} \
                and fingerprint is not None:
            for doc in fingerprint.documents or []:
                if _document_matches(finding, doc):
                    found.append({"kind": "document", "bid": bid_id, "url": None, "sha256": doc.get("sha256"),
                                  "label": _("%(name)s in the envelope of %(bidder)s (SHA-256 %(sha256)s)",
                                             name=doc.get("name"), bidder=name, sha256=doc.get("sha256"))})
        if finding.code in {"same_deposit_account", "same_guarantee_applicant"}:
            for kind, record in records.get(bid.organisation_id, []):
                if kind == "guarantee" and finding.code == "same_guarantee_applicant":
                    found.append({"kind": "guarantee", "bid": bid_id,
                                  "label": _("Guarantee %(id)s of %(name)s", id=record.id, name=name),
                                  "url": url_for("deposits_api.get_guarantee", guarantee_id=record.id)})
                elif kind == "cash_account" and finding.code == "same_deposit_account":
                    found.append({"kind": "cash_account", "bid": bid_id, "url": None,
                                  "label": _("Cash deposit account %(number)s of %(name)s",
                                             number=record.account_number, name=name)})
    opening = db.session.scalar(select(Opening).where(Opening.tender_id == tender.id))
    if opening is not None and opening.record_document_id is not None and finding.code in PRICE_CODES:
        found.append({"kind": "opening_record", "label": _("The signed opening record"),
                      "url": url_for("signing.document_page", document_id=opening.record_document_id)})
    for extra in finding.evidence:
        if extra.get("kind") == "tender":
            found.append({"kind": "tender", "tender": extra["tender"],
                          "label": _("Tender %(id)s: its timeline in the audit log", id=extra["tender"]),
                          "url": url_for("audit_desk.timeline_page", tender_id=extra["tender"])})
    found.append({"kind": "audit_log", "label": _("This tender's entries in the audit log"),
                  "url": url_for("audit_desk.log_page", tender=tender.id)})
    return found


def _document_matches(finding: Finding, doc: dict[str, Any]) -> bool:
    numbers, pdf = finding.numbers, doc.get("pdf") if isinstance(doc.get("pdf"), dict) else {}
    if finding.code == "same_document":
        return doc.get("sha256") == numbers.get("sha256")
    if finding.code == "same_pdf_author":
        return str(pdf.get("author") or "").strip() == numbers.get("author")
    if finding.code == "same_pdf_software":
        return (str(pdf.get("creator") or "").strip(), str(pdf.get("producer") or "").strip()) == \
            (numbers.get("creator"), numbers.get("producer"))
    return doc.get("name") == numbers.get("name")


def word(finding: Finding, tender: Tender, bids: dict[int, Bid], opened: dict[int, int],
         records: dict[int, list], prints: dict[int, BidFingerprint]) -> Signal:
    numbers = {**finding.numbers, "lot": finding.lot}
    if "kind" in numbers:
        numbers["kind"] = str(STEP_KINDS.get(numbers["kind"], numbers["kind"]))
    applicant = str(numbers.get("applicant") or "")
    if applicant.startswith("user:") and applicant[5:].isdigit():
        person = db.session.get(User, int(applicant[5:]))
        if person is not None:
            numbers["applicant"] = f"{person.display_name} ({person.username})"
    explanation = str(EXPLANATIONS[finding.code]) % {k: ("" if v is None else v) for k, v in numbers.items()}
    involved = [bids[i] for i in finding.bids]
    organisations = list({b.organisation_id: {"id": b.organisation_id, "name": b.organisation.name,
                                              "credit_code": b.organisation.credit_code}
                          for b in involved}.values())
    return Signal(
        code=finding.code, title=str(TITLES[finding.code]), explanation=explanation,
        severity=finding.severity,
        severity_label=str(SEVERITIES[finding.severity]), lot=finding.lot,
        bids=[{"id": b.id, "organisation": b.organisation.name, "lot": b.lot_number,
               "envelope_sha256": b.envelope_sha256, "log_index": b.log_index} for b in involved],
        organisations=organisations, evidence=evidence_for(finding, tender, bids, opened, records, prints),
        numbers=finding.numbers)


def signals_for(tender: Tender, *, history: dict[int, list[LotFacts]] | None = None) -> list[Signal]:
    """The tender's signals (call `readable_tender` first: it refuses before the opening has ended).

    Reads only; changes nothing.
    """
    opening = db.session.scalar(select(Opening).where(Opening.tender_id == tender.id))
    if opening is None or opening.state not in ENDED:
        raise SignalsRefused(_("Signals are computed only after the tender's opening has ended; before it "
                               "nothing of the bids may be compared."), code="not_opened", status=409)
    if history is None:
        history = _lots_of(None)
    lots = history.get(tender.id) or _lots_of([tender.id]).get(tender.id, [])
    facts, records = tender_facts(tender, lots)
    past = [lot for tender_id, each in history.items() if tender_id != tender.id for lot in each]
    settings = Settings.from_config(current_app.config)
    findings = rules.evaluate(facts, past, settings)
    if not findings:
        return []
    bid_ids = {i for f in findings for i in f.bids}
    bids = {b.id: b for b in db.session.scalars(select(Bid).where(Bid.id.in_(bid_ids)))} if bid_ids else {}
    prints = {f.bid_id: f for f in db.session.scalars(
        select(BidFingerprint).where(BidFingerprint.bid_id.in_(bid_ids)))} if bid_ids else {}
    opened = _opened_entries(tender.id) if any(f.code in PRICE_CODES for f in findings) else {}
    return [word(f, tender, bids, opened, records, prints) for f in findings]


def read_signals(tender_id: int, actor: User | None) -> tuple[Tender, list[Signal]]:
    """What the page and the API show: refused and logged unless allowed; the reading itself logged."""
    tender = readable_tender(tender_id, actor)
    found = signals_for(tender)
    audit.record("supervision.signals_viewed", actor=actor, subject={"tender": tender.id},
                 data={"codes": sorted({s.code for s in found}), "count": len(found)})
    return tender, found


def tenders_with_signals(actor: User | None) -> list[dict[str, Any]]:
    """The opened tenders (newest openings first, at most LIST_LIMIT) with the number of signals of each
    severity; the reading is logged."""
    check_reader(actor, {"signals": "list"})
    history = _lots_of(None)
    openings = db.session.scalars(select(Opening).where(Opening.state.in_(ENDED))
                                  .order_by(Opening.started_at.desc(), Opening.id.desc()).limit(LIST_LIMIT))
    listed = []
    for opening in openings:
        tender = opening.tender
        found = signals_for(tender, history=history)
        if not found:
            continue
        counts = {level: sum(1 for s in found if s.severity == level) for level in SEVERITIES}
        listed.append({"tender": tender, "id": tender.id, "reference": tender.reference,
                       "title": tender.title,
                       "count": len(found), "counts": counts, "codes": sorted({s.code for s in found})})
    audit.record("supervision.signals_viewed", actor=actor, subject={"signals": "list"},
                 data={"tenders": [t["id"] for t in listed]})
    return listed
