"""`ebid verify-draw`: recompute an expert panel's draw from its published inputs, on the auditor's machine.

Registered into `signing.client` (listed in its COMMAND_MODULES); imports neither Flask nor the application.
With --server it also checks, against the log's published key, that the close checkpoint is signed, that it
contains the tender's "tender.closed" entry, and that the draw's own log entry states the record's hash.

Exit status: 0 the panel matches, 1 a check failed (mismatch), 2 usage, file or network problem.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from typing import Any

from bidding.experts import draw
from signing import merkle
from signing.checkpoint import Checkpoint, CheckpointError, parse_vkey, verify_checkpoint
from signing.client import EXIT_OK, Server, UsageError, _log_keys, _out, _read_json, _server, command
from signing.verify import VerificationError


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("record", metavar="RECORD_FILE", nargs="?",
                        help="the draw record (the API's answer or the bare record), or - for stdin; "
                             "instead of --server")
    parser.add_argument("--server", metavar="URL",
                        help="fetch the record, the log key and the log entries here")
    parser.add_argument("--tender", type=int, metavar="ID", help="with --server: the tender")
    parser.add_argument("--lot", type=int, default=1, metavar="N", help="with --server: the lot (default 1)")
    parser.add_argument("--draw", type=int, default=1, metavar="N",
                        help="with --server: the draw number (1, then 2... for supplementary draws)")
    parser.add_argument("--log-key", metavar="FILE", help="the log's verifier key (or /api/log/key JSON)")
    parser.add_argument("--key", metavar="VKEY", help="the log's verifier key itself, on the command line")


def _signed(note: Any, vkeys: list[str], what: str) -> Checkpoint:
    """The checkpoint in `note` once one of the log keys' signatures on it verifies."""
    if not isinstance(note, str):
        raise VerificationError(f"{what} is not a signed note")
    problems = []
    for text in vkeys:
        try:
            name, public_key = parse_vkey(text.strip())
            return verify_checkpoint(note, name, public_key)
        except CheckpointError as exc:
            problems.append(str(exc))
    raise VerificationError(f"{what} is not signed by the log's key: {'; '.join(problems)}")


def _included(proof: Any, index: int, tree_size: int, root: bytes, what: str) -> dict[str, Any]:
    """The entry of an /api/log/entries answer, once its inclusion proof leads to `root`."""
    try:
        body = proof["entry"]
        hashes = [base64.b64decode(h, validate=True) for h in proof["inclusion_proof"]]
        merkle.verify_inclusion(merkle.leaf_hash(body.encode()), index, tree_size, hashes, root)
        return json.loads(body)
    except (KeyError, TypeError, ValueError, binascii.Error, merkle.ProofError) as exc:
        raise VerificationError(f"{what}: its inclusion proof does not verify: {exc}") from None


def _check_log(server: Server, record: dict[str, Any], log_index: Any, vkeys: list[str]) -> None:
    """The close entry is in the close checkpoint; the draw's entry states this record's hash."""
    close = record["close"]
    root = draw.decode_root(close["root_hash"])
    closed = _included(server.json(f"/api/log/entries/{close['log_index']}", tree_size=close["tree_size"]),
                       close["log_index"], close["tree_size"], root, f"log entry {close['log_index']}")
    if closed.get("event") != "tender.closed" or closed.get("subject") != {"tender": record["tender"]}:
        raise VerificationError(f"log entry {close['log_index']} is not tender {record['tender']}'s close")
    _out(f"Close: log entry {close['log_index']} is tender {record['tender']}'s close, in the checkpoint")
    if type(log_index) is not int:
        raise UsageError("the platform's answer has no log_index for the draw")
    answer = server.json(f"/api/log/entries/{log_index}")
    latest = _signed(answer.get("checkpoint"), vkeys, "the latest checkpoint")
    drawn = _included(answer, log_index, latest.size, latest.root, f"log entry {log_index}")
    expected = draw.record_sha256(record)
    if drawn.get("event") != "panel.drawn" or drawn.get("data", {}).get("record_sha256") != expected:
        raise VerificationError(f"log entry {log_index} does not publish this record (SHA-256 {expected})")
    _out(f"Logged: entry {log_index} (panel.drawn) states the record's SHA-256 {expected}")


@command("verify-draw",
         "recompute an expert panel's draw from its published inputs and say whether it matches", _configure)
def verify_draw_command(args: argparse.Namespace) -> int:
    if bool(args.server) == bool(args.record):
        raise UsageError("give either --server URL with --tender ID, or a RECORD_FILE")
    if args.server and args.tender is None:
        raise UsageError("--server needs --tender ID (and --lot, --draw when not 1)")
    if not args.server and not (args.log_key or args.key):
        raise UsageError("give --log-key FILE or --key VKEY to check the close checkpoint's signature")
    with _server(args) as server:
        if server is not None:
            answer = server.json(f"/api/tenders/{args.tender}/panels/{args.lot}/draws/{args.draw}")
        else:
            answer = _read_json(args.record, "draw record")
        record = answer.get("record", answer) if isinstance(answer, dict) else answer
        if not isinstance(record, dict):
            raise UsageError("the draw record is not a JSON object")
        vkeys = _log_keys(args, server)
        try:
            result = draw.recompute(record)
        except draw.RecordError as exc:
            raise VerificationError(f"the draw record is malformed: {exc}") from None
        close = record["close"]
        checkpoint = _signed(close.get("checkpoint"), vkeys, "the close checkpoint")
        if checkpoint.root != draw.decode_root(close["root_hash"]) or checkpoint.size != close["tree_size"]:
            raise VerificationError(
                "the close checkpoint's size or root differs from the record's close inputs")
        _out(f"Tender {record['tender']}, lot {record['lot']}, draw {record['draw']}")
        _out(f"Close checkpoint: {checkpoint.origin}, size {checkpoint.size}, signed by the log's key")
        if server is not None:
            _check_log(server, record, answer.get("log_index"), vkeys)
    _out(f"Seed: {result.seed} (HMAC-SHA256 of the public inputs, keyed by the close checkpoint's root)")
    _out(f"Candidates: {len(record.get('candidates', []))}")
    for pick in result.picks:
        role = "seat" if pick.seat else "backup"
        _out(f"  slot {pick.slot + 1} #{pick.position} ({role}): {pick.pseudonym}")
    if not result.matches:
        for line in result.mismatches:
            _out(f"MISMATCH: {line}")
        count = len(result.mismatches)
        raise VerificationError(f"the published panel does not match the recomputed draw "
                                f"({count} difference{'s' if count != 1 else ''})")
    _out(f"OK: match: draw {record['draw']} of tender {record['tender']} lot {record['lot']} recomputed; "
         f"the published panel of {len(result.picks)} picks is the one the seed gives")
    return EXIT_OK
