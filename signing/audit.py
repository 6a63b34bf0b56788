"""The audit log: append entries, make signed checkpoints, answer proofs, export it, issue receipts.

A service: it flushes and never commits, so an entry and the state change it records are one
transaction, committed (or rolled back) together by the caller. docs/audit-log.md is the spec.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_request_context, request
from sqlalchemy import select

from core.errors import Refused
from core.extensions import db
from core.models import User
from core.orm import utcnow
from core.validation import ValidationError
from signing import jose, logstore
from signing.canonical import canonical_json
from signing.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint, vkey
from signing.keys import KeyPurpose, KeyStore, KeyStoreError, PlatformKey
from signing.merkle import leaf_hash
from signing.models import LogCheckpoint, LogEntry

#: The entry format version, the `v` of every entry.
FORMAT_VERSION = 1
#: The JWS `typ` of a receipt.
RECEIPT_TYPE = "ebid-receipt+jws"
#: Milestone label of the checkpoint a receipt makes when none covers its entry yet.
RECEIPT_MILESTONE = "receipt"
#: Entry times: UTC, ISO 8601, always with microseconds and Z.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_EVENT = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")

#: Who wants to know of an event: event name -> callables `(event, subject, data, actor)`, called by
#: `record` right after the append, in the same transaction (a rollback undoes what they did too).
#: Layers above register here at start-up (the notifications: docs/notifications.md) with `add_listener`;
#: a listener must be cheap, as `record` is on every hot path (an event nobody listens to costs a dict
#: lookup).
Listener = Callable[[str, dict[str, Any], dict[str, Any], User | None], None]
listeners: dict[str, list[Listener]] = {}


def add_listener(event: str, listener: Listener) -> None:
    """Call `listener` after each entry of `event` is appended (once, however often it is added)."""
    registered = listeners.setdefault(event, [])
    if listener not in registered:
        registered.append(listener)


class IpDefault(enum.Enum):
    """The one value of `record`'s `ip` default."""

    FROM_REQUEST = "from the request"


#: `record`'s default `ip`: the address of the request being served (None outside one). An
#: explicit `ip=None` records no address, for entries that must not link a client to an event
#: (a sealed bid's submission names neither the bidder nor where it came from).
FROM_REQUEST = IpDefault.FROM_REQUEST


def b64(value: bytes) -> str:
    """Standard base64, as hashes appear in checkpoints and in the API."""
    return base64.b64encode(value).decode()


def origin() -> str:
    """The log's origin line (configuration `PLATFORM_ORIGIN`, from EBID_ORIGIN)."""
    return current_app.config["PLATFORM_ORIGIN"]


def key_store() -> KeyStore:
    """The platform's keys."""
    store = current_app.extensions.get("ebid.keys")
    if store is None:
        raise KeyStoreError("KEY_ENCRYPTION_KEY is not configured: the platform's keys cannot be opened")
    return store


def checkpoint_key() -> PlatformKey:
    """The Ed25519 key that signs checkpoints now."""
    return key_store().active(KeyPurpose.CHECKPOINT)


def published_vkeys() -> list[str]:
    """Note verifier keys of every unretired checkpoint key, oldest first; the note key name is the origin."""
    return [vkey(origin(), k.public_key) for k in key_store().verification_keys(KeyPurpose.CHECKPOINT)]


def request_context_ip() -> str | None:
    """The client address of the current request, or None outside one."""
    return request.remote_addr if has_request_context() else None


def actor_json(user: User | None) -> dict[str, Any] | None:
    """Who acted, as an entry names them; None for the platform itself."""
    if user is None:
        return None
    organisation = user.organisation
    return {"user": user.id, "username": user.username, "role": user.role.value,
            "organisation": organisation.credit_code if organisation else None}


@dataclass(frozen=True, slots=True)
class AppendedEntry:
    """An entry just appended: the columns of its `log_entries` row (a plain value, not an ORM object)."""

    index: int
    body: str
    leaf_hash: bytes
    event: str
    created_at: dt.datetime


_SAFE_INTEGER = 2**53 - 1


def _plain(value: object, depth: int = 0) -> bool:
    """Whether `json.dumps` with sorted keys writes `value` exactly as RFC 8785 does.

    True for None, bool, str, integers within ±(2**53 - 1), and lists and objects of them whose keys
    sort the same by code point as by UTF-16 code unit (no key has a character at or above U+E000).
    Floats (ECMAScript number formatting) and anything else go to `canonical_json`.
    """
    if value is None or value is True or value is False or type(value) is str:
        return True
    if type(value) is int:
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER
    if depth > 32:
        return False
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) < "\ue000"):
                return False
            if not _plain(item, depth + 1):
                return False
        return True
    if type(value) is list or type(value) is tuple:
        return all(_plain(item, depth + 1) for item in value)
    return False


