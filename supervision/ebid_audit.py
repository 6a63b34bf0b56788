"""`ebid audit --server URL --tender N`: an outsider's check of everything public about an awarded tender.

Registered into `signing.client` (listed in its COMMAND_MODULES). It reads only public endpoints and
imports neither Flask nor the application: the HTTP client, signing's verifiers, the draw and the
reference scoring code (bidding/evaluation/scoring_reference.py, pure pandas). docs/supervision.md ("An
outsider's audit") lists each check and exactly what it fetches and compares.

It prints one row per check (PASS or FAIL, with the detail), a progress bar on a terminal, and exits 0
only when every check passes, 1 when any fails, 2 on a usage or network problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from signing.client import EXIT_FAILED, EXIT_OK, Server, UsageError, _out, _server, command
from signing.verify import VerificationError

#: The checks, in the order they run: (key, what the table calls it).
CHECKS: tuple[tuple[str, str], ...] = (
    ("log", "Log consistent (close checkpoint to the latest)"),
    ("receipts", "Bid receipts in the log, under the close checkpoint"),
    ("draw", "Expert draw recomputes"),
    ("documents", "Published PDFs validate"),
    ("scores", "Scores recompute to the ranking and the award"),
    ("ocds", "OCDS record agrees"),
    ("cash", "Cash-release figures recompute"),
)


class CheckFailed(Exception):
    """One check does not hold; the message says what differs."""


@dataclass
class Row:
    key: str
    name: str
    passed: bool
    detail: str


@dataclass
class Context:
    server: Server
    tender: int
    inputs: dict[str, Any]
    vkeys: list[str]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", metavar="URL", required=True, help="the platform's address")
    parser.add_argument("--tender", metavar="ID", type=int, required=True, help="the awarded tender's number")


def _fail(message: str) -> None:
    raise CheckFailed(message)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


# -- the log --------------------------------------------------------------------------------------------


def _close(ctx: Context) -> dict[str, Any]:
    close = ctx.inputs.get("close")
    if not isinstance(close, dict):
        _fail("the inputs publish no close checkpoint (no draw record)")
    return close


def check_log(ctx: Context) -> str:
    from bidding.experts.ebid_commands import _signed
    from signing.client import _check_consistency

    close = _close(ctx)
    checkpoint = _signed(close["checkpoint"], ctx.vkeys, "the close checkpoint")
    if checkpoint.size != close["tree_size"] or checkpoint.root != _root(close["root_hash"]):
        _fail("the close checkpoint's size or root differs from the published close")
    first, second = _check_consistency(ctx.server, close["checkpoint"], ctx.vkeys)
    return f"the latest checkpoint (size {second}) extends the close checkpoint (size {first})"


def _root(text: str) -> bytes:
    from bidding.experts import draw

    return draw.decode_root(text)


def _entry(ctx: Context, index: int, tree_size: int, root: bytes, what: str) -> dict[str, Any]:
    from bidding.experts.ebid_commands import _included

    try:
        proof = ctx.server.json(f"/api/log/entries/{index}", tree_size=tree_size)
    except UsageError as exc:
        _fail(f"{what}: log entry {index} is not served under the close checkpoint ({exc})")
    return _included(proof, index, tree_size, root, f"{what} (log entry {index})")


def check_receipts(ctx: Context) -> str:
    close = _close(ctx)
    root, size = _root(close["root_hash"]), close["tree_size"]
    closed = _entry(ctx, close["log_index"], size, root, "the close")
    if closed.get("event") != "tender.closed" or closed.get("subject") != {"tender": ctx.tender}:
        _fail(f"log entry {close['log_index']} is not tender {ctx.tender}'s close")
    closed_lots = closed.get("data", {}).get("envelopes") or {}
    listed = {lot: set(envelopes) for lot, envelopes in closed_lots.items()}
    problems = []
    bids = ctx.inputs["bids"]
    for bid in bids:
        if bid["log_index"] >= size:
            problems.append(f"bid {bid['bid']}: its entry {bid['log_index']} is after the close")
            continue
        try:
            entry = _entry(ctx, bid["log_index"], size, root, f"bid {bid['bid']}")
        except (CheckFailed, VerificationError) as exc:
            problems.append(str(exc))
            continue
        envelope = bid["envelope_sha256"]
        if entry.get("event") != "bid.submitted" or entry.get("subject") != {"envelope": envelope}:
            problems.append(f"bid {bid['bid']}: log entry {bid['log_index']} does not record envelope "
                            f"{bid['envelope_sha256'][:16]}…")
        if bid["envelope_sha256"] not in listed.get(str(bid["lot"]), set()):
            problems.append(f"bid {bid['bid']}: envelope {envelope[:16]}… is not in the close's list for "
                            f"lot {bid['lot']}")
    published = {(str(b["lot"]), b["envelope_sha256"]) for b in bids}
    for lot, envelopes in listed.items():
        for envelope in envelopes - {e for (lt, e) in published if lt == lot}:
            problems.append(f"lot {lot}: envelope {envelope[:16]}… was closed but is not among the "
                            "published bids")
    if problems:
        _fail("; ".join(problems))
    return (f"{len(bids)} bid(s): each receipt's entry is in the log under the close checkpoint and "
            "listed by the close")


# -- the draw -------------------------------------------------------------------------------------------


def check_draw(ctx: Context) -> str:
    from bidding.experts import draw
    from bidding.experts.ebid_commands import _included, _signed

    done = []
    close = _close(ctx)
    for lot in ctx.inputs["lots"]:
        if not lot["draws"]:
            _fail(f"lot {lot['lot']}: no draw record is published")
        for d in lot["draws"]:
            answer = ctx.server.json(d["url"])
            record = answer.get("record", answer) if isinstance(answer, dict) else answer
            try:
                result = draw.recompute(record)
            except draw.RecordError as exc:
                _fail(f"lot {lot['lot']} draw {d['draw']}: the record is malformed: {exc}")
            if not result.matches:
                _fail(f"lot {lot['lot']} draw {d['draw']}: " + "; ".join(result.mismatches))
            if {k: record["close"][k] for k in ("log_index", "tree_size", "root_hash")} != \
                    {k: close[k] for k in ("log_index", "tree_size", "root_hash")}:
                _fail(f"lot {lot['lot']} draw {d['draw']}: the record's close differs from the tender's")
            expected = draw.record_sha256(record)
            if expected != d["record_sha256"]:
                _fail(f"lot {lot['lot']} draw {d['draw']}: the record's SHA-256 is {expected}, the inputs "
                      f"say {d['record_sha256']}")
            log = ctx.server.json(f"/api/log/entries/{d['log_index']}")
            latest = _signed(log.get("checkpoint"), ctx.vkeys, "the latest checkpoint")
            drawn = _included(log, d["log_index"], latest.size, latest.root, f"log entry {d['log_index']}")
            if drawn.get("event") != "panel.drawn" or drawn.get("data", {}).get("record_sha256") != expected:
                _fail(f"lot {lot['lot']} draw {d['draw']}: log entry {d['log_index']} does not state the "
                      "record")
            done.append(f"lot {lot['lot']} draw {d['draw']} ({len(result.picks)} picks)")
    return "seed and picks recomputed, record logged: " + ", ".join(done)


# -- the documents --------------------------------------------------------------------------------------


def check_documents(ctx: Context) -> str:
    import hashlib

    from signing.verify import verify_pdf

    documents = ctx.inputs["documents"]
    if not documents:
        _fail("no published document is listed")
    ca_pem = ctx.server.get("/pki/ca.pem").content
    problems = []
    for d in documents:
        pdf = ctx.server.get(d["url"]).content
        if hashlib.sha256(pdf).hexdigest() != d["sha256"]:
            problems.append(f"document {d['document']} ({d['kind']}): its SHA-256 is not the listed one")
        try:
            verify_pdf(pdf, ca_pem)
        except VerificationError as exc:
            problems.append(f"document {d['document']} ({d['kind']}): {exc}")
    if problems:
        _fail("; ".join(problems))
    return f"{len(documents)} document(s) signed and unchanged: " + ", ".join(d["kind"] for d in documents)


# -- the scores -----------------------------------------------------------------------------------------


def _evaluate(inputs: dict[str, Any], lot: dict[str, Any]):
    import datetime as dt

    import pandas as pd

    from bidding.evaluation import scoring_reference as scoring

    criteria = pd.DataFrame([(c["criterion"], c["category"], c["max_score"], c["weight"])
                             for c in inputs["criteria"]],
                            columns=["criterion", "category", "max_score", "weight"])
    evaluated = {int(r["bid"]) for r in lot["result"]["results"]}
    bids = pd.DataFrame([(b["bid"], b["price"], b["valid"], dt.datetime.fromisoformat(b["submitted_at"]))
                         for b in inputs["bids"] if b["lot"] == lot["lot"] and b["bid"] in evaluated],
                        columns=["bid", "price", "valid", "submitted_at"])
    scores = pd.DataFrame([(s["expert"], s["bid"], s["criterion"], s["score"]) for s in lot["scores"]],
                          columns=["expert", "bid", "criterion", "score"])
    rules = dict(lot["result"]["rules"])
    rules["tie_breaks"] = tuple(rules["tie_breaks"])
    return scoring.evaluate(scores, bids, criteria, scoring.ScoringRules(**rules))


def _logged_digest(ctx: Context, lot: dict[str, Any], digest: str) -> list[str]:
    """The report's log entry (in the latest signed checkpoint) states the recomputed inputs digest."""
    from bidding.experts.ebid_commands import _included, _signed

    index = lot.get("report_log_index")
    if not isinstance(index, int):
        return [f"lot {lot['lot']}: the report's log entry is not published"]
    answer = ctx.server.json(f"/api/log/entries/{index}")
    latest = _signed(answer.get("checkpoint"), ctx.vkeys, "the latest checkpoint")
    entry = _included(answer, index, latest.size, latest.root, f"log entry {index}")
    if entry.get("event") != "evaluation.report_issued" or \
            entry.get("subject", {}).get("document") != lot["report_document"]:
        return [f"lot {lot['lot']}: log entry {index} is not the report's"]
    logged = entry.get("data", {}).get("inputs_digest")
    if logged != digest:
        return [f"lot {lot['lot']}: the log states the inputs digest {str(logged)[:16]}…, the inputs "
                f"recompute to {digest[:16]}…"]
    return []


