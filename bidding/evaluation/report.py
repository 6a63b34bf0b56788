"""The evaluation report: a PDF with every expert's score per criterion, the aggregates, the price scores,
the ranking with its tie-breaks, the flagged scores and their justifications; certified by the platform's
seal with one signature field reserved per panel expert, who each sign it (PAdES, incremental, password
confirmed) on the document page or in the room. Its hash is in the audit log at every version.

Experts appear by their number in the room ("专家 3"); their names are in their signatures, so the report
is readable by its signers and supervisors only until the award reveals the panel (award_services.py
then opens it to the tendering office).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pandas as pd

from bidding.evaluation.scoring import Evaluation
from bidding.models import Criterion, EvaluationMethod, Tender
from bidding.submissions.models import Bid
from core.extensions import db
from core.labels import format_money
from core.models import User
from core.money import Money
from signing import audit, documents
from signing.models import SignedDocument
from signing.pdf import MAX_SIGNATURES, format_time

KIND = "evaluation_report"

METHOD_ZH = {EvaluationMethod.LOWEST_EVALUATED_PRICE: "经评审的最低投标价法",
             EvaluationMethod.COMPREHENSIVE_SCORING: "综合评估法"}
CATEGORY_ZH = {"price": "价格", "commercial": "商务", "technical": "技术"}
TIE_BREAK_ZH = {"technical": "技术分高者优先", "commercial": "商务分高者优先", "price": "报价低者优先",
                "submitted_at": "递交时间早者优先", "bid": "投标编号小者优先"}
FLAG_STATE_ZH = {"open": "未处理", "justified": "已说明理由，维持原评分", "revised": "已修改评分"}


def signer_field(number: int) -> str:
    """The signature field reserved for the room's expert `number`."""
    return f"expert{number}"


def _n(value: Any) -> str:
    """A published figure: two decimals, or a dash."""
    if value is None:
        return "—"
    return f"{Decimal(str(value)):.2f}"


def _price(value: Any, currency: str) -> str:
    """An amount as on every document: thousands separated, the currency's decimals, its code."""
    if value is None or _is_na(value):
        return "—"
    return format_money(Money(Decimal(str(value)), currency), "zh_CN")


def _rules_paragraphs(evaluation: Evaluation) -> list[str]:
    r = evaluation.rules
    if r.price_formula == "lowest_price":
        price = "价格分：最低有效投标价得满分，其他投标价得分 = 满分 × 最低有效投标价 ÷ 投标价"
    else:
        price = (f"价格分：评标基准价 = 有效投标价算术平均值 × (1 − {r.benchmark_discount * 100:.2f}%)；"
                 f"投标价每高于基准价 1% 扣 {r.penalty_above} 分，每低于 1% 扣 {r.penalty_below} 分"
                 "（按比例插值），最低为 0 分")
    if r.aggregation == "trimmed_mean":
        agg = (f"专家评分汇总：评分专家不少于 {r.trim_min_experts} 人时去掉一个最高分和一个最低分后"
               "取算术平均值，否则取算术平均值")
    else:
        agg = "专家评分汇总：取全部专家评分的算术平均值"
    return [
        price,
        agg,
        "各评审因素得分 = 汇总分 ÷ 满分 × 权重；汇总分、价格分和各因素得分均四舍五入保留两位小数，"
        "总分为各因素得分之和",
        f"评分偏离：与专家组均值之差超过该因素满分的 {r.outlier_threshold}% 的评分须说明理由或修改",
        "总分相同时：" + "，再".join(TIE_BREAK_ZH[k] for k in (*r.tie_breaks, "bid")),
    ]


