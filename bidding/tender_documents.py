"""Tender documents (招标文件) and their attachments: uploaded by the tendering office, hashed into the
notice and the audit log, downloaded by bidders once the tender is published.

Who downloaded is confidential until the opening (招标投标法 第二十二条: the tenderee may not disclose
who the potential bidders are): a download is kept as a row the office sees only once the opening has
started, and the public log gets an entry naming nothing but a commitment to that row (docs/tendering.md,
"Tender documents and clarifications").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bidding.lifecycle import TenderState
from bidding.models import Tender
from core.errors import Refused
from core.extensions import db
from core.labels import when
from core.models import Organisation, Role, User
from core.orm import Base, created_at, intpk, utcnow
from core.storage import BlobTooLarge, blob_store_from_config
from core.validation import ValidationError
from signing import audit

#: The tender documents themselves: a PDF.
MAIN = "tender_documents"
#: Drawings, bills of quantities, forms: any of ALLOWED_TYPES.
ATTACHMENT = "attachment"
KINDS = (MAIN, ATTACHMENT)


@dataclass(frozen=True)
class FileType:
    extension: str
    media_type: str
    magic: tuple[bytes, ...]


#: What may be uploaded: the name's extension and the first bytes must both say the same type.
#: (.docx/.xlsx are ZIP containers; an old .doc/.xls is not accepted: convert it.)
ALLOWED_TYPES = (
    FileType("pdf", "application/pdf", (b"%PDF-",)),
    FileType("zip", "application/zip", (b"PK\x03\x04",)),
    FileType("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             (b"PK\x03\x04",)),
    FileType("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             (b"PK\x03\x04",)),
    FileType("dwg", "image/vnd.dwg", (b"AC10",)),
    FileType("png", "image/png", (b"\x89PNG\r\n\x1a\n",)),
    FileType("jpg", "image/jpeg", (b"\xff\xd8\xff",)),
)
PDF = ALLOWED_TYPES[0]
MAX_NAME = 200


class TenderDocument(Base):
    """One uploaded file of a tender's documents; the blob store holds its bytes under `sha256`."""

    __tablename__ = "tender_documents"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id", ondelete="CASCADE"), index=True)
    #: MAIN (the tender documents, a PDF) or ATTACHMENT.
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(MAX_NAME))
    media_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    #: Uploaded after publication: an amendment of the documents (the notice period rule applies).
    amendment: Mapped[bool] = mapped_column(default=False)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[created_at]

    tender: Mapped[Tender] = relationship()

    __table_args__ = (UniqueConstraint("tender_id", "sha256", name="uq_tender_documents_tender_sha256"),)