def check_scores(ctx: Context) -> str:
    inputs = ctx.inputs
    if not inputs["lots"]:
        _fail("no lot's evaluation is published")
    problems: list[str] = []
    details = []
    for lot in inputs["lots"]:
        stored = lot["result"]
        ours = _evaluate(inputs, lot).to_dict()
        n = lot["lot"]
        if ours["inputs_digest"] != stored["inputs_digest"]:
            problems.append(f"lot {n}: the inputs digest recomputes to {ours['inputs_digest'][:16]}…, the "
                            f"report's is {stored['inputs_digest'][:16]}…")
        for ours_row, theirs in zip(ours["results"], stored["results"], strict=False):
            for key in ("bid", "rank", "price_points", "commercial", "technical", "total"):
                if ours_row.get(key) != theirs.get(key):
                    problems.append(f"lot {n}: bid {theirs.get('bid')} {key}: published {theirs.get(key)}, "
                                    f"recomputed {ours_row.get(key)}")
        mine = {(c["bid"], c["criterion"]): c for c in ours["criterion_scores"]}
        for c in stored["criterion_scores"]:
            recomputed = mine.get((c["bid"], c["criterion"]), {})
            for key in ("aggregate", "points", "trimmed", "dropped_low", "dropped_high"):
                if recomputed.get(key) != c.get(key):
                    problems.append(f"lot {n}: bid {c['bid']} criterion {c['criterion']} {key}: published "
                                    f"{c.get(key)}, recomputed {recomputed.get(key)}")
        ties = [(t["ahead"], t["behind"], t["key"]) for t in ours["tie_breaks"]]
        if ties != [(t["ahead"], t["behind"], t["key"]) for t in stored["tie_breaks"]]:
            problems.append(f"lot {n}: the tie-breaks recompute to {ties}")
        if len(ours["results"]) != len(stored["results"]):
            problems.append(f"lot {n}: {len(stored['results'])} results published, {len(ours['results'])} "
                            "recomputed")
        problems.extend(_logged_digest(ctx, lot, ours["inputs_digest"]))
        ranking = [r["bid"] for r in ours["results"] if r["rank"] is not None]
        candidates = [c["bid"] for c in sorted((c for c in inputs["candidates"] if c["lot"] == n),
                                               key=lambda c: c["rank"])]
        wanted = min(int(inputs["tender_rules"]["candidate_count"]), len(ranking))
        if len(candidates) != wanted:
            problems.append(f"lot {n}: {len(candidates)} candidate(s) publicised, the rules ask for {wanted}")
        if candidates != ranking[:len(candidates)]:
            problems.append(f"lot {n}: the candidates {candidates} are not the top of the recomputed ranking "
                            f"{ranking}")
        for award in (a for a in inputs["awards"] if a["lot"] == n):
            rank = award["candidate_rank"]
            if not 1 <= rank <= len(candidates) or candidates[rank - 1] != award["bid"]:
                problems.append(f"lot {n}: the award to bid {award['bid']} is not candidate no. {rank}")
            elif rank != 1 and not award.get("reason"):
                problems.append(f"lot {n}: the award passes over candidate no. 1 without a reason")
            bid = next((b for b in inputs["bids"] if b["bid"] == award["bid"]), None)
            if bid is None or bid["price"] is None or _dec(bid["price"]) != _dec(award["price"]):
                problems.append(f"lot {n}: the award's price {award['price']} is not bid {award['bid']}'s "
                                "price")
        details.append(f"lot {n}: ranking {ranking}, digest {ours['inputs_digest'][:12]}…")
    if problems:
        _fail("; ".join(problems))
    return "; ".join(details)


