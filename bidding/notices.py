"""The tender notice: the signed PDF that publication issues, in Chinese as the law's notices are."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app

from app.models import User
from bidding.models import EvaluationMethod, OpeningRemedy, Tender
from signing import documents
from signing.models import SignedDocument

METHOD_ZH = {EvaluationMethod.LOWEST_EVALUATED_PRICE: "经评审的最低投标价法",
             EvaluationMethod.COMPREHENSIVE_SCORING: "综合评估法"}
REMEDY_ZH = {
    OpeningRemedy.CUSTODIAN_SHARES: (
        "由不少于门限数量的开标密钥保管人提交密钥分片，重建开标密钥后开启该投标文件"),
    OpeningRemedy.NONE: "不予补救，视为撤回投标文件",
}
CATEGORY_ZH = {"price": "价格", "commercial": "商务", "technical": "技术"}


def _when(value) -> str:
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") + f"（{zone.key}）"


def issue_notice(tender: Tender, actor: User | None) -> SignedDocument:
    """Render, seal and log the tender notice."""
    paragraphs = [
        f"项目编号：{tender.reference}",
        f"招标人：{tender.tendering_office.name}（统一社会信用代码 {tender.tendering_office.credit_code}）",
        f"项目所在地区：{tender.region}",
        f"招标控制价：{tender.estimated_amount:,.2f} {tender.currency}",
        f"投标保证金：{tender.deposit_amount:,.2f} {tender.currency}",
        f"投标截止时间：{_when(tender.submission_deadline)}",
        f"开标时间：{_when(tender.opening_time)}，远程不见面开标",
        f"投标有效期：{tender.bid_validity_days} 天",
        f"评标办法：{METHOD_ZH[tender.evaluation_method]}",
        f"开标密钥标识（kid）：{tender.opening_key.kid}（门限 {tender.opening_key.threshold}/"
        f"{tender.opening_key.count}）",
        f"解密时限：开标后 {tender.decryption_window_minutes} 分钟内，投标人在本人电脑上解密并提交数据密钥",
        "解密失败的补救：" + REMEDY_ZH[tender.opening_remedy],
    ]
    if tender.description:
        paragraphs.append(f"项目概况：{tender.description}")
    table = [["标段", "标段名称", "控制价"]] + [
        [str(lot.number), lot.title, f"{lot.estimated_amount:,.2f} {tender.currency}"] for lot in tender.lots]
    table += [["", "", ""], ["评审因素", "类别", "权重 / 满分"]] + [
        [c.name, CATEGORY_ZH[c.category.value], f"{c.weight} / {c.max_score}"] for c in tender.criteria]
    return documents.issue("tender_notice", title=f"招标公告：{tender.title}", paragraphs=paragraphs,
                           table=table, lang="zh_CN", subject={"tender": tender.id}, actor=actor, public=True,
                           organisation_id=tender.tendering_office_id)