class TenderDocumentDownload(Base):
    """A download by a bidder: sealed from the tendering office until the opening starts."""

    __tablename__ = "tender_document_downloads"

    id: Mapped[intpk]
    document_id: Mapped[int] = mapped_column(ForeignKey("tender_documents.id", ondelete="CASCADE"),
                                             index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    downloaded_at: Mapped[created_at]
    #: Random, so the commitment cannot be recomputed by guessing the organisation and the time.
    salt: Mapped[str] = mapped_column(String(64))
    #: SHA-256 over the row's facts and the salt: the public log entry's only content.
    commitment: Mapped[str] = mapped_column(String(64), unique=True)

    document: Mapped[TenderDocument] = relationship()
    organisation: Mapped[Organisation] = relationship()


def max_bytes() -> int:
    return int(current_app.config["TENDER_DOCUMENT_MAX_BYTES"])


def documents_of(tender: Tender) -> list[TenderDocument]:
    return list(db.session.scalars(select(TenderDocument).where(TenderDocument.tender_id == tender.id)
                                   .order_by(TenderDocument.kind.desc(), TenderDocument.id)))


def file_type(filename: str, head: bytes, kind: str) -> FileType:
    """The upload's type, from its name and its first bytes; refused unless both agree on an allowed one."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if kind == MAIN:
        if extension != "pdf" or not head.startswith(PDF.magic):
            raise ValidationError("file", _("The tender documents must be a PDF file (the file does not "
                                            "begin with %(magic)s); nothing was stored.", magic="%PDF-"))
        return PDF
    for candidate in ALLOWED_TYPES:
        if candidate.extension == extension or (extension == "jpeg" and candidate.extension == "jpg"):
            if any(head.startswith(m) for m in candidate.magic):
                return candidate
            raise ValidationError("file", _("The file is named .%(ext)s but its content is not a %(ext)s "
                                            "file; nothing was stored.", ext=extension))
    raise ValidationError("file", _("Files of this type cannot be attached. Allowed: %(types)s; nothing was "
                                    "stored.", types=", ".join(t.extension for t in ALLOWED_TYPES)))


def notice_cutoff(now: dt.datetime) -> dt.datetime:
    """The earliest deadline an amendment made `now` may leave (招标投标法 第二十三条: 15 days)."""
    return now + current_app.config["MIN_AMENDMENT_NOTICE"]


def check_notice_period(tender: Tender, actor: User, *, extend: bool, reason: str,
                        now: dt.datetime) -> bool:
    """A change to the documents of a published tender must leave the minimum notice period before the
    deadline: refused (saying the earliest allowed deadline) unless `extend`, which moves the deadline (an
    amendment, logged) and says so. Answers whether the deadline moved."""
    earliest = notice_cutoff(now)
    if tender.state == TenderState.DRAFT or tender.submission_deadline >= earliest:
        return False
    if not extend:
        days = current_app.config["MIN_AMENDMENT_NOTICE"].total_seconds() / 86400
        raise Refused(_("A change to the tender documents must leave at least %(days)s days before the bid "
                        "deadline. Move the deadline to %(earliest)s or later (tick \"Move the deadline\"); "
                        "nothing was changed.", days=f"{days:g}", earliest=when(earliest)),
                      code="notice_period", status=422)
    from bidding import services

    unchanged = {"submission_deadline": tender.submission_deadline.isoformat()}  # amend() moves it
    services.amend(tender, actor, {"reason": reason, "changes": unchanged}, now=now)
    return True


def upload(tender: Tender, actor: User, *, kind: str, filename: str, stream: IO[bytes], extend: bool = False,
           now: dt.datetime | None = None) -> TenderDocument:
    """Check and store one file; the row and the log entry follow. Nothing is kept of a refused upload."""
    now = now or utcnow()
    if kind not in KINDS:
        raise ValidationError("kind", _("Choose the tender documents or an attachment."))
    if tender.state not in (TenderState.DRAFT, TenderState.PUBLISHED) or (
            tender.state == TenderState.PUBLISHED and tender.submission_deadline <= now):
        raise Refused(_("Documents can be added only to a draft or to a tender still taking bids."),
                      code="illegal_transition", status=409)
    filename = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not filename:
        raise ValidationError("file", _("Choose a file to upload."))
    if len(filename) > MAX_NAME:
        raise ValidationError("file", _("The file name is longer than %(n)d characters.", n=MAX_NAME))
    head = stream.read(16)
    found = file_type(filename, head, kind)
    amendment = tender.state != TenderState.DRAFT
    limit = max_bytes()

    def chunks() -> Iterator[bytes]:
        yield head
        while block := stream.read(1024 * 1024):
            yield block

    # The notice period first (it may move the deadline): a refusal here leaves no blob behind.
    moved = check_notice_period(tender, actor, extend=extend, now=now,
                                reason=_("Tender documents amended: %(name)s", name=filename)) \
        if amendment else False
    store = blob_store_from_config(current_app.config)
    try:
        stored = store.put_stream(chunks(), max_size=limit)
    except BlobTooLarge:
        raise ValidationError("file", _("The file is larger than the limit of %(mb)s MB; nothing was stored.",
                                        mb=f"{limit / 1_000_000:g}")) from None
    exists = db.session.scalar(select(TenderDocument.id).where(TenderDocument.tender_id == tender.id,
                                                               TenderDocument.sha256 == stored.sha256))
    if exists:
        raise ValidationError("file", _("This file is already among the tender's documents."))
    document = TenderDocument(tender_id=tender.id, kind=kind, filename=filename, media_type=found.media_type,
                              sha256=stored.sha256, size=stored.size, amendment=amendment,
                              uploaded_by_id=actor.id, uploaded_at=now)
    db.session.add(document)
    db.session.flush()
    audit.record("tender_document.added", actor=actor,
                 subject={"tender": tender.id, "tender_document": document.id},
                 data={"kind": kind, "filename": filename, "media_type": found.media_type,
                       "sha256": stored.sha256, "size": stored.size, "amendment": amendment,
                       "deadline_moved": moved})
    return document


def remove(document: TenderDocument, actor: User) -> None:
    """Take a file out of a draft's documents (a published tender's documents stay; amend instead)."""
    if document.tender.state != TenderState.DRAFT:
        raise Refused(_("A published tender's documents cannot be removed; upload an amendment instead."),
                      code="illegal_transition", status=409)
    audit.record("tender_document.removed", actor=actor,
                 subject={"tender": document.tender_id, "tender_document": document.id},
                 data={"filename": document.filename, "sha256": document.sha256})
    db.session.delete(document)
    db.session.flush()


def opening_started(tender: Tender) -> bool:
    from bidding.opening.models import Opening

    return db.session.scalar(select(Opening.id).where(Opening.tender_id == tender.id)) is not None


def may_download(tender: Tender, actor: User | None) -> bool:
    """Bidders and supervisors once published; the tender's own office always."""
    if actor is None:
        return False
    if actor.role == Role.TENDERING_OFFICE:
        return actor.organisation_id == tender.tendering_office_id
    return actor.role in (Role.BIDDER, Role.SUPERVISOR) and tender.is_public


