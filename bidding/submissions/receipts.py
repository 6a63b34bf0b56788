"""Receipts for a bidder: a signed JWS with the log inclusion proof, and a signed PDF it can file.

Both are for the bidder only. What they put in the public log names neither the bidder nor the
tender: the PDF is logged under the envelope's hash with a title that says only what kind of
receipt it is, with no actor and no client address.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app, url_for

from app.models import User
from bidding.submissions.models import Bid
from signing import audit, documents
from signing.models import LogEntry, SignedDocument

KIND_SUBMITTED = "bid.receipt"
KIND_WITHDRAWN = "bid.withdrawal_receipt"


def _when(value) -> str:
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    local = value.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d}（{zone.key}）/ {value.isoformat()}"


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
        ["大小 / Size", f"{bid.size} bytes"],
        ["开标密钥 / Opening key (kid)", bid.opening_kid],
    ]


def submission_pdf(bid: Bid, entry: LogEntry, user: User) -> SignedDocument:
    """The signed PDF receipt of a submission, readable by the bidder's company only."""
    paragraphs = [
        f"递交时间（平台时钟）/ Received (platform clock)：{_when(bid.submitted_at)}",
        f"投标截止时间 / Submission deadline：{_when(bid.tender.submission_deadline)}",
        f"审计日志条目 / Audit log entry：#{entry.index}",
        f"递交人 / Submitted by：{user.display_name}（{user.username}）",
        "本回执证明平台已在截止时间前收到上述加密投标文件。平台无法解密其内容：文件只能由投标人本人的密钥"
        "或开标时由保管人重建的开标密钥打开。/ The platform received the sealed envelope above before the "
        "deadline. It cannot read it: only the bidder's own key, or the opening key rebuilt by the "
        "custodians at the opening, opens it.",
    ]
    if bid.replaces is not None:
        paragraphs.insert(1, f"替换此前递交的投标文件 / Replaces envelope：{bid.replaces.envelope_sha256}")
    return documents.issue(KIND_SUBMITTED, title="投标文件递交回执 / Bid submission receipt",
                           paragraphs=paragraphs, table=_rows(bid), lang="zh_CN",
                           subject={"envelope": bid.envelope_sha256}, actor=None, public=False,
                           organisation_id=bid.organisation_id, ip=None)


def withdrawal_pdf(bid: Bid, entry: LogEntry, user: User) -> SignedDocument:
    """The signed PDF receipt of a withdrawal."""
    paragraphs = [
        f"撤回时间（平台时钟）/ Withdrawn (platform clock)：{_when(bid.withdrawn_at)}",
        f"审计日志条目 / Audit log entry：#{entry.index}",
        f"撤回人 / Withdrawn by：{user.display_name}（{user.username}）",
        "该投标文件已在截止时间前撤回，开标时不予开启。/ The envelope was withdrawn before the deadline and "
        "will not be opened.",
    ]
    return documents.issue(KIND_WITHDRAWN, title="投标文件撤回回执 / Bid withdrawal receipt",
                           paragraphs=paragraphs, table=_rows(bid), lang="zh_CN",
                           subject={"envelope": bid.envelope_sha256}, actor=None, public=False,
                           organisation_id=bid.organisation_id, ip=None)


def pdf_url(document_id: int | None) -> str | None:
    return url_for("signing.document_pdf", document_id=document_id) if document_id else None