_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def member_json(value: object) -> bytes:
    """`canonical_json(value)`, through the standard library's C encoder when that gives the same bytes."""
    if value is None:
        return b"null"
    if _plain(value):
        try:
            return _ENCODER.encode(value).encode()
        except UnicodeEncodeError:  # a lone surrogate: canonical_json says what is wrong
            pass
    return canonical_json(value)


def record(event: str, *, actor: User | None, subject: dict[str, Any], data: dict[str, Any] | None = None,
           ip: str | None | IpDefault = FROM_REQUEST, checkpoint: str | None = None) -> AppendedEntry:
    """Append one entry; `ip` defaults to the current request's (None: no address); `checkpoint` names a
    milestone to sign.

    The entry's row and Merkle nodes are written in a batch with the transaction's other appends
    (`logstore.PendingAppends`), before anything else reads or writes through the connection. The
    answer is the row's values, not an ORM object (query `LogEntry` for one).
    """
    if not isinstance(event, str) or len(event) > 64 or not _EVENT.fullmatch(event):
        raise ValueError(f"event {event!r} is not a dotted lower-case name such as 'tender.published'")
    if not isinstance(subject, dict) or not subject:
        raise ValueError("subject must name the entity the event is about, e.g. {'tender': 7}")
    if checkpoint is not None:
        _check_milestone(checkpoint)
    # Each member is serialised before an index is claimed: what cannot be serialised is refused first,
    # so a caller that catches the error and commits anyway leaves no hole in the log. The body is then
    # the members in RFC 8785 order (keys sorted; every key here is ASCII), byte for byte what
    # canonical_json of the whole object gives (tests/unit/signing/test_log_batches.py checks it).
    head = b'{"actor":%s,"data":%s,"event":"%s","index":' % (
        member_json(actor_json(actor)), member_json(data or {}), event.encode())
    address = request_context_ip() if ip is FROM_REQUEST else ip
    tail = b',"ip":%s,"subject":%s,"time":"' % (member_json(address), member_json(subject))
    index, pending = logstore.claim()
    # The time is read after the claim: the head's lock orders entries, so times follow indexes.
    now = utcnow()
    # TIME_FORMAT, spelled out: strftime costs more than the rest of the body's assembly.
    time = b"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (now.year, now.month, now.day, now.hour, now.minute,
                                                     now.second, now.microsecond)
    body = b'%s%d%s%s","v":%d}' % (head, index, tail, time, FORMAT_VERSION)
    leaf = leaf_hash(body)
    text = body.decode()
    pending.add(index, leaf, {"index": index, "body": text, "leaf_hash": leaf, "event": event,
                              "created_at": now})
    entry = AppendedEntry(index, text, leaf, event, now)
    if checkpoint is not None:
        make_checkpoint(milestone=checkpoint)
    hooked = listeners.get(event)
    if hooked:
        for listener in hooked:
            listener(event, subject, data or {}, actor)
    return entry


def _check_milestone(label: str) -> None:
    if not isinstance(label, str) or not 0 < len(label) <= 64 or not label.isprintable():
        raise ValueError(f"milestone {label!r} must be a printable label of 1 to 64 characters")


def latest_checkpoint() -> LogCheckpoint | None:
    """The checkpoint of the largest tree signed so far."""
    return db.session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.tree_size.desc(),
                                                             LogCheckpoint.id.desc()).limit(1)).first()


def make_checkpoint(milestone: str | None = None) -> LogCheckpoint:
    """Sign the log's current tree head; a periodic one (no milestone) is skipped if nothing was added."""
    if milestone is not None:
        _check_milestone(milestone)
    size = logstore.size()
    latest = latest_checkpoint()
    if milestone is None and latest is not None and latest.tree_size >= size:
        return latest
    root = logstore.tree(size).root()
    name = origin()
    note = sign_checkpoint(Checkpoint(name, size, root), name, checkpoint_key().private_key)
    made = LogCheckpoint(tree_size=size, root_hash=root, note=note, milestone=milestone)
    db.session.add(made)
    db.session.flush()
    return made


def _require_checkpoint() -> LogCheckpoint:
    latest = latest_checkpoint()
    if latest is None:
        raise Refused("the log has no signed checkpoint yet", code="not_found", status=404)
    return latest


def checkpoint_note() -> str:
    """The latest checkpoint's signed note."""
    return _require_checkpoint().note


