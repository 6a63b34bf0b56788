"""Open data: each tender's public history as OCDS 1.1 releases, a release package and a compiled record.

Built from the records (the tender, its amendments, the clarifications answered publicly, the opening's
rows, the award) with the dates the audit log and the records carry. Deterministic: the same data gives
the same releases with the same ids and, serialised with `dumps`, byte-identical JSON.

Nothing appears before the rules make it public (docs/supervision.md, "Open data (OCDS)" says each):
- no draft tender (`is_public`: published, with a publication time);
- bids (the Bids extension's `bids.details[]`) and the tenderers only once the opening concluded: its
  bidders' names and prices are announced there, and not before (a tender under evaluation, in
  publicity or awarded without an opening row, as in data made for tests, counts as concluded);
- awards only once the award is issued; the publicised candidates are not published as awards;
- never the asker of a clarification, never an objection's text, never an expert.

Merging (the compiled release) follows the standard's merge rules for what we emit: objects are
merged field by field, arrays of objects with an `id` are merged by id, other arrays are replaced
whole, later releases (by date, then by their order here) win.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select

from bidding.evaluation.award import Award, Publicity
from bidding.lifecycle import TenderState
from bidding.models import EvaluationMethod, Tender
from bidding.opening.models import BidOpening, BidOpeningState, Opening
from bidding.submissions.models import Bid
from bidding.tender_questions import published as published_questions
from core.extensions import db
from core.models import Organisation
from signing.models import LogEntry

#: The default OCID prefix ("ocds-" and six characters, as the Open Contracting Partnership assigns them);
#: a deployment registers its own and sets OCDS_PREFIX.
DEFAULT_PREFIX = "ocds-ebid01"
VERSION = "1.1"
#: org-id.guide's list code for China's unified social credit code (统一社会信用代码).
SCHEME = "CN-USCC"

#: Tender states after the opening concluded (its bids and tenderers are public from then on).
AFTER_OPENING = (TenderState.EVALUATING, TenderState.PUBLICITY, TenderState.AWARDED)

#: Our project types -> OCDS mainProcurementCategory (goods, works, services).
CATEGORY = {"construction": "works", "goods": "goods", "services": "services", "survey_design": "services",
            "supervision": "services", "government_procurement": "goods"}
#: Our procurement methods -> OCDS procurementMethod (open, selective, limited, direct).
METHOD = {"open_tendering": "open", "invited_tendering": "selective", "competitive_negotiation": "limited",
          "competitive_consultation": "limited", "inquiry": "limited", "single_source": "direct"}
AWARD_CRITERIA = {EvaluationMethod.LOWEST_EVALUATED_PRICE: "priceOnly",
                  EvaluationMethod.COMPREHENSIVE_SCORING: "ratedCriteria"}
#: A bid's state at the opening -> the Bids extension's bidStatus.
BID_STATUS = {BidOpeningState.OPENED: "valid", BidOpeningState.REVOKED: "withdrawn",
              BidOpeningState.PLATFORM_FAULT: "withdrawn", BidOpeningState.FAILED: "disqualified"}


def prefix() -> str:
    return current_app.config.get("OCDS_PREFIX") or DEFAULT_PREFIX


def ocid(tender: Tender) -> str:
    """The tender's Open Contracting ID: the registered prefix, "-", the tender's number."""
    return f"{prefix()}-{tender.reference}"


def date(value: dt.datetime | str | None) -> str | None:
    """ISO 8601 with its offset, in UTC, to the second."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def value(amount: Decimal | str | None, currency: str) -> dict[str, Any] | None:
    """OCDS Value: the amount as a JSON number (exact for the platform's 2-decimal amounts below 10^13)."""
    if amount is None:
        return None
    return {"amount": float(Decimal(str(amount))), "currency": currency}


def party_id(org: Organisation) -> str:
    return f"{SCHEME}-{org.credit_code}"


def reference(org: Organisation) -> dict[str, str]:
    return {"id": party_id(org), "name": org.name}


def party(org: Organisation, roles: list[str]) -> dict[str, Any]:
    return {"id": party_id(org), "name": org.name,
            "identifier": {"scheme": SCHEME, "id": org.credit_code, "legalName": org.name},
            "roles": roles}


def is_public(tender: Tender | None) -> bool:
    return tender is not None and tender.is_public