def issue_report(*, panel: Any, room: Any, evaluation: Evaluation, flags: Sequence[Any] = (),
                 signers: Sequence[tuple[int, User]] = (), tender: Tender | None = None) -> SignedDocument:
    """Render, seal and log the report of `panel` (an expert panel of bidding/experts), reserving a field
    per signer: `signers` are (number in the room, user); `flags` the room's ScoreFlag rows."""
    tender = tender or panel.tender
    lot = getattr(panel, "lot_number", 1)
    if not signers:
        raise ValueError("an evaluation report needs at least one expert to sign it")
    if len(signers) + 1 > MAX_SIGNATURES:
        raise ValueError(f"a report has room for {MAX_SIGNATURES - 1} expert signatures, not {len(signers)}")
    criteria: dict[Any, Criterion] = {c.id: c for c in tender.criteria}
    bid_ids = list(evaluation.results.index)
    bidders = {b: db.session.get(Bid, int(b)) for b in bid_ids}
    name = {b: (bidders[b].organisation.name if bidders[b] is not None else f"投标 {b}") for b in bid_ids}
    numbers = sorted(n for n, _user in signers)
    sheet_number = {s.id: s.number for s in getattr(room, "sheets", [])}
    results = evaluation.results

    paragraphs = [
        f"项目编号：{tender.reference}　项目名称：{tender.title}　标段：第 {lot} 标段",
        f"招标人：{tender.tendering_office.name}；评标办法：{METHOD_ZH[tender.evaluation_method]}",
        f"评标委员会：{len(signers)} 名专家，按编号（专家 {'、'.join(map(str, numbers))}）签署；"
        "名单随中标结果公告公布",
        *_rules_paragraphs(evaluation),
        f"最低有效投标价：{_price(evaluation.lowest_price, tender.currency)}"
        + (f"；评标基准价：{_price(evaluation.benchmark_price, tender.currency)}"
           if evaluation.benchmark_price is not None else ""),
        f"计算依据摘要（SHA-256，由已存评分、报价和规则重算可得）：{evaluation.inputs_digest()}",
    ]
    for bid, row in results.iterrows():
        if not _is_na(row["rank"]):
            paragraphs.append(
                f"第 {int(row['rank'])} 名：{name[bid]}（投标 {bid}），"
                f"报价 {_price(row['price'], tender.currency)}，价格分 {_n(row['price_points'])}，"
                f"商务分 {_n(row['commercial'])}，技术分 {_n(row['technical'])}，总分 {_n(row['total'])}")
        else:
            paragraphs.append(f"未进入排名：{name[bid]}（投标 {bid}），未通过评审")
    for t in evaluation.tie_breaks:
        values = ("" if t.key == "bid" else f"（{_fmt_tie(t.ahead_value)} 对 {_fmt_tie(t.behind_value)}）")
        paragraphs.append(f"同分排序：{name[t.ahead]} 与 {name[t.behind]} 总分同为 {_n(t.total)}，"
                          f"按“{TIE_BREAK_ZH[t.key]}”{values}，{name[t.ahead]} 在前")
    if flags:
        for f in flags:
            criterion = criteria.get(f.criterion_id)
            state = getattr(f.state, "value", str(f.state))
            outcome = FLAG_STATE_ZH.get(state, state)
            if f.justification:
                outcome += f"；理由：{f.justification}"
            if getattr(f, "revised_to", None) is not None:
                outcome += f"；修改为 {_n(f.revised_to)}"
            paragraphs.append(
                f"偏离标记：专家 {_expert_number(f, sheet_number)} 对 {name.get(f.bid_id, f.bid_id)} 的"
                f"“{criterion.name if criterion else f.criterion_id}”评分 {_n(f.score)}，"
                f"专家组均值 {_n(f.mean)}，"
                f"偏离满分的 {_n(f.deviation_pct)}%（阈值 {_n(f.threshold)}%）：{outcome}")
    else:
        paragraphs.append("偏离标记：无")

    table = _score_table(evaluation, criteria, name, numbers)
    reserve = [documents.Reserved(signer_field(n), f"评标专家 {n}", user.id) for n, user in signers]
    document = documents.issue(
        KIND,
        title=f"评标报告 {tender.reference}" + (f"（第 {lot} 标段）" if lot != 1 else ""),
        paragraphs=paragraphs,
        table=table,
        lang="zh_CN",
        subject={"tender": tender.id, "panel": getattr(panel, "id", None), "lot": lot},
        actor=None,
        public=False,
        organisation_id=None,
        reserve=reserve,
        ip=None,
    )
    audit.record(
        "evaluation.report_issued",
        actor=None,
        subject={"tender": tender.id, "document": document.id},
        data={"lot": lot, "sha256": document.current.sha256, "inputs_digest": evaluation.inputs_digest(),
              "signers": numbers, "ranking": [int(b) for b in evaluation.ranking()]},
        ip=None,
    )
    return document


