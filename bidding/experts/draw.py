"""The draw itself, as pure functions: the seed, the random stream, pseudonyms and the selection.

The platform runs these to draw a panel; `ebid verify-draw` runs the same code on an auditor's
machine to recompute a published draw. Nothing here imports Flask or the database. docs/evaluation.md
("Draw") specifies every step so another implementation gives the same panel.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from signing.canonical import canonical_json

#: The record format's version, the `v` of every draw record.
VERSION = 1
PURPOSE = "ebid-expert-draw"
_DRBG_LABEL = b"ebid-draw-drbg-v1"
_PSEUDONYM_LABEL = b"ebid-expert-pseudonym-v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class RecordError(ValueError):
    """A draw record that is malformed: a field missing, of the wrong type, or out of order."""


class Unsatisfiable(Exception):
    """The candidates cannot fill a slot; `constraint` names the rule that ran out."""

    def __init__(self, message: str, *, slot: int, constraint: str) -> None:
        super().__init__(message)
        self.message = message
        self.slot = slot
        self.constraint = constraint


@dataclass(frozen=True, slots=True)
class Slot:
    """Part of a request: `count` seats of these specialties, and `backups` reserves behind them."""

    specialties: tuple[str, ...]
    count: int
    backups: int

    @property
    def picks(self) -> int:
        return self.count + self.backups

    def as_json(self) -> dict[str, Any]:
        return {"specialties": list(self.specialties), "count": self.count, "backups": self.backups}


@dataclass(frozen=True, slots=True)
class Candidate:
    """An eligible expert as the record publishes them: no name, only what the selection needs."""

    #: The expert's pseudonym for this draw (hex SHA-256).
    pseudonym: str
    #: The draw's token of the expert's employer (hex), or None for an expert without one.
    employer: str | None
    #: The indexes of the request's slots the expert qualifies for.
    slots: tuple[int, ...]

    def as_json(self) -> dict[str, Any]:
        return {"pseudonym": self.pseudonym, "employer": self.employer, "slots": list(self.slots)}


@dataclass(frozen=True, slots=True)
class Pick:
    """One expert the draw picked: for a seat (the first `count` of a slot) or as a backup, in order."""

    slot: int
    position: int
    pseudonym: str
    seat: bool

    def as_json(self) -> dict[str, Any]:
        return {"slot": self.slot, "position": self.position, "pseudonym": self.pseudonym, "seat": self.seat}


# -- the seed and the random stream --------------------------------------------------------------------------


def seed_inputs(*, tender: int, lot: int, draw: int, close: Mapping[str, Any],
                request: Mapping[str, Any]) -> dict[str, Any]:
    """The public inputs the seed is made from (the message of the HMAC)."""
    return {"v": VERSION, "purpose": PURPOSE, "tender": tender, "lot": lot, "draw": draw,
            "close": {"log_index": close["log_index"], "tree_size": close["tree_size"],
                      "root_hash": close["root_hash"]},
            "request": dict(request)}


def make_seed(root_hash: bytes, inputs: Mapping[str, Any]) -> bytes:
    """seed = HMAC-SHA256(key = the close checkpoint's 32-byte root, message = JCS(inputs))."""
    if len(root_hash) != 32:
        raise ValueError("the close checkpoint's root hash must be 32 bytes")
    return hmac.new(root_hash, canonical_json(dict(inputs)), hashlib.sha256).digest()


class Drbg:
    """HMAC-SHA256 in counter mode: block i = HMAC-SHA256(seed, label || i as 8 bytes big-endian)."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0
        self._buffer = b""

    def read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            block = hmac.new(self._seed, _DRBG_LABEL + self._counter.to_bytes(8, "big"), hashlib.sha256)
            self._buffer += block.digest()
            self._counter += 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def below(self, n: int) -> int:
        """A uniform integer in [0, n): 8 bytes big-endian, rejected at or above the largest multiple of n."""
        if n < 1:
            raise ValueError("cannot choose among no candidates")
        limit = 2**64 - (2**64 % n)
        while True:
            x = int.from_bytes(self.read(8), "big")
            if x < limit:
                return x % n


# -- pseudonyms and employer tokens --------------------------------------------------------------------------


def pseudonym_context(*, tender: int, lot: int, draw: int) -> bytes:
    """What each expert's per-draw nonce is keyed over."""
    return canonical_json({"v": VERSION, "tender": tender, "lot": lot, "draw": draw})


def nonce(secret: bytes, context: bytes) -> bytes:
    """An expert's nonce for one draw: HMAC-SHA256(the expert's secret, context). Revealed with the names."""
    return hmac.new(secret, context, hashlib.sha256).digest()


def pseudonym(nonce_: bytes, expert_id: int) -> str:
    """hex SHA-256(label || 0x00 || nonce || 0x00 || the expert's pool number in ASCII decimal)."""
    return hashlib.sha256(_PSEUDONYM_LABEL + b"\x00" + nonce_ + b"\x00" + str(expert_id).encode()).hexdigest()


def employer_token(salt: bytes, credit_code: str) -> str:
    """hex SHA-256(the draw's 32-byte salt || the employer's credit code in ASCII): equal for colleagues."""
    return hashlib.sha256(salt + credit_code.encode("ascii")).hexdigest()


# -- the selection -------------------------------------------------------------------------------------------


def canonical_order(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Candidates sorted by pseudonym (ascending hex), the order the record publishes and the draw indexes."""
    return sorted(candidates, key=lambda c: c.pseudonym)


def select(seed: bytes, candidates: Sequence[Candidate], slots: Sequence[Slot]) -> list[Pick]:
    """Fill the slots in order, each pick uniform among the candidates still eligible for it.

    Eligible for slot s: qualifies for s, not picked already, and not of an employer already picked
    (at most one expert per employer on a panel, backups included). `candidates` must be in canonical order.
    """
    rng = Drbg(seed)
    picks: list[Pick] = []
    taken: set[str] = set()
    employers: set[str] = set()
    for index, slot in enumerate(slots):
        for position in range(1, slot.picks + 1):
            eligible = [c for c in candidates if index in c.slots and c.pseudonym not in taken
                        and (c.employer is None or c.employer not in employers)]
            if not eligible:
                raise _ran_out(index, slot, position, candidates, taken, employers)
            chosen = eligible[rng.below(len(eligible))]
            taken.add(chosen.pseudonym)
            if chosen.employer is not None:
                employers.add(chosen.employer)
            picks.append(Pick(index, position, chosen.pseudonym, position <= slot.count))
    return picks


def _ran_out(index: int, slot: Slot, position: int, candidates: Sequence[Candidate], taken: set[str],
             employers: set[str]) -> Unsatisfiable:
    qualified = [c for c in candidates if index in c.slots]
    free = [c for c in qualified if c.pseudonym not in taken]
    need = f"slot {index + 1} ({', '.join(slot.specialties)}) needs {slot.picks} experts " \
           f"({slot.count} + {slot.backups} backups)"
    if free:
        return Unsatisfiable(
            f"{need}, but after {position - 1} the {len(free)} other eligible experts all work for an "
            "employer already on the panel: the constraint 'at most one expert per employer' ran out",
            slot=index, constraint="one_per_employer")
    if len(qualified) > position - 1:
        return Unsatisfiable(
            f"{need}, but earlier slots took {len(qualified) - (position - 1)} of its {len(qualified)} "
            "eligible experts: the constraint 'an expert holds one place on a panel' ran out",
            slot=index, constraint="one_place_per_expert")
    return Unsatisfiable(f"{need}, but only {len(qualified)} eligible experts qualify: the constraint "
                         "'specialty' ran out", slot=index, constraint="specialty")


# -- records: what is published, and recomputing it ----------------------------------------------------------


def _need(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, Mapping) or name not in obj:
        raise RecordError(f"{where} has no {name!r}")
    value = obj[name]
    if kind is int and (type(value) is not int):
        raise RecordError(f"{where}.{name} must be an integer")
    if not isinstance(value, kind):
        raise RecordError(f"{where}.{name} must be {getattr(kind, '__name__', kind)}")
    return value


def parse_slots(raw: Any, where: str = "request.slots") -> list[Slot]:
    """The slots of a record's request."""
    if not isinstance(raw, list) or not raw:
        raise RecordError(f"{where} must be a non-empty list")
    slots = []
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        codes = _need(item, "specialties", list, here)
        if not codes or not all(isinstance(c, str) and c for c in codes):
            raise RecordError(f"{here}.specialties must be a non-empty list of codes")
        count, backups = _need(item, "count", int, here), _need(item, "backups", int, here)
        if count < 1 or backups < 0:
            raise RecordError(f"{here}: count must be at least 1 and backups not negative")
        slots.append(Slot(tuple(codes), count, backups))
    return slots


def parse_candidates(raw: Any, slot_count: int) -> list[Candidate]:
    """The record's candidates, checked to be in canonical order without repeats."""
    if not isinstance(raw, list):
        raise RecordError("candidates must be a list")
    out: list[Candidate] = []
    for i, item in enumerate(raw):
        here = f"candidates[{i}]"
        name = _need(item, "pseudonym", str, here)
        if not _HEX64.fullmatch(name):
            raise RecordError(f"{here}.pseudonym must be 64 lower-case hex digits")
        if not isinstance(item, Mapping) or "employer" not in item:
            raise RecordError(f"{here} has no 'employer'")
        employer = item["employer"]
        if employer is not None and (not isinstance(employer, str) or not _HEX64.fullmatch(employer)):
            raise RecordError(f"{here}.employer must be null or 64 lower-case hex digits")
        slots = _need(item, "slots", list, here)
        if not all(type(s) is int and 0 <= s < slot_count for s in slots) or len(set(slots)) != len(slots):
            raise RecordError(f"{here}.slots must list distinct slot indexes below {slot_count}")
        if out and name <= out[-1].pseudonym:
            raise RecordError(f"{here}: candidates are not in canonical order "
                              "(ascending pseudonym, no repeats)")
        out.append(Candidate(name, employer, tuple(sorted(slots))))
    return out


def decode_root(text: Any) -> bytes:
    """The close checkpoint's root hash from its base64 text."""
    try:
        raw = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise RecordError("close.root_hash must be the base64 of 32 bytes")
    return raw


@dataclass(frozen=True)
class Recomputed:
    """What recomputing a record gave, and where it differs from what the record says."""

    seed: str
    picks: list[Pick]
    mismatches: list[str]

    @property
    def matches(self) -> bool:
        return not self.mismatches


def recompute(record: Mapping[str, Any]) -> Recomputed:
    """Recompute a published draw record's seed and picks, and compare them with the record's own."""
    if not isinstance(record, Mapping):
        raise RecordError("the draw record must be a JSON object")
    version = _need(record, "v", int, "record")
    if version != VERSION:
        raise RecordError(f"draw record version {version} is not supported (this client knows {VERSION})")
    tender = _need(record, "tender", int, "record")
    lot = _need(record, "lot", int, "record")
    number = _need(record, "draw", int, "record")
    close = _need(record, "close", Mapping, "record")
    for name in ("log_index", "tree_size"):
        _need(close, name, int, "close")
    root = decode_root(_need(close, "root_hash", str, "close"))
    request = _need(record, "request", Mapping, "record")
    slots = parse_slots(request.get("slots"))
    candidates = parse_candidates(record.get("candidates"), len(slots))
    seed = make_seed(root, seed_inputs(tender=tender, lot=lot, draw=number, close=close, request=request))
    mismatches = []
    if record.get("seed") != seed.hex():
        mismatches.append(f"seed: the record says {record.get('seed')!r}, recomputed {seed.hex()}")
    try:
        picks = select(seed, candidates, slots)
    except Unsatisfiable as exc:
        picks = []
        mismatches.append(f"the candidates cannot satisfy the request: {exc.message}")
    published = record.get("picks")
    if not isinstance(published, list):
        raise RecordError("record.picks must be a list")
    ours = [p.as_json() for p in picks]
    if published != ours:
        for i in range(max(len(published), len(ours))):
            theirs = published[i] if i < len(published) else None
            mine = ours[i] if i < len(ours) else None
            if theirs != mine:
                mismatches.append(f"pick {i + 1}: the record says {theirs}, recomputed {mine}")
    return Recomputed(seed.hex(), picks, mismatches)


def record_sha256(record: Mapping[str, Any]) -> str:
    """hex SHA-256 of the record's canonical JSON: what the draw's log entry states."""
    return hashlib.sha256(canonical_json(dict(record))).hexdigest()


def iso_date(value: dt.date) -> str:
    return value.isoformat()