def opening_of(tender: Tender) -> Opening | None:
    return db.session.scalar(select(Opening).where(Opening.tender_id == tender.id))


def opening_concluded(tender: Tender, opening: Opening | None) -> bool:
    """Whether the opening's results are public: it concluded (or failed), or the tender is past it."""
    if opening is not None:
        return opening.concluded_at is not None
    return tender.state in AFTER_OPENING


def _rows(tender: Tender) -> list[BidOpening]:
    return list(db.session.scalars(
        select(BidOpening).join(Bid, Bid.id == BidOpening.bid_id)
        .where(BidOpening.tender_id == tender.id).order_by(Bid.lot_number, Bid.id)))


def _log_time(event: str, tender_id: int) -> dt.datetime | None:
    """When the audit log recorded `event` about the tender (the first such entry)."""
    query = select(LogEntry.body, LogEntry.created_at).where(LogEntry.event == event).order_by(LogEntry.index)
    for body, at in db.session.execute(query):
        if json.loads(body).get("subject", {}).get("tender") == tender_id:
            return at
    return None


def _texts(tender: Tender) -> dict[str, Any]:
    """The amendable fields as the amendments record them (text forms), current values."""
    return {"title": tender.title, "description": tender.description,
            "submission_deadline": date(tender.submission_deadline),
            "opening_time": date(tender.opening_time)}


def _states(tender: Tender) -> list[dict[str, Any]]:
    """The amendable fields as they stood at publication (index 0) and after each amendment (index n)."""
    amendments = sorted(tender.amendments, key=lambda a: a.number)
    now = _texts(tender)
    states = [dict(now)]
    for a in reversed(amendments):
        before = dict(states[0])
        for name, change in (a.changes or {}).items():
            if name in before:
                old = change["from"]
                before[name] = date(old) if name.endswith(("_deadline", "_time")) else old
        states.insert(0, before)
    return states


def _tender_fields(tender: Tender, texts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": tender.reference,
        "title": texts["title"],
        "status": "active",
        "procuringEntity": reference(tender.tendering_office),
        "value": value(tender.estimated_amount, tender.currency),
        "procurementMethod": METHOD.get(tender.procurement_method, "open"),
        "procurementMethodDetails": tender.procurement_method,
        "awardCriteria": AWARD_CRITERIA[tender.evaluation_method],
        "tenderPeriod": {"startDate": date(tender.published_at), "endDate": texts["submission_deadline"]},
        "bidOpening": {"date": texts["opening_time"]},
    }
    if texts["description"]:
        out["description"] = texts["description"]
    if tender.project_type in CATEGORY:
        out["mainProcurementCategory"] = CATEGORY[tender.project_type]
    if tender.lots:
        out["lots"] = [{"id": str(lot.number), "title": lot.title,
                        "value": value(lot.estimated_amount, tender.currency)} for lot in tender.lots]
    return out


class _Parties:
    """The parties known so far, each with every role it holds so far (the record merges by id and
    replaces `roles` whole, so each release carries the full list)."""

    def __init__(self) -> None:
        self.orgs: dict[str, Organisation] = {}
        self.roles: dict[str, list[str]] = {}

    def add(self, org: Organisation, *roles: str) -> None:
        key = party_id(org)
        self.orgs[key] = org
        held = self.roles.setdefault(key, [])
        held.extend(r for r in roles if r not in held)

    def json(self) -> list[dict[str, Any]]:
        return [party(self.orgs[k], self.roles[k]) for k in sorted(self.orgs)]


