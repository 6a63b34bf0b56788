"""The supervisor's audit desk: the audit log searched in the browser, per-tender timelines, drop-in verify.

The log's entries are canonical JSON texts; searching them by tender or actor would mean parsing every
body. Instead a search index, `log_search` (one row per entry: its index, event, time, the tender its
subject names and its actor), is derived from `log_entries` and caught up on each desk request: the rows
after the last one indexed are read in batches and indexed (O(new entries), never the whole log again).
The index is not the log: it is rebuilt from the log, never signs or proves anything, and every entry
the desk shows is read from `log_entries` and proved in the browser against the latest signed checkpoint
(static/js/logproof.js). docs/audit-log.md, "Audit desk".

Only supervisors use the desk; anyone else signed in is refused, and the refusal is an entry
(`audit_desk.refused`) naming who tried.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, render_template, request, url_for
from flask_babel import gettext as _
from pydantic import ValidationInfo, field_validator
from sqlalchemy import BigInteger, Index, String, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from core.errors import Refused
from core.extensions import db
from core.identity import current_actor, is_api_request
from core.models import Role
from core.openapi import document
from core.orm import Base, UTCDateTime
from core.shapes import RequestModel, ResponseModel, Whole, read_query, respond
from core.validation import ValidationError
from signing import audit
from signing.models import LogEntry, SignedDocument

bp = Blueprint("audit_desk", __name__)

#: Entries indexed per batch while catching up.
SYNC_BATCH = 2000
PER_PAGE = 50
MAX_PER_PAGE = 200
_MAX_ID = 2**53 - 1
_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}(\.[a-z0-9_]+)*\.?")


class LogSearchRow(Base):
    """One log entry's searchable facts, derived from its body (the body stays the only truth)."""

    __tablename__ = "log_search"

    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    #: subject.tender when it is a whole number, else None.
    tender_id: Mapped[int | None] = mapped_column(BigInteger)
    #: actor.user and actor.username, or None for the platform.
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_username: Mapped[str | None] = mapped_column(String(80))

    __table_args__ = (
        Index("ix_log_search_tender", "tender_id", "log_index"),
        Index("ix_log_search_actor", "actor_username", "log_index"),
    )