def _expert_number(flag: Any, sheet_number: dict[int, int]) -> str:
    sheet = getattr(flag, "sheet", None)
    number = getattr(sheet, "number", None) or sheet_number.get(getattr(flag, "sheet_id", None))
    return str(number) if number is not None else "?"


def _is_na(value: Any) -> bool:
    return value is None or value is pd.NA


def _fmt_tie(value: Any) -> str:
    if hasattr(value, "strftime"):
        return format_time(value)
    return _n(value) if isinstance(value, Decimal) else str(value)


def expert_column(number: int) -> str:
    """The score frame's column of the room's expert `number`."""
    return f"expert_{number}"


def score_frame(evaluation: Evaluation, criteria: dict[Any, Criterion], name: dict[Any, str],
                numbers: list[int]) -> pd.DataFrame:
    """Per bid (in result order) and criterion (in the tender's order): each expert's score (None for a
    price criterion, scored by formula), the aggregate with the trimmed marks, the weighted points. The one
    frame behind the report's score table and the score exports (supervision/exports.py)."""
    by_cell: dict[tuple[Any, Any], dict[Any, Decimal]] = defaultdict(dict)
    for r in evaluation.expert_scores().itertuples(index=False):
        by_cell[(r.bid, r.criterion)][r.expert] = r.score
    cs = evaluation.criterion_scores
    order = sorted(criteria.values(), key=lambda c: c.position)
    rows = []
    for bid in evaluation.results.index:
        for c in order:
            if (bid, c.id) not in cs.index:
                continue
            agg = cs.loc[(bid, c.id)]
            price = agg["category"] == "price"
            cell = by_cell.get((bid, c.id), {})
            trimmed = bool(agg["trimmed"]) and not price
            rows.append([bid, name[bid], c.name, c.category.value, c.max_score, c.weight,
                         *[None if price else cell.get(n) for n in numbers],
                         agg["aggregate"], trimmed, agg["dropped_high"] if trimmed else None,
                         agg["dropped_low"] if trimmed else None, agg["points"]])
    columns = ["bid", "bidder", "criterion", "category", "max_score", "weight",
               *[expert_column(n) for n in numbers], "aggregate", "trimmed", "dropped_high", "dropped_low",
               "points"]
    return pd.DataFrame(rows, columns=columns, dtype=object)


def _score_table(evaluation: Evaluation, criteria: dict[Any, Criterion], name: dict[Any, str],
                 numbers: list[int]) -> list[list[str]]:
    """Per bid and criterion: each expert's score, the aggregate (trimmed marks), the weighted points;
    then the ranking. One grid, so every row has the same number of cells."""
    width = max(4 + len(numbers), 7)

    def row(*cells: str) -> list[str]:
        return list(cells) + [""] * (width - len(cells))

    table = [row("投标人", "评审因素", *[f"专家 {n}" for n in numbers], "汇总分", "得分")]
    for r in score_frame(evaluation, criteria, name, numbers).to_dict("records"):
        label = f"{r['criterion']}（{CATEGORY_ZH[r['category']]}，满分 {r['max_score']}，权重 {r['weight']}）"
        if r["category"] == "price":
            experts = ["—"] * len(numbers)
            aggregate = f"{_n(r['aggregate'])}（公式）"
        else:
            experts = [_n(r[expert_column(n)]) for n in numbers]
            aggregate = _n(r["aggregate"])
            if r["trimmed"]:
                aggregate += f"（去掉 {_n(r['dropped_high'])} 与 {_n(r['dropped_low'])}）"
        table.append(row(r["bidder"], label, *experts, aggregate, _n(r["points"])))
    table.append(row(*[""] * width))
    table.append(row("排名", "投标人", "报价", "价格分", "商务分", "技术分", "总分"))
    for bid, r in evaluation.results.iterrows():
        rank = "—" if _is_na(r["rank"]) else str(int(r["rank"]))
        table.append(row(rank, name[bid], _n(r["price"]), _n(r["price_points"]), _n(r["commercial"]),
                         _n(r["technical"]), _n(r["total"])))
    return table