def releases(tender: Tender) -> list[dict[str, Any]]:
    """The tender's public releases, oldest first (an empty list for a tender that is not public)."""
    if not is_public(tender):
        return []
    the_ocid = ocid(tender)
    parties = _Parties()
    parties.add(tender.tendering_office, "buyer", "procuringEntity")
    out: list[dict[str, Any]] = []

    def release(kind: str, when: dt.datetime | str | None, tag: str, tender_part: dict[str, Any],
                **more: Any) -> None:
        out.append({"ocid": the_ocid, "id": f"{the_ocid}-{kind}", "date": date(when), "tag": [tag],
                    "initiationType": "tender", "language": "zh", "parties": parties.json(),
                    "buyer": reference(tender.tendering_office),
                    "tender": {"id": tender.reference, **tender_part}, **more})

    states = _states(tender)
    release("tender", tender.published_at, "tender", _tender_fields(tender, states[0]))
    amendments = sorted(tender.amendments, key=lambda a: a.number)
    previous = [f"{the_ocid}-tender"] + [f"{the_ocid}-amendment-{x.number}" for x in amendments]
    for n, a in enumerate(amendments, start=1):
        fields = _tender_fields(tender, states[n])
        fields["amendments"] = [{
            "id": str(x.number), "date": date(x.created_at), "rationale": x.reason,
            "description": "; ".join(sorted(x.changes or {})) or "clarification",
            "amendsReleaseID": previous[i], "releaseID": previous[i + 1]}
            for i, x in enumerate(amendments[:n])]
        release(f"amendment-{a.number}", a.created_at, "tenderAmendment", fields)
    for q in sorted(published_questions(tender), key=lambda q: q.number):
        release(f"enquiry-{q.number}", q.answered_at, "tenderUpdate", {"enquiries": [{
            "id": str(q.number), "date": date(q.asked_at), "description": q.question,
            "answer": q.answer, "dateAnswered": date(q.answered_at)}]})

    opening = opening_of(tender)
    rows = _rows(tender) if opening_concluded(tender, opening) else []
    if rows:
        details = []
        for row in rows:
            bid = row.bid
            parties.add(bid.organisation, "tenderer")
            item: dict[str, Any] = {"id": str(bid.id), "date": date(bid.submitted_at),
                                    "status": BID_STATUS.get(row.state, "pending"),
                                    "tenderers": [reference(bid.organisation)],
                                    "relatedLots": [str(bid.lot_number)]}
            if row.state == BidOpeningState.OPENED and row.price_amount is not None:
                item["value"] = value(row.price_amount, row.price_currency or tender.currency)
            details.append(item)
        tenderers = {party_id(r.bid.organisation): r.bid.organisation for r in rows}
        when = (opening.concluded_at if opening is not None
                else max((r.opened_at for r in rows if r.opened_at), default=tender.opening_time))
        release("opening", when, "tenderUpdate",
                {"numberOfTenderers": len(tenderers),
                 "tenderers": [reference(tenderers[k]) for k in sorted(tenderers)]},
                bids={"details": details})

    awards = _awards(tender)
    if awards:
        for a in awards:
            parties.add(a.organisation, "tenderer", "supplier")
        publicity = db.session.scalar(select(Publicity).where(Publicity.tender_id == tender.id))
        when = publicity.awarded_at if publicity is not None and publicity.awarded_at else None
        release("award", when or awards[0].awarded_at, "award", {"status": "complete"}, awards=[{
            "id": f"{tender.reference}-lot-{a.lot_number}", "title": f"Lot {a.lot_number}",
            "status": "active",
            "date": date(a.awarded_at), "value": value(a.price_amount, a.price_currency),
            "suppliers": [reference(a.organisation)], "relatedLots": [str(a.lot_number)],
            "relatedBid": str(a.bid_id)} for a in awards])

    if tender.state == TenderState.CANCELLED and tender.cancelled_at is not None:
        release("cancellation", tender.cancelled_at, "tenderCancellation",
                {"status": "cancelled", "statusDetails": tender.cancel_reason or ""})
    elif tender.state == TenderState.FAILED:
        when = (opening.concluded_at if opening is not None and opening.concluded_at
                else _log_time("tender.failed", tender.id))
        release("failure", when, "tenderCancellation", {"status": "unsuccessful",
                                                        "statusDetails": "too few valid bids"})
    return out


def _awards(tender: Tender) -> list[Award]:
    if tender.state != TenderState.AWARDED:
        return []
    query = select(Award).where(Award.tender_id == tender.id).order_by(Award.lot_number)
    return list(db.session.scalars(query))


# -- packages and the record ----------------------------------------------------------------------


def _published(rels: list[dict[str, Any]]) -> str:
    return max(r["date"] for r in rels)


def publisher() -> dict[str, str]:
    return {"name": current_app.config.get("PLATFORM_NAME") or "e-Bidding Platform"}


def release_package(rels: list[dict[str, Any]], uri: str) -> dict[str, Any]:
    return {"uri": uri, "version": VERSION, "publishedDate": _published(rels), "publisher": publisher(),
            "releases": rels}