def _whole(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_ID:
        return None
    return value


def indexed_facts(index: int, body: str, event: str, created_at: dt.datetime) -> dict[str, Any]:
    """The row of `log_search` for one entry."""
    try:
        parsed = json.loads(body)
    except ValueError:  # `flask log verify` reports a damaged body; the desk still lists the row
        parsed = {}
    subject = parsed.get("subject") if isinstance(parsed.get("subject"), dict) else {}
    actor = parsed.get("actor") if isinstance(parsed.get("actor"), dict) else {}
    username = actor.get("username")
    return {
        "log_index": index, "event": event, "created_at": created_at,
        "tender_id": _whole(subject.get("tender")),
        "actor_user_id": _whole(actor.get("user")),
        "actor_username": username[:80] if isinstance(username, str) else None,
    }


def sync() -> int:
    """Index the entries appended since the last call; the number indexed. Never commits.

    Two requests catching up at once both try to insert the same rows: the one that loses rolls its
    savepoint back and reads on (the other indexed them).
    """
    done = 0
    while True:
        last = db.session.scalar(select(func.max(LogSearchRow.log_index)))
        start = -1 if last is None else last
        rows = db.session.execute(
            select(LogEntry.index, LogEntry.body, LogEntry.event, LogEntry.created_at)
            .where(LogEntry.index > start).order_by(LogEntry.index).limit(SYNC_BATCH)).all()
        if not rows:
            return done
        try:
            with db.session.begin_nested():
                db.session.execute(LogSearchRow.__table__.insert(),
                                   [indexed_facts(*row) for row in rows])
        except IntegrityError:
            continue  # indexed meanwhile by another request
        done += len(rows)
        if len(rows) < SYNC_BATCH:
            return done


# --- searching ---------------------------------------------------------------------------------------

def _display_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai"))


def _WHEN() -> str:  # noqa: N802 (a message)
    return _("Give a date or a date and time, e.g. 2026-12-06 or 2026-12-06T09:30.")


def parse_time(value: Any, field: str, *, end: bool = False) -> dt.datetime | None:
    """A search bound: ISO 8601 with an offset, or without one in the display zone (Beijing time).

    A bare date is the start of that day (`end`: the start of the next day, so "until 2026-12-06"
    includes the whole of that day).
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationError(field, _WHEN())
    text = value.strip().replace(" ", "T")
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time())  # may overflow
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise ValidationError(field, _WHEN()) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_display_zone())
    try:
        return moment.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise ValidationError(field, _("This time is out of range.")) from None


class LogSearch(RequestModel):
    """The desk's search: every filter is optional; times without an offset are Beijing time."""

    tender: Whole(minimum=1, maximum=_MAX_ID) | None = None
    kind: str | None = None
    actor: str | None = None
    since: str | None = None
    until: str | None = None
    page: Whole(minimum=1, maximum=10**6) = 1
    per_page: Whole(minimum=1, maximum=MAX_PER_PAGE) = PER_PAGE

    @field_validator("tender", "kind", "actor", "since", "until", "page", "per_page", mode="before")
    @classmethod
    def _blank(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            value = value.strip() or None
        if value is None and info.field_name in ("page", "per_page"):
            return 1 if info.field_name == "page" else PER_PAGE
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        if value is not None and not _KIND.fullmatch(value):
            raise ValidationError(
                None, _("A kind is an event name or its start, e.g. tender or bid.submitted."))
        return value

    @field_validator("actor")
    @classmethod
    def _actor(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 80 or any(ord(c) < 0x20 or c == "\x7f" for c in value)):
            raise ValidationError(None, _("A user name has at most 80 characters and no control characters."))
        return value

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        since = parse_time(self.since, "since")
        until = parse_time(self.until, "until", end=True)
        if since and until and since >= until:
            raise ValidationError("until", _("The end of the period must be after its start."))
        return since, until


@dataclass
class Found:
    items: list[dict[str, Any]]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _conditions(search: LogSearch) -> list[Any]:
    since, until = search.bounds()
    where: list[Any] = []
    if search.tender is not None:
        where.append(LogSearchRow.tender_id == search.tender)
    if search.kind:
        kind = search.kind.rstrip(".")
        where.append(or_(LogSearchRow.event == kind,
                         LogSearchRow.event.startswith(kind + ".", autoescape=True)))
    if search.actor:
        if search.actor.isdigit():
            where.append(or_(LogSearchRow.actor_username == search.actor,
                             LogSearchRow.actor_user_id == int(search.actor)))
        else:
            where.append(LogSearchRow.actor_username == search.actor)
    if since is not None:
        where.append(LogSearchRow.created_at >= since)
    if until is not None:
        where.append(LogSearchRow.created_at < until)
    return where


def entry_view(row: LogEntry) -> dict[str, Any]:
    body = json.loads(row.body)
    return {"index": row.index, "event": row.event, "time": row.created_at, "entry": row.body,
            "subject": body.get("subject") or {}, "actor": body.get("actor"), "data": body.get("data") or {}}


def search_log(search: LogSearch) -> Found:
    """One page of matching entries, newest first (the index is brought up to date first)."""
    sync()
    where = _conditions(search)
    total = db.session.scalar(select(func.count()).select_from(LogSearchRow).where(*where)) or 0
    indexes = db.session.scalars(
        select(LogSearchRow.log_index).where(*where).order_by(LogSearchRow.log_index.desc())
        .limit(search.per_page).offset((search.page - 1) * search.per_page)).all()
    rows = db.session.scalars(select(LogEntry).where(LogEntry.index.in_(indexes))
                              .order_by(LogEntry.index.desc())).all() if indexes else []
    return Found([entry_view(r) for r in rows], search.page, search.per_page, total)


def event_kinds() -> list[str]:
    """Every event name in the log, for the search form's suggestions."""
    return list(db.session.scalars(select(LogSearchRow.event).distinct().order_by(LogSearchRow.event)))


def timeline(tender_id: int) -> dict[str, Any]:
    """Every entry whose subject names the tender, oldest first, and the signed documents among them."""
    sync()
    indexes = db.session.scalars(select(LogSearchRow.log_index).where(LogSearchRow.tender_id == tender_id)
                                 .order_by(LogSearchRow.log_index)).all()
    entries: list[dict[str, Any]] = []
    for start in range(0, len(indexes), 1000):
        chunk = indexes[start:start + 1000]
        entries += [entry_view(r) for r in db.session.scalars(
            select(LogEntry).where(LogEntry.index.in_(chunk)).order_by(LogEntry.index))]
    document_ids = {e["subject"]["document"] for e in entries if _whole(e["subject"].get("document"))}
    docs = db.session.scalars(select(SignedDocument).where(SignedDocument.id.in_(document_ids))
                              .order_by(SignedDocument.id)).all() if document_ids else []
    by_id = {d.id: d for d in docs}
    for e in entries:
        e["document"] = by_id.get(e["subject"].get("document"))
    return {"tender_id": tender_id, "entries": entries, "documents": docs}


def role_name(value: Any) -> str:
    """An entry's actor role (its value as logged) in the reader's language; unknown values as logged."""
    from core.labels import ROLES

    try:
        return str(ROLES[Role(value)])
    except (ValueError, KeyError):
        return str(value)


def beijing(value: dt.datetime) -> str:
    """A time in the one time format, to the second ("2026-12-01 09:00:00 北京时间", core.labels)."""
    from core.labels import format_time

    return format_time(value, seconds=True)


# --- who may use it ----------------------------------------------------------------------------------

def _supervisor_only() -> None:
    """Refuse anyone signed in who is not a supervisor, and log who tried (an accountable refusal)."""
    actor = current_actor()
    if actor is not None and actor.role == Role.SUPERVISOR:
        return
    db.session.rollback()
    audit.record("audit_desk.refused", actor=actor, subject={"page": request.endpoint or "audit_desk"},
                 data={"path": request.path[:200], "role": actor.role.value if actor else None})
    db.session.commit()
    message = _("Only supervisors use the audit desk.")
    if is_api_request():
        raise Refused(message, code="forbidden", status=403)
    abort(403, message)


@bp.before_request
def _guard():
    _supervisor_only()


# --- pages -------------------------------------------------------------------------------------------

def _page_links(search: LogSearch, found: Found) -> dict[str, str | None]:
    args = {k: v for k, v in request.args.items() if k != "page" and v}

    def link(page: int) -> str:
        return url_for("audit_desk.log_page", **args, page=page)

    return {"prev": link(found.page - 1) if found.page > 1 else None,
            "next": link(found.page + 1) if found.page < found.pages else None}


@bp.get("/audit/log")
def log_page():
    try:
        search = read_query(LogSearch)
        found = search_log(search)
        error = None
    except ValidationError as exc:
        search, found, error = LogSearch(), Found([], 1, PER_PAGE, 0), exc
    db.session.commit()  # the index rows caught up
    if error is not None:
        flash(error.message, "error")
    return render_template("signing/audit_log.html", found=found, search=request.args, error=error,
                           kinds=event_kinds(), links=_page_links(search, found), beijing=beijing,
                           role_name=role_name)


@bp.get("/audit/tenders/<int:tender_id>/timeline")
def timeline_page(tender_id: int):
    data = timeline(tender_id)
    db.session.commit()
    chart = [{"index": e["index"], "event": e["event"], "time": e["time"].isoformat()}
             for e in data["entries"]]
    return render_template("signing/audit_timeline.html", data=data, chart=chart, beijing=beijing,
                           role_name=role_name)


@bp.route("/audit/verify", methods=["GET", "POST"])
def verify_page():
    """The drop zone: a PDF or a receipt file, verified by the same checks as the public /verify page."""
    from signing.routes import _pdf_findings, _receipt_findings

    pdf_result = receipt_result = None
    if request.method == "POST":
        upload = request.files.get("file")
        data = upload.read() if upload is not None and upload.filename else b""
        pasted = request.form.get("receipt", "").strip()
        if data.startswith(b"%PDF-"):
            pdf_result = _pdf_findings(data)
            # Verified: this exact file is a version the log records, and every signature in it is intact,
            # valid, trusted and time-stamped (signing.pdf.SignatureReport.ok).
            pdf_result["verified"] = bool(pdf_result["version"] is not None and not pdf_result["error"]
                                          and pdf_result["reports"]
                                          and all(r.ok for r in pdf_result["reports"]))
        elif data or pasted:
            text = pasted or data.decode("utf-8", errors="replace")
            receipt_result = _receipt_findings(text)
        else:
            flash(_("Drop or choose a signed PDF or a receipt file."), "error")
    return render_template("signing/audit_verify.html", pdf=pdf_result, receipt=receipt_result)


# --- JSON --------------------------------------------------------------------------------------------

class LogSearchItem(ResponseModel):
    index: int
    event: str
    time: str
    entry: str


class LogSearchPage(ResponseModel):
    items: list[LogSearchItem]
    page: int
    per_page: int
    total: int
    pages: int


@bp.get("/api/audit/log")
@document(summary="Search the audit log by tender, kind (event prefix), actor and time (supervisors)",
          query=LogSearch, response=LogSearchPage)
def log_json():
    found = search_log(read_query(LogSearch))
    db.session.commit()
    items = [LogSearchItem(index=e["index"], event=e["event"], entry=e["entry"],
                           time=e["time"].astimezone(dt.UTC).isoformat()) for e in found.items]
    return respond(LogSearchPage(items=items, page=found.page, per_page=found.per_page, total=found.total,
                                 pages=found.pages))
