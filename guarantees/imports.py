"""CSV imports (credit registry, bank statements, deposit and waiver rules): good rows in, bad rows reported.

Each import reads a UTF-8 CSV (a BOM is fine) with a header row, checks every row on its own and
keeps the good ones; each refused row is reported with its line number, the field and the reason,
and the report is kept with the import (`deposit_imports`). A row already imported (same key) is
counted as a duplicate, not imported twice. A file whose header lacks a required column is refused
whole.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from core.extensions import db
from core.models import User
from core.validation import ValidationError
from guarantees.models import DepositImport
from guarantees.schemas import ImportOut, RejectedRow

MAX_ROWS = 100_000


class Duplicate(Exception):
    """The row is already in the table."""


@dataclass
class ImportResult:
    record: DepositImport
    accepted: list[Any] = field(default_factory=list)

    def out(self) -> ImportOut:
        """The import's report as the API answers it."""
        r = self.record
        return ImportOut(import_=r.id, kind=r.kind, filename=r.filename, sha256=r.sha256, accepted=r.accepted,
                         rejected=r.rejected, duplicates=r.duplicates,
                         rejected_rows=[RejectedRow(**row) for row in r.report or []])


def parse_date(value: str | None, name: str, *, required: bool = True) -> dt.date | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise ValidationError(name, "a date is required (YYYY-MM-DD)")
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(name, f"not a date (YYYY-MM-DD): {text!r}") from None


def read_rows(data: bytes, required: Iterable[str]) -> tuple[list[str], Iterable[tuple[int, dict[str, str]]]]:
    """The header and (line, row) pairs; refuses a file that is not UTF-8 CSV with the required columns."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError("file", f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise ValidationError("file", f"the header lacks the column(s): {', '.join(missing)}")
    reader.fieldnames = header

    def rows() -> Iterable[tuple[int, dict[str, str]]]:
        for n, row in enumerate(reader):
            if n >= MAX_ROWS:
                raise ValidationError("file", f"at most {MAX_ROWS} rows per file")
            if None in row:
                row = {k: v for k, v in row.items() if k is not None} | {"__extra__": "x"}
            yield reader.line_num, {k: (v or "").strip() if isinstance(v, str) else v for k, v in row.items()}

    return header, rows()


def run_import(
    kind: str,
    filename: str,
    data: bytes,
    required: Iterable[str],
    handle: Callable[[dict[str, str], DepositImport], Any],
    *,
    actor: User | None,
) -> ImportResult:
    """Create the import record, hand each row to `handle` and keep the report; flushes, never commits."""

    _header, rows = read_rows(data, required)
    record = DepositImport(
        kind=kind,
        filename=(filename or "upload.csv")[:200],
        sha256=hashlib.sha256(data).hexdigest(),
        imported_by_id=actor.id if actor else None,
        report=[],
    )
    db.session.add(record)
    db.session.flush()
    result = ImportResult(record)
    report: list[dict[str, Any]] = []
    for line, row in rows:
        if not any(v for k, v in row.items() if k != "__extra__"):
            continue  # a blank line
        if "__extra__" in row:
            report.append({"line": line, "field": None, "reason": "more cells than the header has columns"})
            continue
        try:
            with db.session.begin_nested():
                result.accepted.append(handle(row, record))
        except Duplicate:
            record.duplicates += 1
        except ValidationError as exc:
            report.append({"line": line, "field": exc.field, "reason": exc.message})
    record.accepted = len(result.accepted)
    record.rejected = len(report)
    record.report = report
    db.session.flush()
    return result