def commitment(salt: str, organisation_id: int, document: TenderDocument, at: dt.datetime) -> str:
    text = (f"ebid-download-v1|{salt}|{organisation_id}|{document.tender_id}|{document.sha256}|"
            f"{at.isoformat()}")
    return hashlib.sha256(text.encode()).hexdigest()


def record_download(document: TenderDocument, actor: User, *, now: dt.datetime | None = None) -> None:
    """Log a download. A bidder's: a sealed row, and a public log entry naming only its commitment (no
    actor, no address, no tender). The office's own: an ordinary entry."""
    now = now or utcnow()
    if actor.role != Role.BIDDER:
        audit.record("tender_document.downloaded", actor=actor,
                     subject={"tender": document.tender_id, "tender_document": document.id}, data={})
        return
    salt = secrets.token_hex(32)
    sealed = commitment(salt, actor.organisation_id, document, now)
    db.session.add(TenderDocumentDownload(document_id=document.id, organisation_id=actor.organisation_id,
                                          user_id=actor.id, downloaded_at=now, salt=salt, commitment=sealed))
    db.session.flush()
    audit.record("tender_document.downloaded", actor=None, ip=None, subject={"download": sealed}, data={})


def downloads_visible_to(tender: Tender, actor: User | None) -> list[TenderDocumentDownload] | None:
    """Who downloaded: to the tender's office and supervisors, once the opening has started; else None."""
    if actor is None:
        return None
    office = actor.role == Role.TENDERING_OFFICE and actor.organisation_id == tender.tendering_office_id
    if not ((office or actor.role == Role.SUPERVISOR) and opening_started(tender)):
        return None
    return list(db.session.scalars(
        select(TenderDocumentDownload).join(TenderDocument)
        .where(TenderDocument.tender_id == tender.id).order_by(TenderDocumentDownload.downloaded_at)))


def notice_lines(tender: Tender) -> list[str]:
    """The notice's paragraphs naming each document and its SHA-256."""
    lines = []
    for doc in documents_of(tender):
        label = "招标文件" if doc.kind == MAIN else "附件"
        lines.append(f"{label}：{doc.filename}（{doc.size} 字节，SHA-256 {doc.sha256}）")
    return lines


def notice_data(tender: Tender) -> list[dict]:
    return [{"kind": d.kind, "filename": d.filename, "sha256": d.sha256, "size": d.size,
             "amendment": d.amendment}
            for d in documents_of(tender)]
