"""Resumable uploads: an envelope arrives in pieces into a staging file, then goes through intake whole.

The staging file holds only ciphertext the bidder sealed, and only until the upload is completed
(then intake copies it into the blob store or refuses it), refused, or expired (the purge job).
The database row is the truth about how many bytes are safely on disk: a piece is written at that
offset, flushed to disk, and only then counted.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, func, select

from bidding.submissions import intake
from bidding.submissions.intake import ConnectionCut, Target
from bidding.submissions.models import Arrival, Upload
from core.errors import Refused
from core.extensions import db
from core.models import User

log = logging.getLogger(__name__)

#: The most one PATCH may carry; a client sends a large envelope as several pieces.
PIECE_LIMIT = 8 * 1024 * 1024
#: Read and write granularity.
BLOCK = 1024 * 1024
#: A staging file with no upload row (a crash between the two) is removed after this long.
STRAY_AGE = dt.timedelta(hours=1)
#: The scheduler job that purges expired uploads.
PURGE_JOB = "bidding.purge_uploads"


def staging_dir() -> Path:
    configured = current_app.config.get("UPLOAD_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "uploads"


def staging_path(upload_id: str) -> Path:
    return staging_dir() / f"{upload_id}.part"


def expiry() -> dt.timedelta:
    value = current_app.config.get("UPLOAD_EXPIRY", dt.timedelta(hours=24))
    return value if isinstance(value, dt.timedelta) else dt.timedelta(seconds=int(value))


def begin(to: Target, user: User, size: int, *, now: dt.datetime) -> Upload:
    """Start an upload of `size` bytes for the target; it expires after UPLOAD_EXPIRY or at the deadline."""
    limit = intake.max_envelope_size()
    if size > limit:
        raise Refused(f"the envelope is larger than the limit of {limit} bytes", code="too_large", status=413,
                      field="size")
    upload = Upload(id=secrets.token_urlsafe(18), user_id=user.id, tender_id=to.tender.id,
                    lot_number=to.lot.number, size=size, received=0, created_at=now,
                    expires_at=min(now + expiry(), to.tender.submission_deadline))
    db.session.add(upload)
    db.session.flush()
    staging_dir().mkdir(parents=True, exist_ok=True)
    staging_path(upload.id).touch(exist_ok=False)
    return upload


def locked(upload_id: str) -> Upload | None:
    """The upload's row, locked until commit (PostgreSQL), freshly read."""
    return db.session.scalar(select(Upload).where(Upload.id == upload_id).with_for_update()
                             .execution_options(populate_existing=True))


def check_live(upload: Upload, now: dt.datetime) -> None:
    if now >= upload.expires_at:
        raise Refused("this upload has expired; start a new one", code="upload_expired", status=410)


@contextmanager
def _exclusive(path: Path):
    """The staging file opened for writing, held by this request alone (a second writer is refused)."""
    try:
        fh = path.open("r+b")
    except FileNotFoundError:
        raise Refused("this upload's staging file is gone; start a new upload", code="upload_expired",
                      status=410) from None
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused("another request is writing to this upload; wait for it and ask for the offset",
                          code="upload_busy") from None
        yield fh


class PieceCut(Exception):
    """The client went away mid-piece; `written` bytes of it were kept."""

    def __init__(self, written: int) -> None:
        super().__init__(f"connection cut after {written} bytes of the piece")
        self.written = written


def append(upload: Upload, blocks: Iterable[bytes], *, limit: int) -> int:
    """Write a piece at the upload's offset; returns its length.

    Bytes beyond `limit` (the piece limit, or what remains of the declared size) refuse the whole
    piece. If the client goes away mid-piece (the reader raises `ConnectionCut`), what arrived is
    kept — it is a correct prefix of the envelope — and `PieceCut` says how much.
    """
    written = 0
    with _exclusive(staging_path(upload.id)) as fh:
        fh.truncate(upload.received)  # drop anything written but never counted (a crash mid-piece)
        fh.seek(upload.received)
        try:
            for block in blocks:
                if written + len(block) > limit:
                    fh.truncate(upload.received)
                    raise Refused(f"this piece goes past its limit of {limit} bytes (pieces carry at most "
                                  f"{PIECE_LIMIT} bytes and never more than the declared size)",
                                  code="too_large", status=413)
                fh.write(block)
                written += len(block)
        except ConnectionCut:
            fh.flush()
            os.fsync(fh.fileno())
            raise PieceCut(written) from None
        fh.flush()
        os.fsync(fh.fileno())
    return written


def blocks(upload_id: str) -> Iterator[bytes]:
    """The staged envelope, in blocks."""
    with staging_path(upload_id).open("rb") as fh:
        while block := fh.read(BLOCK):
            yield block


def discard(upload_id: str) -> None:
    """Remove a staging file (after the upload's row is gone for good)."""
    staging_path(upload_id).unlink(missing_ok=True)


def purge(now: dt.datetime) -> dt.datetime | None:
    """Delete expired uploads and their staging files, and stray files; returns the next expiry.

    An upload being completed (it has an `Arrival`) is left alone: it was completed before it expired,
    and its request removes it either way.
    """
    from bidding.submissions.arrival import ARRIVING

    completing = select(Arrival.id).where(Arrival.upload_id == Upload.id).exists() | Upload.id.in_(
        ARRIVING.uploads())
    expired = list(db.session.scalars(select(Upload.id).where(Upload.expires_at <= now, ~completing)))
    if expired:
        db.session.execute(delete(Upload).where(Upload.id.in_(expired)))
        db.session.commit()
        for upload_id in expired:
            discard(upload_id)
        log.info("purged %d expired uploads", len(expired))
    _sweep_strays(now)
    following = db.session.scalar(select(func.min(Upload.expires_at)).where(~completing))
    if db.session.scalar(select(Upload.id).where(Upload.expires_at <= now, completing).limit(1)):
        following = min(filter(None, (following, now + dt.timedelta(seconds=1))))  # left for now: look again
    return following


def _sweep_strays(now: dt.datetime) -> None:
    directory = staging_dir()
    if not directory.is_dir():
        return
    cutoff = (now - STRAY_AGE).timestamp()
    for path in directory.glob("*.part"):
        try:
            old = path.stat().st_mtime < cutoff
        except FileNotFoundError:
            continue
        if old and db.session.get(Upload, path.stem) is None:
            path.unlink(missing_ok=True)
