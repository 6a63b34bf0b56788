"""The public audit-log API under /api/log: checkpoint, key, entries with proofs, consistency, export."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from sqlalchemy import select
from sqlalchemy.exc import NoResultFound

from app.errors import error_response
from app.extensions import csrf, db
from app.openapi import document
from app.validation import ValidationError, parse_int
from signing import audit, logstore
from signing.models import LogEntry

log_api = Blueprint("log_api", __name__, url_prefix="/api/log")
csrf.exempt(log_api)  # read-only, and no cookie ever authenticates an API call

_MAX_SIZE = 2**53 - 1  # sizes are JSON numbers; beyond this they would not survive a parser
_PROOF = {"index": "integer", "entry": "string", "leaf_hash": "string", "tree_size": "integer",
          "root_hash": "string", "inclusion_proof": ["string"], "checkpoint": "string"}


def _size_arg(name: str) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    return parse_int(value, name, minimum=0, maximum=_MAX_SIZE)


@log_api.get("/checkpoint")
@document(summary="The latest signed checkpoint (a C2SP tlog-checkpoint signed note)", public=True,
          response="string", content_type="text/plain")
def checkpoint():
    return Response(audit.checkpoint_note(), mimetype="text/plain")


@log_api.get("/key")
@document(summary="The note verifier key that signs checkpoints", public=True,
          response={"origin": "string", "vkey": "string", "vkeys": ["string"]})
def key():
    vkeys = audit.published_vkeys()
    return jsonify({"origin": audit.origin(), "vkey": vkeys[-1] if vkeys else None, "vkeys": vkeys})


@log_api.get("/entries/<int:index>")
@document(summary="One log entry with its inclusion proof (tree_size defaults to the latest checkpoint's)",
          public=True, query={"tree_size": "integer"}, response=_PROOF)
def entry(index: int):
    tree_size = _size_arg("tree_size")
    missing = _missing_entry(index)
    if missing is not None:
        return missing
    try:
        return jsonify(audit.inclusion(index, tree_size))
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
          public=True, query={"first": "integer", "second": "integer"},
          response={"first": "integer", "second": "integer", "first_root": "string", "second_root": "string",
                    "proof": ["string"]})
def consistency():
    first = _size_arg("first")
    if first is None:
        raise ValidationError("first", "first (the smaller tree size) is required")
    return jsonify(audit.consistency(first, _size_arg("second")))


@log_api.get("/export")
@document(summary="The log up to the latest checkpoint as JSON Lines: a header, then each entry",
          public=True, response="string", content_type="application/x-ndjson")
def export():
    lines = audit.export_lines()  # refuses (404) here, before the stream starts
    return Response(stream_with_context(lines), mimetype="application/x-ndjson",
                    headers={"Content-Disposition": "attachment; filename=ebid-log.jsonl"})