def _check_tree_size(value: int, size: int, field: str) -> None:
    if value < 0:
        raise ValidationError(field, f"{field} must not be negative")
    if value > size:
        raise ValidationError(field, f"{field} {value} is beyond the log, which has {size} entries")


def inclusion(index: int, tree_size: int | None = None) -> dict[str, Any]:
    """Entry `index`, its leaf hash and its inclusion proof in the tree of `tree_size` leaves.

    `tree_size` defaults to the latest checkpoint's, which is returned alongside.
    """
    size = logstore.size()
    if not 0 <= index < size:
        raise Refused(f"log entry {index} does not exist: the log has {size} entries", code="not_found",
                      status=404)
    latest = latest_checkpoint()
    if tree_size is None:
        if latest is None or latest.tree_size <= index:
            covered = latest.tree_size if latest else 0
            raise Refused(f"log entry {index} is not yet covered by a signed checkpoint (the latest covers "
                          f"{covered} entries); ask again after the next one, or pass tree_size",
                          code="not_checkpointed", status=404)
        tree_size = latest.tree_size
    _check_tree_size(tree_size, size, "tree_size")
    if index >= tree_size:
        raise ValidationError("tree_size", f"entry {index} is not in the tree of size {tree_size}: "
                              "tree_size must be greater than the index")
    body, leaf = db.session.execute(
        select(LogEntry.body, LogEntry.leaf_hash).where(LogEntry.index == index)).one()
    tree = logstore.tree(size)
    return {
        "index": index, "entry": body, "leaf_hash": b64(leaf), "tree_size": tree_size,
        "root_hash": b64(tree.root(tree_size)),
        "inclusion_proof": [b64(h) for h in tree.inclusion_proof(index, tree_size)],
        "checkpoint": latest.note if latest else None,
    }


def consistency(first: int, second: int | None = None) -> dict[str, Any]:
    """Proof that the first `first` leaves are a prefix of the first `second` (default: latest checkpoint)."""
    size = logstore.size()
    if second is None:
        second = _require_checkpoint().tree_size
    _check_tree_size(first, size, "first")
    _check_tree_size(second, size, "second")
    if first > second:
        raise ValidationError("first", f"first ({first}) must not exceed second ({second})")
    tree = logstore.tree(size)
    return {"first": first, "second": second, "first_root": b64(tree.root(first)),
            "second_root": b64(tree.root(second)),
            "proof": [b64(h) for h in tree.consistency_proof(first, second)]}


def export_lines() -> Iterator[str]:
    """The log up to the latest checkpoint as JSON Lines (newline-terminated): a header, then the entries.

    Checks happen now, before the first line, so a refusal is an error response rather than a cut stream.
    """
    latest = _require_checkpoint()
    header = canonical_json({
        "ebid_log_export": 1, "origin": parse_checkpoint(latest.note).origin, "tree_size": latest.tree_size,
        "root_hash": b64(latest.root_hash), "checkpoint": latest.note,
    }).decode()
    tree_size = latest.tree_size

    def lines() -> Iterator[str]:
        yield header + "\n"
        for row in logstore.entry_rows(0, tree_size):
            yield row.body + "\n"

    return lines()


def receipt(entry: LogEntry | AppendedEntry, kind: str, subject: dict[str, Any]) -> str:
    """A compact JWS (ES256) proving `entry` is in the log, with a checkpoint covering it."""
    latest = latest_checkpoint()
    if latest is None or latest.tree_size <= entry.index:
        latest = make_checkpoint(milestone=RECEIPT_MILESTONE)
    tree = logstore.tree(latest.tree_size)
    payload = {
        "iss": origin(), "iat": int(utcnow().timestamp()), "kind": kind, "subject": subject,
        "entry": entry.body,
        "log": {"origin": parse_checkpoint(latest.note).origin, "index": entry.index,
                "leaf_hash": b64(entry.leaf_hash), "tree_size": latest.tree_size,
                "root_hash": b64(latest.root_hash),
                "inclusion_proof": [b64(h) for h in tree.inclusion_proof(entry.index)]},
        "checkpoint": latest.note,
    }
    key = key_store().active(KeyPurpose.JWS)
    return jose.sign(payload, kid=key.kid, private_key=key.private_key, typ=RECEIPT_TYPE)


def latest_entry(event: str) -> LogEntry | None:
    """The newest entry of an event (in a transaction that just recorded one, that one)."""
    return db.session.scalar(select(LogEntry).where(LogEntry.event == event).order_by(LogEntry.index.desc()))
