"""The opening record: a PDF of what happened at the opening, sealed by the platform, signed by the host
and countersigned by the tender's supervisor (PAdES), its hash in the audit log.

The supervisor who signs is the first supervisor who checked in; if none checked in, the record
reserves no supervisor field (and says so), and only the host signs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd
from sqlalchemy import select

from bidding.models import Tender
from bidding.opening.deposits import DepositStatus
from bidding.opening.models import BidOpeningState, CheckIn, KeySource, Objection, Opening
from core.extensions import db
from core.labels import format_money
from core.models import Role, User
from core.money import Money
from signing import documents
from signing.models import SignedDocument
from signing.pdf import format_time

KIND = "opening_record"
HOST_FIELD = "host"
SUPERVISOR_FIELD = "supervisor"

STATE_LABELS = {
    BidOpeningState.WAITING_KEY: "等待密钥",
    BidOpeningState.DECRYPTING: "解密中",
    BidOpeningState.OPENED: "解密成功",
    BidOpeningState.PLATFORM_FAULT: "平台责任（视为撤回，予以补偿）",
    BidOpeningState.REVOKED: "未在解密时限内解密（视为撤销）",
    BidOpeningState.FAILED: "解密失败",
}
SOURCE_LABELS = {KeySource.BIDDER: "投标人", KeySource.CUSTODIANS: "密钥托管人"}
#: The record is in Chinese; the states are those of the configured DepositStatusProvider.
DEPOSIT_LABELS = {"not_tracked": "未跟踪", "not_required": "无需缴纳", "covered": "已足额",
                  "partly_covered": "部分缴纳", "not_covered": "未缴纳"}


def _time(value: dt.datetime | None) -> str:
    """A time in the documents' one format (the deployment's zone, named), as on every other document."""
    return format_time(value) if value else "—"


#: The opening results' columns: one row per bid at the opening, in lot then bid order.
RESULT_COLUMNS = ["bid", "lot", "bidder", "credit_code", "price", "currency", "duration_days", "state",
                  "key_source", "deposit"]


def results_frame(tender: Tender, deposits: Mapping[int, DepositStatus] | None = None) -> pd.DataFrame:
    """The opening results as the record shows them: the one frame behind the record's table and the
    opening exports (supervision/exports.py). `price` is a Decimal for an opened bid, else None; `state`,
    `key_source` and `deposit` are codes. `deposits` (bid id -> status) are those the conclusion fixed;
    a bid missing there is asked of the configured provider now."""
    from bidding.opening import services

    provider = services.deposit_provider()
    deposits = deposits or {}
    rows = []
    for row in services.bid_openings(tender):
        bid = row.bid
        deposit = deposits.get(bid.id)
        if deposit is None:
            deposit = provider.status(tender_id=tender.id, organisation_id=bid.organisation_id)
        opened = row.state == BidOpeningState.OPENED and row.price_amount is not None
        rows.append([bid.id, bid.lot_number, bid.organisation.name, bid.organisation.credit_code,
                     row.price_amount if opened else None,
                     (row.price_currency or tender.currency) if opened else tender.currency,
                     row.duration_days or None, row.state.value,
                     row.key_source.value if row.key_source else None, deposit.state])
    return pd.DataFrame(rows, columns=RESULT_COLUMNS, dtype=object)


def record_table(frame: pd.DataFrame) -> list[list[str]]:
    """The record's table (in Chinese, as the record is) from `results_frame`."""
    table = [["标段", "投标人", "报价", "工期（天）", "解密结果", "密钥来源", "保证金"]]
    for r in frame.itertuples(index=False):
        table.append([
            str(r.lot),
            r.bidder,
            format_money(Money(r.price, r.currency), "zh_CN") if r.price is not None else "—",
            str(r.duration_days) if r.duration_days else "—",
            STATE_LABELS[BidOpeningState(r.state)],
            SOURCE_LABELS[KeySource(r.key_source)] if r.key_source else "—",
            DEPOSIT_LABELS.get(r.deposit, r.deposit),
        ])
    return table


def supervisor_of(opening: Opening) -> User | None:
    """The first supervisor who checked in to the opening, if any."""
    row = db.session.scalar(
        select(CheckIn)
        .where(CheckIn.tender_id == opening.tender_id, CheckIn.role == Role.SUPERVISOR.value)
        .order_by(CheckIn.at, CheckIn.id)
        .limit(1)
    )
    return row.user if row else None


def issue_record(opening: Opening, deposits: Mapping[int, DepositStatus] | None = None) -> SignedDocument:
    """Render and seal the record, reserving the host's and (if one attended) the supervisor's fields.

    `deposits` (bid id -> status) are the statuses the conclusion fixed and logged; a bid missing there
    is asked of the provider now.
    """
    tender = opening.tender
    supervisor = supervisor_of(opening)
    check_ins = list(
        db.session.scalars(
            select(CheckIn).where(CheckIn.tender_id == tender.id).order_by(CheckIn.at, CheckIn.id)
        )
    )
    objections = list(
        db.session.scalars(select(Objection).where(Objection.tender_id == tender.id).order_by(Objection.id))
    )
    result = "开标完成，进入评标" if opening.state.value == "concluded" else "有效投标不足三家，招标失败"
    paragraphs = [
        f"项目编号：{tender.reference}　项目名称：{tender.title}",
        f"开标时间：{_time(tender.opening_time)}；开标开始：{_time(opening.started_at)}；"
        f"解密截止：{_time(opening.window_ends_at)}；"
        + (f"补救截止：{_time(opening.remedy_ends_at)}；" if opening.remedy_ends_at else "")
        + f"开标结束：{_time(opening.concluded_at)}",
        f"主持人：{opening.host.display_name}（{tender.tendering_office.name}）",
        f"监督人：{supervisor.display_name}"
        if supervisor
        else "监督人：无监督人签到，本记录不设监督人签章栏",
        "签到："
        + (
            "；".join(
                f"{c.user.display_name}（{c.organisation.name if c.organisation else c.role}，{_time(c.at)}）"
                for c in check_ins
            )
            or "无"
        ),
        f"开标结果：{result}",
    ]
    for o in objections:
        paragraphs.append(
            f"异议（{o.raised_by.organisation.name if o.raised_by.organisation else ''}，"
            f"{_time(o.raised_at)}）：{o.text}"
        )
        paragraphs.append(f"答复（{_time(o.answered_at)}）：{o.answer}" if o.answer else "答复：未答复")
    if not objections:
        paragraphs.append("异议：无")
    table = record_table(results_frame(tender, deposits))
    reserve = [documents.Reserved(HOST_FIELD, f"主持人 {opening.host.display_name}", opening.host_id)]
    if supervisor is not None:
        reserve.append(
            documents.Reserved(SUPERVISOR_FIELD, f"监督人 {supervisor.display_name}", supervisor.id)
        )
    return documents.issue(
        KIND,
        title=f"开标记录 {tender.reference}",
        paragraphs=paragraphs,
        table=table,
        subject={"tender": tender.id},
        actor=opening.host,
        public=True,
        organisation_id=tender.tendering_office_id,
        reserve=reserve,
    )
