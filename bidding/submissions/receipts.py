"""Receipts for a bidder: a signed JWS with the log inclusion proof, and a signed PDF it can file.

The JWS receipt is signed in the request, inside the submission's transaction: it is the legal
proof, and costs about 0.1 ms. The PDF receipt (a PAdES seal with an RFC 3161 stamp, about 35 ms
of CPU) is issued after the commit by a clock job, `issue_pending`, which renders and signs it
holding no database lock and then stores it in a short transaction of its own. While envelopes keep
arriving at this process (one in the last QUIET seconds: a deadline rush), it waits, up to
RECEIPT_PDF_MAX_DEFER (120 s) for the oldest: the submissions come first, with the database's
write lock (SQLite) and the interpreter to themselves. Until it is made the API answers 202 for
it; once made it stays retrievable like any signed document.

Both are for the bidder only. What they put in the public log names neither the bidder nor the
tender: the PDF is logged under the envelope's hash with a title that says only what kind of
receipt it is, with no actor and no client address.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from flask import Response, current_app, url_for
from sqlalchemy import func, or_, select, text, update

from bidding.submissions.models import RECEIPT_PENDING, WITHDRAWAL_RECEIPT_PENDING, Bid, BidState
from core.extensions import db
from core.orm import utcnow
from signing import audit, documents
from signing.models import LogEntry, SignedDocument
from signing.pdf import format_time

log = logging.getLogger(__name__)

KIND_SUBMITTED = "bid.receipt"
KIND_WITHDRAWN = "bid.withdrawal_receipt"
#: Which receipt of a bid: for its submission, or for its withdrawal.
SUBMITTED, WITHDRAWN = "submitted", "withdrawn"
#: The clock job that issues the PDF receipts.
JOB = "bidding.receipt_pdfs"
#: A run of the job stops after about this long (seconds), so the close job is never held up for long.
RUN_BUDGET = 0.25
#: Seconds without an envelope arriving (at this process) before PDF receipts are made again.
QUIET = 2.0
#: Bids looked up per run.
BATCH = 50
#: What the API tells a client to wait before asking again for a PDF not yet made (seconds).
RETRY_AFTER = 2


def _when(value) -> str:
    """A time in the documents' one format (the deployment's zone, named); the exact instant, to the
    microsecond, is in the signed receipt (JWS) the document carries."""
    return format_time(value)


def jws(entry: LogEntry, bid: Bid) -> str:
    """The signed receipt for a log entry about the bid's envelope (subject as in the entry)."""
    return audit.receipt(entry, entry.event, {"envelope": bid.envelope_sha256})


def _rows(bid: Bid) -> list[list[str]]:
    tender = bid.tender
    return [
        ["项目 / Tender", f"{tender.reference} {tender.title}"],
        ["标段 / Lot", str(bid.lot_number)],
        ["投标人 / Bidder", f"{bid.organisation.name}（{bid.organisation.credit_code}）"],
        ["投标文件哈希 / Envelope SHA-256", bid.envelope_sha256],
        ["签名摘要 / Signed envelope hash", bid.envelope_hash],
        ["承诺值 / Commitment", bid.commitment],
        ["大小 / Size", f"{bid.size:,} bytes"],
        ["开标密钥 / Opening key (kid)", bid.opening_kid],
    ]


@dataclass(frozen=True)
class Content:
    """A PDF receipt's text, read from the database as plain values (so it is made holding no lock)."""

    bid_id: int
    which: str
    kind: str
    title: str
    paragraphs: list[str]
    table: list[list[str]]
    subject: dict[str, str]
    organisation_id: int


def submission_content(bid: Bid) -> Content:
    """What the PDF receipt of a submission says."""
    user = bid.user
    paragraphs = [
        f"递交时间（平台时钟）/ Received (platform clock)：{_when(bid.submitted_at)}",
        f"投标截止时间 / Submission deadline：{_when(bid.tender.submission_deadline)}",
        f"审计日志条目 / Audit log entry：#{bid.log_index}",
        f"递交人 / Submitted by：{user.display_name}（{user.username}）",
        "本回执证明平台已在截止时间前收到上述加密投标文件。平台无法解密其内容：文件只能由投标人本人的密钥"
        "或开标时由保管人重建的开标密钥打开。/ The platform received the sealed envelope above before the "
        "deadline. It cannot read it: only the bidder's own key, or the opening key rebuilt by the "
        "custodians at the opening, opens it.",
    ]
    if bid.replaces is not None:
        paragraphs.insert(1, f"替换此前递交的投标文件 / Replaces envelope：{bid.replaces.envelope_sha256}")
    return Content(bid.id, SUBMITTED, KIND_SUBMITTED, "投标文件递交回执 / Bid submission receipt", paragraphs,
                   _rows(bid), {"envelope": bid.envelope_sha256}, bid.organisation_id)


def withdrawal_content(bid: Bid) -> Content:
    """What the PDF receipt of a withdrawal says."""
    user = bid.withdrawn_by or bid.user
    paragraphs = [
        f"撤回时间（平台时钟）/ Withdrawn (platform clock)：{_when(bid.withdrawn_at)}",
        f"审计日志条目 / Audit log entry：#{bid.withdrawal_log_index}",
        f"撤回人 / Withdrawn by：{user.display_name}（{user.username}）",
        "该投标文件已在截止时间前撤回，开标时不予开启。/ The envelope was withdrawn before the deadline and "
        "will not be opened.",
    ]
    return Content(bid.id, WITHDRAWN, KIND_WITHDRAWN, "投标文件撤回回执 / Bid withdrawal receipt", paragraphs,
                   _rows(bid), {"envelope": bid.envelope_sha256}, bid.organisation_id)


