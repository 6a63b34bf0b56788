"""The tender's notices, signed PDFs in Chinese as the law's notices are: the tender notice that
publication issues, and the failure notice that an opening with too few valid bids issues."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_babel import force_locale

from bidding.models import EvaluationMethod, OpeningRemedy, Tender
from bidding.tender_documents import notice_lines
from core import procurement
from core.models import User
from signing import documents
from signing.models import SignedDocument
from signing.pdf import format_time

if TYPE_CHECKING:
    from bidding.opening.models import Opening

FAILURE_KIND = "tender_failure_notice"

METHOD_ZH = {EvaluationMethod.LOWEST_EVALUATED_PRICE: "经评审的最低投标价法",
             EvaluationMethod.COMPREHENSIVE_SCORING: "综合评估法"}
REMEDY_ZH = {
    OpeningRemedy.CUSTODIAN_SHARES: (
        "由不少于门限数量的开标密钥保管人提交密钥分片，重建开标密钥后开启该投标文件"),
    OpeningRemedy.NONE: "不予补救，视为撤回投标文件",
}
CATEGORY_ZH = {"price": "价格", "commercial": "商务", "technical": "技术"}


def _when(value) -> str:
    """A time in the documents' one format (the deployment's zone, named)."""
    return format_time(value)


def _in_chinese(labels: dict, code: str) -> str:
    """A code's label as the Chinese documents print it (the platform's own zh_CN translation)."""
    with force_locale("zh_CN"):
        return str(labels.get(code, code))


def issue_notice(tender: Tender, actor: User | None) -> SignedDocument:
    """Render, seal and log the tender notice."""
    paragraphs = [
        f"项目编号：{tender.reference}",
        f"项目类型：{_in_chinese(procurement.PROJECT_TYPE_LABELS, tender.project_type)}",
        f"招标方式：{_in_chinese(procurement.PROCUREMENT_METHOD_LABELS, tender.procurement_method)}",
        f"招标人：{tender.tendering_office.name}（统一社会信用代码 {tender.tendering_office.credit_code}）",
        f"项目所在地区：{tender.region}",
        f"招标控制价：{tender.estimated_price}"  # the currency's own decimals,
        f"投标保证金：{tender.deposit}",
        f"投标截止时间：{_when(tender.submission_deadline)}",
        f"开标时间：{_when(tender.opening_time)}，远程不见面开标",
        f"投标有效期：{tender.bid_validity_days} 天",
        f"评标办法：{METHOD_ZH[tender.evaluation_method]}",
        f"开标密钥标识（kid）：{tender.opening_key.kid}（门限 {tender.opening_key.threshold}/"
        f"{tender.opening_key.count}）",
        f"解密时限：开标后 {tender.decryption_window_minutes} 分钟内，投标人在本人电脑上解密并提交数据密钥",
        "解密失败的补救：" + REMEDY_ZH[tender.opening_remedy] + _remedy_deadline(tender),
    ]
    origin = _retender_origin(tender)
    if origin:
        paragraphs.append(origin)
    paragraphs += notice_lines(tender)  # the tender documents, each by its SHA-256
    if tender.description:
        paragraphs.append(f"项目概况：{tender.description}")
    table = [["标段", "标段名称", "控制价"]] + [
        [str(lot.number), lot.title, str(lot.estimated_price)] for lot in tender.lots]
    table += [["", "", ""], ["评审因素", "类别", "权重 / 满分"]] + [
        [c.name, CATEGORY_ZH[c.category.value], f"{c.weight} / {c.max_score}"] for c in tender.criteria]
    return documents.issue("tender_notice", title=f"招标公告：{tender.title}", paragraphs=paragraphs,
                           table=table, lang="zh_CN", subject={"tender": tender.id}, actor=actor, public=True,
                           organisation_id=tender.tendering_office_id)


def _remedy_deadline(tender: Tender) -> str:
    if tender.opening_remedy != OpeningRemedy.CUSTODIAN_SHARES:
        return ""
    from bidding.opening.services import remedy_period

    minutes = int(remedy_period(tender).total_seconds() // 60)
    return f"；补救时限：解密时限结束后 {minutes} 分钟内，逾期仍未开启的投标文件视为撤销"


def _retender_origin(tender: Tender) -> str | None:
    """For a re-tendered copy: the failed tender it replaces and the hash of that tender's failure notice."""
    from bidding.opening.services import failure_notice, retendered_from

    opening = retendered_from(tender)
    if opening is None:
        return None
    notice = failure_notice(opening)
    line = f"重新招标：本项目系项目编号 {opening.tender.reference} 招标失败后的重新招标"
    return line + (f"（招标失败公告 SHA-256：{notice.current.sha256}）" if notice else "")


def issue_failure_notice(
    opening: Opening, record: SignedDocument, actor: User | None, *, valid: int, minimum: int
) -> SignedDocument:
    """Render, seal and log the failure notice of an opening with fewer than `minimum` valid bids."""
    from bidding.opening.record import STATE_LABELS
    from bidding.opening.services import bid_openings

    tender = opening.tender
    rows = bid_openings(tender)
    paragraphs = [
        f"项目编号：{tender.reference}",
        f"项目名称：{tender.title}",
        f"招标人：{tender.tendering_office.name}（统一社会信用代码 {tender.tendering_office.credit_code}）",
        f"开标时间：{_when(tender.opening_time)}；开标结束：{_when(opening.concluded_at)}",
        f"开标结果：投标截止时递交投标文件 {len(rows)} 份，解密并验证成功的有效投标 {valid} 份，"
        f"少于 {minimum} 家，本次招标失败。",
        "招标人将依照《中华人民共和国招标投标法》的规定重新招标；重新招标的项目在本平台另行公告，"
        "其招标公告载明本公告的 SHA-256 摘要。",
        f"开标记录：文件编号 {record.id}，SHA-256 {record.current.sha256}",
    ]
    table = [["标段", "投标人", "开标结果"]] + [
        [str(row.bid.lot_number), row.bid.organisation.name, STATE_LABELS[row.state]] for row in rows
    ]
    return documents.issue(FAILURE_KIND, title=f"招标失败公告：{tender.title}", paragraphs=paragraphs,
                           table=table, lang="zh_CN", subject={"tender": tender.id}, actor=actor, public=True,
                           organisation_id=tender.tendering_office_id)
