"""The supervisor's pages and JSON for the collusion and risk signals (supervision/signals.py).

Every endpoint here is open to anyone signed in in the authorisation table; the view itself refuses anyone
but a supervisor, with a clear message, and logs the refusal (`supervision.signals_refused`), as the
audit desk does. A tender whose opening has not ended, or that does not exist, is refused the same way.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template

from core.errors import Refused
from core.extensions import db
from core.identity import current_actor
from core.openapi import document
from core.shapes import ResponseModel, respond
from supervision import signals

bp = Blueprint("supervision_signals", __name__)


class EvidenceOut(ResponseModel):
    kind: str
    label: str
    url: str | None
    bid: int | None
    index: int | None
    event: str | None
    sha256: str | None
    tender: int | None


class SignalBidOut(ResponseModel):
    id: int
    organisation: str
    lot: int
    envelope_sha256: str
    log_index: int


class SignalOrganisationOut(ResponseModel):
    id: int
    name: str
    credit_code: str


class SignalOut(ResponseModel):
    code: str
    title: str
    explanation: str
    severity: str
    lot: int | None
    bids: list[SignalBidOut]
    organisations: list[SignalOrganisationOut]
    evidence: list[EvidenceOut]
    numbers: dict[str, Any]


class SignalsOut(ResponseModel):
    tender: int
    reference: str
    signals: list[SignalOut]


def _evidence(item: dict[str, Any]) -> EvidenceOut:
    return EvidenceOut(kind=item["kind"], label=item["label"], url=item.get("url"), bid=item.get("bid"),
                       index=item.get("index"), event=item.get("event"), sha256=item.get("sha256"),
                       tender=item.get("tender"))


def _signal(found: signals.Signal) -> SignalOut:
    data = found.as_json()
    return SignalOut(code=data["code"], title=data["title"], explanation=data["explanation"],
                     severity=data["severity"], lot=data["lot"],
                     bids=[SignalBidOut(**b) for b in data["bids"]],
                     organisations=[SignalOrganisationOut(**o) for o in data["organisations"]],
                     evidence=[_evidence(e) for e in data["evidence"]], numbers=data["numbers"])


@bp.get("/api/supervision/tenders/<int:tender_id>/signals")
@document(summary="A tender's collusion and risk signals with their evidence (supervisors, after the "
                  "opening)", response=SignalsOut)
def signals_json(tender_id: int):
    tender, found = signals.read_signals(tender_id, current_actor())
    db.session.commit()  # the reading's log entry
    return respond(SignalsOut(tender=tender.id, reference=tender.reference,
                              signals=[_signal(s) for s in found]))


@bp.get("/supervision/tenders/<int:tender_id>/signals")
def tender_page(tender_id: int):
    try:
        tender, found = signals.read_signals(tender_id, current_actor())
    except Refused as exc:
        abort(exc.status, exc.message)
    db.session.commit()
    return render_template("supervision/signals_tender.html", tender=tender, signals=found,
                           titles=signals.TITLES)


@bp.get("/supervision/signals")
def list_page():
    try:
        listed = signals.tenders_with_signals(current_actor())
    except Refused as exc:
        abort(exc.status, exc.message)
    db.session.commit()
    return render_template("supervision/signals_list.html", tenders=listed, severities=signals.SEVERITIES,
                           titles=signals.TITLES)