def _column(which: str):
    return Bid.receipt_document_id if which == SUBMITTED else Bid.withdrawal_document_id


def issue(content: Content) -> int | None:
    """Render, seal and store one PDF receipt, and attach it to its bid; the document's id.

    Call it with no transaction open: the rendering and signing run first, holding no lock; the
    document, its log entry and the bid's link to it are then written in the caller's transaction.
    None (nothing written) if the bid already has this receipt: another runner was quicker.
    """
    document = documents.issue(content.kind, title=content.title, paragraphs=content.paragraphs,
                               table=content.table, lang="zh_CN", subject=content.subject, actor=None,
                               public=False, organisation_id=content.organisation_id, ip=None)
    column = _column(content.which)
    done = db.session.execute(update(Bid).where(Bid.id == content.bid_id, column.is_(None))
                              .values({column: document.id}),
                              execution_options={"synchronize_session": False})
    if done.rowcount != 1:
        db.session.rollback()
        return None
    return document.id


def pending(limit: int) -> list[tuple[int, str]]:
    """Receipts still to be issued, oldest bid first: (bid id, SUBMITTED or WITHDRAWN)."""
    rows = db.session.execute(select(Bid.id, Bid.receipt_document_id, Bid.state, Bid.withdrawal_document_id)
                              .where(or_(text(RECEIPT_PENDING), text(WITHDRAWAL_RECEIPT_PENDING)))
                              .order_by(Bid.id).limit(limit)).all()
    work = []
    for bid_id, receipt, state, withdrawal in rows:
        if receipt is None:
            work.append((bid_id, SUBMITTED))
        if state == BidState.WITHDRAWN and withdrawal is None:
            work.append((bid_id, WITHDRAWN))
    return work


def issue_pending(now: dt.datetime) -> dt.datetime | None:
    """The job: issue the PDF receipts not yet made, for about RUN_BUDGET seconds; returns when to run again.

    Each receipt is read in one short transaction, rendered and signed with none open, and stored in
    another, so submissions never queue behind the PDF work. Idempotent: a second runner skips what
    the first made.
    """
    from bidding.submissions.arrival import ARRIVING

    started = time.monotonic()
    work = pending(limit=BATCH)
    oldest = db.session.scalar(select(func.min(Bid.submitted_at)).where(Bid.id.in_([w[0] for w in work])))
    db.session.commit()  # end the read
    def rush() -> bool:
        """Envelopes are arriving (a deadline rush): they come first, and the PDFs wait, up to max_defer()."""
        return ARRIVING.busy(QUIET) and oldest is not None and utcnow() - oldest < max_defer()

    if work and rush():
        return utcnow() + dt.timedelta(seconds=RUN_BUDGET)
    failed = False
    for done, (bid_id, which) in enumerate(work, start=1):
        if done > 1 and rush():
            return utcnow() + dt.timedelta(seconds=RUN_BUDGET)
        try:
            bid = db.session.get(Bid, bid_id)
            content = submission_content(bid) if which == SUBMITTED else withdrawal_content(bid)
            db.session.commit()  # the content is plain values now: hold nothing while signing
            if issue(content) is not None:
                db.session.commit()
                announce(content)
        except Exception:
            db.session.rollback()
            log.exception("the %s receipt PDF of bid %s could not be issued; retrying later", which, bid_id)
            failed = True
        if time.monotonic() - started > RUN_BUDGET and done < len(work):
            return utcnow()  # more to do: again at once, after any other job that is due
    if failed:
        return now + dt.timedelta(seconds=5)
    if len(work) >= BATCH:
        return utcnow()
    poll = current_app.config.get("RECEIPT_PDF_POLL", 2)
    return now + dt.timedelta(seconds=float(poll))


def announce(content: Content) -> None:
    """Tell the bid's organisation, live, that its PDF receipt is ready (its "My bids" page shows the link
    without a reload). Called after the commit."""
    from bidding.my_bids import publish_receipt_ready

    publish_receipt_ready(bid_id=content.bid_id, which=content.which, organisation_id=content.organisation_id)


def max_defer() -> dt.timedelta:
    """The longest a PDF receipt waits while envelopes keep arriving (RECEIPT_PDF_MAX_DEFER, seconds)."""
    return dt.timedelta(seconds=float(current_app.config.get("RECEIPT_PDF_MAX_DEFER", 120)))


def page_url(bid: Bid, which: str) -> str:
    """Where a person at a browser fetches the PDF receipt (the PDF once made; until then a page that
    says it is being made)."""
    endpoint = "submissions_pages.receipt_pdf" if which == SUBMITTED else "submissions_pages.withdrawal_pdf"
    return url_for(endpoint, bid_id=bid.id)


def api_url(bid: Bid, which: str) -> str:
    """Where an API client (bearer token) fetches the PDF receipt: 200 with the PDF, or 202 until made."""
    endpoint = "submissions_api.receipt_pdf" if which == SUBMITTED else "submissions_api.withdrawal_pdf"
    return url_for(endpoint, bid_id=bid.id)


def document_id(bid: Bid, which: str) -> int | None:
    return bid.receipt_document_id if which == SUBMITTED else bid.withdrawal_document_id


def pdf_response(document_id: int) -> Response:
    """The receipt's signed PDF, as the document pages serve it."""
    document = db.session.get(SignedDocument, document_id)
    version = document.current
    name = f"{document.kind}-{document.id}-v{version.number}.pdf"
    return Response(documents.read_version(version), mimetype="application/pdf",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


def wake() -> None:
    """Ask the clock to issue pending receipts now (in this process; another process polls)."""
    scheduler = current_app.extensions.get("ebid.scheduler")
    if scheduler is not None and JOB in scheduler.jobs:
        scheduler.wake(JOB)