# -- OCDS ------------------------------------------------------------------------------------------------


def check_ocds(ctx: Context) -> str:
    inputs = ctx.inputs
    try:
        package = ctx.server.json(f"/api/ocds/tenders/{ctx.tender}/record")
    except UsageError as exc:
        _fail(f"OCDS record: not published ({exc})")
    try:
        compiled = package["records"][0]["compiledRelease"]
    except (KeyError, IndexError, TypeError):
        _fail("the OCDS record package has no compiled release")
    problems = []
    ocid = compiled.get("ocid", "")
    if not ocid.endswith(f"-{inputs['reference']}"):
        problems.append(f"ocid {ocid!r} does not name tender {inputs['reference']}")
    parties = {p.get("identifier", {}).get("id") for p in compiled.get("parties", [])}
    details = {d.get("id"): d for d in (compiled.get("bids") or {}).get("details", [])}
    for bid in inputs["bids"]:
        if bid["credit_code"] not in parties:
            problems.append(f"bidder {bid['credit_code']} is not among the parties")
        d = details.get(str(bid["bid"]))
        if d is None:
            problems.append(f"bid {bid['bid']} is not in bids.details")
            continue
        if not any(t.get("id", "").endswith(bid["credit_code"]) for t in d.get("tenderers", [])):
            problems.append(f"bid {bid['bid']}: the tenderer is not {bid['credit_code']}")
        value = (d.get("value") or {}).get("amount")
        if bid["price"] is not None and (value is None or _dec(value) != _dec(bid["price"])):
            problems.append(f"bid {bid['bid']}: OCDS value {value}, published price {bid['price']}")
    if len(details) != len(inputs["bids"]):
        problems.append(f"OCDS lists {len(details)} bid(s), the inputs {len(inputs['bids'])}")
    awards = {a.get("relatedBid"): a for a in compiled.get("awards", [])}
    for award in inputs["awards"]:
        a = awards.get(str(award["bid"]))
        if a is None:
            problems.append(f"the award to bid {award['bid']} is not in the OCDS record")
            continue
        amount = (a.get("value") or {}).get("amount")
        if amount is None or _dec(amount) != _dec(award["price"]):
            problems.append(f"award to bid {award['bid']}: OCDS value {amount}, published {award['price']}")
        if not any(s.get("id", "").endswith(award["credit_code"]) for s in a.get("suppliers", [])):
            problems.append(f"award to bid {award['bid']}: the supplier is not {award['credit_code']}")
    if len(awards) != len(inputs["awards"]):
        problems.append(f"OCDS lists {len(awards)} award(s), the inputs {len(inputs['awards'])}")
    if problems:
        _fail("; ".join(problems))
    return f"{ocid}: {len(details)} bid(s), {len(awards)} award(s) agree"


