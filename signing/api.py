"""The public audit-log API under /api/log: checkpoint, key, entries with proofs, consistency, export."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, stream_with_context

from app.extensions import csrf
from app.openapi import document
from app.validation import ValidationError, parse_int
from signing import audit

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
    return jsonify(audit.inclusion(index, _size_arg("tree_size")))


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
