"""The documents of publicity and award, in Chinese as the law's notices are: the candidates notice
(public), the award notice to each winner (signed by the platform's seal and by the office person who
awarded, with their password), a result notice to every other bidder, and the public result
announcement, which names the evaluation panel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from bidding.evaluation.award import Award, Candidate, Publicity
from bidding.models import Tender
from core.labels import format_money
from core.models import Organisation, User
from core.money import Money
from signing import documents
from signing.models import SignedDocument
from signing.pdf import format_time

CANDIDATES_KIND = "candidates_notice"
AWARD_KIND = "award_notice"
RESULT_KIND = "result_notice"
ANNOUNCEMENT_KIND = "result_announcement"
TENDEREE_FIELD = "tenderee"


def when(value: dt.datetime) -> str:
    """A time as people read it on the notices: the display time zone, named."""
    return format_time(value)


def _money(amount, currency: str) -> str:
    return format_money(Money(amount, currency), "zh_CN")


def _head(tender: Tender) -> list[str]:
    return [
        f"项目编号：{tender.reference}",
        f"项目名称：{tender.title}",
        f"招标人：{tender.tendering_office.name}（统一社会信用代码 {tender.tendering_office.credit_code}）",
    ]


def issue_candidates_notice(tender: Tender, publicity: Publicity, candidates: Sequence[Candidate],
                            actor: User) -> SignedDocument:
    """The public notice of the candidates and the publicity period."""
    paragraphs = _head(tender) + [
        f"公示期：{when(publicity.starts_at)} 至 {when(publicity.ends_at)}",
        "投标人对评标结果有异议的，应当在公示期内通过本平台提出；公示期结束后提出的异议不予受理。"
        "招标人答复全部异议前，不发出中标通知书。",
        "评标委员会成员名单于中标结果公告时公布。",
    ]
    table = [["标段", "排名", "中标候选人", "统一社会信用代码", "投标报价", "综合得分"]]
    for c in candidates:
        table.append([str(c.lot_number), f"第{c.rank}名", c.organisation.name, c.organisation.credit_code,
                      _money(c.price_amount, c.price_currency), f"{c.total:.2f}"])
    return documents.issue(CANDIDATES_KIND, title=f"中标候选人公示：{tender.title}", paragraphs=paragraphs,
                           table=table, lang="zh_CN", subject={"tender": tender.id}, actor=actor, public=True,
                           organisation_id=tender.tendering_office_id)


def issue_award_notice(tender: Tender, award: Award, actor: User) -> SignedDocument:
    """The award notice to the winner of a lot; reserves the awarding person's signature field."""
    winner: Organisation = award.organisation
    paragraphs = _head(tender) + [
        f"致：{winner.name}（统一社会信用代码 {winner.credit_code}）",
        f"经评标委员会评审、中标候选人公示期满，确定贵单位为本项目第 {award.lot_number} 标段的中标人。",
        f"中标价：{_money(award.price_amount, award.price_currency)}",
        "请在本通知书发出之日起三十日内，按照招标文件和贵单位的投标文件与招标人订立书面合同。",
    ]
    if award.candidate_rank != 1:
        paragraphs.append(f"贵单位为第{award.candidate_rank}名中标候选人；确定理由：{award.reason}")
    paragraphs.append(f"发出时间：{when(award.awarded_at)}")
    return documents.issue(
        AWARD_KIND, title=f"中标通知书：{tender.title}", paragraphs=paragraphs, lang="zh_CN",
        subject={"tender": tender.id, "lot": award.lot_number, "bid": award.bid_id}, actor=actor,
        public=False, organisation_id=winner.id,
        reserve=[documents.Reserved(TENDEREE_FIELD, f"招标人 {tender.tendering_office.name}", actor.id)],
    )


def issue_result_notice(tender: Tender, award: Award, bidder: Organisation, bid_id: int, lot_number: int,
                        actor: User) -> SignedDocument:
    """The result notice to a bidder of the lot who did not win it."""
    paragraphs = _head(tender) + [
        f"致：{bidder.name}（统一社会信用代码 {bidder.credit_code}）",
        f"本项目第 {lot_number} 标段的中标人为 {award.organisation.name}，"
        f"中标价 {_money(award.price_amount, award.price_currency)}。",
        "贵单位未中标。感谢贵单位的参与。",
        f"发出时间：{when(award.awarded_at)}",
    ]
    return documents.issue(
        RESULT_KIND, title=f"中标结果通知书：{tender.title}", paragraphs=paragraphs, lang="zh_CN",
        subject={"tender": tender.id, "lot": lot_number, "bid": bid_id}, actor=actor, public=False,
        organisation_id=bidder.id,
    )


#: The award's columns: one row per awarded lot.
AWARD_COLUMNS = ["lot", "bid", "winner", "credit_code", "price", "currency", "candidate_rank", "reason",
                 "awarded_at"]


def award_frame(awards: Sequence[Award]) -> pd.DataFrame:
    """The award as the public result announcement states it: the one frame behind its table and the
    award exports (supervision/exports.py). `price` is a Decimal, `awarded_at` a UTC datetime."""
    rows = [[a.lot_number, a.bid_id, a.organisation.name, a.organisation.credit_code, a.price_amount,
             a.price_currency, a.candidate_rank, a.reason, a.awarded_at]
            for a in sorted(awards, key=lambda a: a.lot_number)]
    return pd.DataFrame(rows, columns=AWARD_COLUMNS, dtype=object)


def issue_announcement(tender: Tender, awards: Sequence[Award], panels: Sequence[tuple[int, list[str]]],
                       actor: User, now: dt.datetime) -> SignedDocument:
    """The public result announcement: each lot's winner and price, and the panel's names, revealed now."""
    paragraphs = _head(tender) + [f"公告时间：{when(now)}"]
    for lot, names in panels:
        paragraphs.append(f"第 {lot} 标段评标委员会成员：{'、'.join(names) if names else '—'}")
    table = [["标段", "中标人", "统一社会信用代码", "中标价", "中标候选人排名"]]
    for r in award_frame(awards).itertuples(index=False):
        table.append([str(r.lot), r.winner, r.credit_code, _money(r.price, r.currency),
                      f"第{r.candidate_rank}名"])
    return documents.issue(ANNOUNCEMENT_KIND, title=f"中标结果公告：{tender.title}", paragraphs=paragraphs,
                           table=table, lang="zh_CN", subject={"tender": tender.id}, actor=actor, public=True,
                           organisation_id=tender.tendering_office_id)
