"""The public audit-log API under /api/log: checkpoint, key, entries with proofs, consistency, export."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, stream_with_context
from pydantic import field_validator
from sqlalchemy import select
from sqlalchemy.exc import NoResultFound

from core.errors import error_response
from core.extensions import csrf, db
from core.openapi import document
from core.shapes import RequestModel, ResponseModel, Whole, read_query, respond
from core.validation import ValidationError
from signing import audit, logstore
from signing.models import LogEntry

log_api = Blueprint("log_api", __name__, url_prefix="/api/log")
csrf.exempt(log_api)  # read-only, and no cookie ever authenticates an API call

_MAX_SIZE = 2**53 - 1  # sizes are JSON numbers; beyond this they would not survive a parser
_Size = Whole(minimum=0, maximum=_MAX_SIZE)


class EntryQuery(RequestModel):
    tree_size: _Size | None = None

    @field_validator("tree_size", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return None if value == "" else value


class ConsistencyQuery(RequestModel):
    first: _Size
    second: _Size | None = None

    @field_validator("first", "second", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("first", mode="before")
    @classmethod
    def _first_given(cls, value: Any) -> Any:
        if value is None or value == "":
            raise ValidationError(None, "first (the smaller tree size) is required")
        return value


class LogKey(ResponseModel):
    origin: str
    vkey: str | None
    vkeys: list[str]


class InclusionOut(ResponseModel):
    """An entry (its exact bytes as text), its leaf hash and its inclusion proof (hashes in base64)."""

    index: int
    entry: str
    leaf_hash: str
    tree_size: int
    root_hash: str
    inclusion_proof: list[str]
    checkpoint: str | None


class ConsistencyOut(ResponseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]


@log_api.get("/checkpoint")
@document(summary="The latest signed checkpoint (a C2SP tlog-checkpoint signed note)", public=True,
          response="string", content_type="text/plain")
def checkpoint():
    return Response(audit.checkpoint_note(), mimetype="text/plain")


@log_api.get("/key")
@document(summary="The note verifier key that signs checkpoints", public=True,
          response=LogKey)
def key():
    vkeys = audit.published_vkeys()
    return respond(LogKey(origin=audit.origin(), vkey=vkeys[-1] if vkeys else None, vkeys=vkeys))


@log_api.get("/entries/<int:index>")
@document(summary="One log entry with its inclusion proof (tree_size defaults to the latest checkpoint's)",
          public=True, query=EntryQuery, response=InclusionOut)
def entry(index: int):
    tree_size = read_query(EntryQuery).tree_size
    missing = _missing_entry(index)
    if missing is not None:
        return missing
    try:
        return respond(InclusionOut(**audit.inclusion(index, tree_size)))
    except NoResultFound:  # a row of the tree behind the entry is missing: the same inconsistency
        db.session.rollback()
        return _inconsistent(index, logstore.size(), "a hash of the tree above it is missing")


def _missing_entry(index: int) -> Response | None:
    """The log counts entry `index` but its row is not in the database: say so, never answer 500 blind.

    The log is append-only (the database refuses deletions), so this means a damaged or partly restored
    database; the operator must look, and the reader learns which entry is affected.
    """
    size = logstore.size()
    if not 0 <= index < size:
        return None  # not in the log at all: `audit.inclusion` answers 404
    stored = db.session.scalar(select(LogEntry.index).where(LogEntry.index == index))
    if stored is not None:
        return None
    return _inconsistent(index, size, "its row is missing from the database")


def _inconsistent(index: int, size: int, what: str) -> Response:
    current_app.logger.error("audit log inconsistent: entry %d of %d cannot be served: %s", index, size, what)
    return error_response(
        500, "log_inconsistent",
        f"the log is inconsistent: it has {size} entries but entry {index} cannot be served ({what}); "
        "the platform's operator has been alerted")


@log_api.get("/consistency")
@document(summary="A consistency proof between two tree sizes (second defaults to the latest checkpoint's)",
          public=True, query=ConsistencyQuery, response=ConsistencyOut)
def consistency():
    query = read_query(ConsistencyQuery)
    return respond(ConsistencyOut(**audit.consistency(query.first, query.second)))


@log_api.get("/export")
@document(summary="The log up to the latest checkpoint as JSON Lines: a header, then each entry",
          public=True, response="string", content_type="application/x-ndjson")
def export():
    lines = audit.export_lines()  # refuses (404) here, before the stream starts
    return Response(stream_with_context(lines), mimetype="application/x-ndjson",
                    headers={"Content-Disposition": "attachment; filename=ebid-log.jsonl"})