def merge(rels: list[dict[str, Any]]) -> dict[str, Any]:
    """The compiled release: the releases merged in date order by the standard's rules for our fields."""
    compiled: dict[str, Any] = {}
    for r in sorted(rels, key=lambda r: r["date"]):  # sorted() is stable: same-date releases keep order
        body = {k: v for k, v in r.items() if k not in ("id", "tag")}
        compiled = _merge(compiled, body)
    compiled["id"] = f"{rels[0]['ocid']}-{_published(rels)}"
    compiled["tag"] = ["compiled"]
    return compiled


def _identified(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "id" in i for i in items)


def _merge(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for key, item in new.items():
            if item is None:
                out.pop(key, None)
            elif key in out:
                out[key] = _merge(out[key], item)
            else:
                out[key] = _merge(None, item)
        return out
    if isinstance(new, list) and _identified(new):
        by_id: dict[str, Any] = {}
        for i in old if isinstance(old, list) and _identified(old) else []:
            by_id[i["id"]] = i
        for i in new:
            by_id[i["id"]] = _merge(by_id.get(i["id"]), i)
        return list(by_id.values())
    if isinstance(new, dict):
        return _merge({}, new)
    return new


def record_package(rels: list[dict[str, Any]], uri: str) -> dict[str, Any]:
    return {"uri": uri, "version": VERSION, "publishedDate": _published(rels), "publisher": publisher(),
            "records": [{"ocid": rels[0]["ocid"], "releases": rels, "compiledRelease": merge(rels)}]}


def dumps(document: Any) -> bytes:
    """The one serialisation: UTF-8, keys sorted, no spaces, so the same data gives the same bytes."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def public_tenders() -> list[Tender]:
    """Every tender whose notice is public, by id."""
    return [t for t in db.session.scalars(
        select(Tender).where(Tender.published_at.is_not(None), Tender.state != TenderState.DRAFT)
        .order_by(Tender.id)) if t.is_public]


# -- validation (libcoveocds: a development dependency, used by the tests and `make demo`) --------------

#: The standard's 1.1.5 schema archive shipped with the tests (tests/data/ocds-1.1.5/README.md).
STANDARD_ZIP = "tests/data/ocds-1.1.5/standard-1__1__5.zip"


def validate(document: dict[str, Any], standard_zip: str) -> dict[str, Any]:
    """libcoveocds's checks of a release or record package against the schema in `standard_zip` (a path),
    offline, as the OCDS Data Review Tool's API context runs them: its result, whose
    `validation_errors` must be empty.

    libcoveocds reads the standard from the archive, but the record package schema's reference to the
    versioned release schema is fetched by jsonref over HTTP; while this runs, that one fetch is answered
    from the same archive (`_offline_standard`), so nothing goes to the network."""
    from pathlib import Path
    from tempfile import TemporaryDirectory

    from libcoveocds.api import ocds_json_output
    from libcoveocds.config import LibCoveOCDSConfig

    config = LibCoveOCDSConfig()
    config.config["context"] = "api"
    config.config["standard_zip"] = Path(standard_zip).resolve().as_uri()
    with TemporaryDirectory() as out, _offline_standard(standard_zip):
        data = json.loads(dumps(document))  # exactly what is published
        return ocds_json_output(out, None, None, convert=False, json_data=data, lib_cove_ocds_config=config)


class _OfflineStandard:
    """Stands in for `requests` inside jsonref: the standard's schema URLs are read from the archive."""

    PREFIX = "://standard.open-contracting.org/schema/1__1__5/"

    def __init__(self, standard_zip: str) -> None:
        import zipfile

        with zipfile.ZipFile(standard_zip) as archive:
            self.files = {n.rsplit("/", 1)[-1]: archive.read(n) for n in archive.namelist()
                          if n.endswith(".json")}

    def get(self, uri: str, **_kwargs: Any) -> Any:
        if self.PREFIX not in uri:
            raise ConnectionError(f"validation runs offline; {uri} is not in the standard's archive")
        body = self.files[uri.split(self.PREFIX, 1)[1]]

        class Answer:
            @staticmethod
            def raise_for_status() -> None:
                return None

            @staticmethod
            def json(**kwargs: Any) -> Any:
                return json.loads(body, **kwargs)

        return Answer()


def _offline_standard(standard_zip: str):
    import contextlib

    import jsonref

    @contextlib.contextmanager
    def swapped():
        saved = jsonref.requests
        jsonref.requests = _OfflineStandard(standard_zip)
        try:
            yield
        finally:
            jsonref.requests = saved

    return swapped()
