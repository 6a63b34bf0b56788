"""Re-walk the stored audit log from its entries and say what, if anything, does not match.

One pass over the entries rebuilds the tree in O(log n) memory; each perfect subtree it completes
is compared with the stored node, and the root at every checkpoint's size with the signed one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import func, select

from core.extensions import db
from signing import audit, logstore
from signing.canonical import canonical_json
from signing.checkpoint import CheckpointError, verify_checkpoint
from signing.keys import KeyPurpose
from signing.logstore import EntryRow
from signing.merkle import EMPTY_ROOT, leaf_hash, node_hash
from signing.models import LogCheckpoint, LogNode


@dataclass
class LogReport:
    """What a walk of the log found; it is sound when `problems` is empty."""

    size: int = 0
    entries: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Level:
    """The stored nodes of one level, consumed in index order alongside the rebuilt tree."""

    def __init__(self, level: int) -> None:
        self.level = level
        self._rows: Iterator[tuple[int, bytes]] = logstore.nodes(level)
        self._next: tuple[int, bytes] | None = next(self._rows, None)

    def take(self, index: int) -> bytes | None:
        """The stored hash at `index`, or None if missing (skipping stored indexes below it)."""
        while self._next is not None and self._next[0] < index:
            self._next = next(self._rows, None)
        if self._next is None or self._next[0] != index:
            return None
        found, self._next = self._next[1], next(self._rows, None)
        return found


def _root(subtrees: list[bytes]) -> bytes:
    """MTH of the leaves so far from the hashes of the perfect subtrees on the frontier, largest first."""
    if not subtrees:
        return EMPTY_ROOT
    root = subtrees[-1]
    for h in reversed(subtrees[:-1]):
        root = node_hash(h, root)
    return root


def _check_body(row: EntryRow, problems: list[str]) -> None:
    """The body is canonical JSON and agrees with the row's own columns (copies kept for queries)."""
    try:
        parsed = json.loads(row.body)
        canonical = canonical_json(parsed).decode() == row.body
    except (ValueError, TypeError):
        problems.append(f"entry {row.index}: body is not JSON")
        return
    if not canonical:
        problems.append(f"entry {row.index}: body is not in canonical JSON form")
    if not isinstance(parsed, dict):
        problems.append(f"entry {row.index}: body is not a JSON object")
        return
    time = row.created_at.strftime(audit.TIME_FORMAT)
    for name, column in (("index", row.index), ("event", row.event), ("time", time)):
        if parsed.get(name) != column:
            problems.append(f"entry {row.index}: its body says {name} {parsed.get(name)!r}, "
                            f"its {name} column {column!r}")


def _walk(report: LogReport, wanted: set[int]) -> dict[int, bytes]:
    """Rebuild the tree from the entries, comparing as it goes; return the roots at the `wanted` sizes."""
    problems = report.problems
    levels: dict[int, _Level] = {}
    # The completed perfect subtrees, largest first: (level, rebuilt hash, whether a difference under it
    # was already reported, so one changed row yields one line rather than one per ancestor).
    frontier: list[tuple[int, bytes, bool]] = []
    roots = {0: EMPTY_ROOT} if 0 in wanted else {}
    expected = 0
    for row in logstore.entry_rows():
        index, body, stored_leaf = row.index, row.body, row.leaf_hash
        if index != expected:
            problems.append(f"entries {expected}..{index - 1} are missing")
            break  # the tree after a hole means nothing
        _check_body(row, problems)
        computed = leaf_hash(body.encode())
        reported = computed != stored_leaf
        if reported:
            problems.append(f"entry {index}: body hashes to {computed.hex()}, its leaf_hash column says "
                            f"{stored_leaf.hex()}")
        level, position, h = 0, index, computed
        while True:
            stored = levels.setdefault(level, _Level(level)).take(position)
            if stored != h and not reported:
                what = "missing" if stored is None else f"{stored.hex()}, rebuilt {h.hex()}"
                problems.append(f"node level {level} index {position}: stored {what}")
                reported = True
            if not position & 1:
                break
            _, left, left_reported = frontier.pop()
            h, reported = node_hash(left, h), reported or left_reported
            level, position = level + 1, position >> 1
        frontier.append((level, h, reported))
        expected += 1
        report.entries = expected
        if expected in wanted:
            roots[expected] = _root([h for _, h, _ in frontier])
    return roots


def _check_nodes(report: LogReport) -> None:
    n = report.entries
    expected = sum(n >> level for level in range(n.bit_length()))
    stored = db.session.execute(select(func.count()).select_from(LogNode)).scalar_one()
    if stored != expected:
        report.problems.append(f"log_nodes has {stored} rows; a log of {n} entries has {expected}")


def _check_checkpoints(report: LogReport, roots: dict[int, bytes], rows: list[LogCheckpoint]) -> None:
    keys = audit.key_store().verification_keys(KeyPurpose.CHECKPOINT)
    for cp in rows:
        report.checkpoints += 1
        label = f"checkpoint {cp.id} (size {cp.tree_size})"
        signed = None
        for key in keys:
            try:
                signed = verify_checkpoint(cp.note, audit.origin(), key.public_key, origin=audit.origin())
                break
            except CheckpointError:
                continue
        if signed is None:
            report.problems.append(f"{label}: no checkpoint key of the platform signed its note")
        elif (signed.size, signed.root) != (cp.tree_size, cp.root_hash):
            report.problems.append(f"{label}: the signed note says size {signed.size} root "
                                   f"{signed.root.hex()}, the row says root {cp.root_hash.hex()}")
        rebuilt = roots.get(cp.tree_size)
        if cp.tree_size > report.entries:
            report.problems.append(f"{label}: beyond the {report.entries} entries in the log")
        elif rebuilt != cp.root_hash:
            report.problems.append(f"{label}: signed root {cp.root_hash.hex()}, the entries give "
                                   f"{rebuilt.hex() if rebuilt else 'nothing'}")


def verify_log() -> LogReport:
    """Recompute every leaf, node and checkpoint root from the entries and report what differs."""
    report = LogReport(size=logstore.size())
    checkpoints = list(db.session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.id)))
    roots = _walk(report, {cp.tree_size for cp in checkpoints})
    if report.entries != report.size:
        report.problems.append(f"log_head says {report.size} entries; the table holds {report.entries}")
    _check_nodes(report)
    _check_checkpoints(report, roots, checkpoints)
    return report