# -- cash ------------------------------------------------------------------------------------------------


def _rate(part: Decimal, whole: Decimal) -> str | None:
    if not whole:
        return None
    return str((part * 100 / whole).quantize(Decimal("0.01"), ROUND_HALF_UP))


def check_cash(ctx: Context) -> str:
    import datetime as dt

    cash = ctx.server.json(f"/api/public/tenders/{ctx.tender}/cash-release")
    figures = cash.get("figures")
    if not cash.get("cases") and figures is None:
        return "the tender required no deposit, or none was arranged"
    totals = dict.fromkeys(("required", "cash", "waived", "guaranteed", "non_cash_cover", "capital_days"),
                           Decimal(0))
    cashless = 0
    problems = []
    for case in cash["cases"]:
        sums = {"cash": Decimal(0), "waiver": Decimal(0), "guarantee": Decimal(0)}
        for inst in case["instruments"]:
            amount = _dec(inst["amount"])
            kind = inst["instrument"]
            sums["cash" if kind == "cash" else "waiver" if kind == "waiver" else "guarantee"] += amount
            if kind == "cash":
                continue
            days = max(0, (dt.date.fromisoformat(inst["until"]) - dt.date.fromisoformat(inst["start"])).days)
            if days != inst["days"]:
                problems.append(f"case {case['case']}: {inst['start']} to {inst['until']} is {days} days, "
                                f"published {inst['days']}")
            capital = amount * days
            if capital != _dec(inst["capital_days"]):
                problems.append(f"case {case['case']}: {amount} × {days} days = {capital}, published "
                                f"{inst['capital_days']}")
            totals["capital_days"] += capital
        required = _dec(case["required"])
        non_cash = sums["waiver"] + sums["guarantee"]
        totals["required"] += required
        totals["cash"] += sums["cash"]
        totals["waived"] += sums["waiver"]
        totals["guaranteed"] += sums["guarantee"]
        totals["non_cash_cover"] += min(non_cash, required)
        cashless += int(sums["cash"] == 0 and non_cash >= required)
    if figures is None:
        _fail("the deposit cases are published but not the figures")
    expected: dict[str, Any] = {k: str(v.quantize(Decimal("0.01"))) for k, v in totals.items()}
    expected["released_liquidity"] = str((totals["waived"] + totals["guaranteed"]).quantize(Decimal("0.01")))
    expected["cases"] = len(cash["cases"])
    expected["cashless_cases"] = cashless
    expected["substitution_rate_amount"] = _rate(totals["non_cash_cover"], totals["required"])
    expected["substitution_rate_count"] = _rate(Decimal(cashless), Decimal(len(cash["cases"])))
    for key, value in expected.items():
        if figures.get(key) != value:
            problems.append(f"{key}: published {figures.get(key)}, recomputed {value}")
    if problems:
        _fail("; ".join(problems))
    return (f"{expected['cases']} case(s), released {expected['released_liquidity']}, "
            f"{expected['capital_days']} {cash.get('currency') or ''}·days")


RUNNERS: dict[str, Callable[[Context], str]] = {
    "log": check_log, "receipts": check_receipts, "draw": check_draw, "documents": check_documents,
    "scores": check_scores, "ocds": check_ocds, "cash": check_cash,
}


def run_checks(ctx: Context, progress: Any = None) -> list[Row]:
    rows = []
    for key, name in CHECKS:
        try:
            detail = RUNNERS[key](ctx)
            rows.append(Row(key, name, True, detail))
        except (CheckFailed, VerificationError) as exc:
            rows.append(Row(key, name, False, str(exc)))
        except UsageError as exc:
            # The platform answered, but not what the inputs promise (a record, an entry, a PDF): that
            # check fails. No answer at all (unreachable, timed out) stays a network problem: exit 2.
            if "answered HTTP" not in str(exc):
                raise
            rows.append(Row(key, name, False, f"not served: {exc}"))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            rows.append(Row(key, name, False,
                            f"the published data is malformed: {type(exc).__name__}: {exc}"))
        if progress is not None:
            progress.update(1)
    return rows


def table(rows: list[Row]) -> list[str]:
    width = max(len(r.name) for r in rows)
    lines = [f"{'Check':<{width}}  Result  Detail", f"{'-' * width}  ------  ------"]
    for r in rows:
        lines.append(f"{r.name:<{width}}  {'PASS' if r.passed else 'FAIL':<6}  {r.detail}")
    return lines


@command("audit", "check everything public about an awarded tender: receipts, log, draw, PDFs, scores, "
                  "OCDS and cash figures", _configure)
def audit_command(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from signing.client import _log_keys

    args.log_key = args.key = None
    with _server(args) as server:
        assert server is not None
        inputs = server.json(f"/api/public/tenders/{args.tender}/evaluation")
        if not isinstance(inputs, dict) or inputs.get("tender") != args.tender:
            raise UsageError(f"{server.base} did not answer with tender {args.tender}'s evaluation inputs")
        ctx = Context(server, args.tender, inputs, _log_keys(args, server))
        disable = not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
        with tqdm(total=len(CHECKS), desc="auditing", unit="check", file=sys.stderr, disable=disable,
                  leave=False) as bar:
            rows = run_checks(ctx, bar)
    _out(f"Tender {inputs.get('reference')} (no. {args.tender}) at {args.server}")
    for line in table(rows):
        _out(line)
    failed = [r for r in rows if not r.passed]
    if failed:
        _out(f"FAILED: {len(failed)} of {len(rows)} checks failed: {', '.join(r.key for r in failed)}")
        return EXIT_FAILED
    _out(f"OK: all {len(rows)} checks passed for tender {args.tender}")
    return EXIT_OK
