"""`make demo`'s evaluation and award steps (issue 6), driven through the public API as each role would.

`app/demo.py` calls `set_rules(demo, tender)` while the tender is a draft, and runs `steps(demo)` after
the opening has concluded; each step takes the `Demo` (for `role`, `say`, `save`, `ebid`, `facts`):

    draw_panel      the office asks for five experts; an auditor recomputes the draw (ebid verify-draw)
    experts_accept  each drawn expert accepts, confirming every item of the conflict-of-interest statement
    evaluate        a clarification; five experts score every bid on every criterion, one score is an
                    outlier, flagged and justified; the result is final and the report issued
    sign_report     every expert signs the report with their password; saved and checked (ebid verify-pdf)
    publicity       the candidates are publicised; a bidder objects, the office answers; the period ends
                    and a late objection is refused
    award           the office awards with its password: award notice, result notices, the announcement
                    naming the panel; all saved under instance/demo/ and checked

The experts score as people reading the bids would: by what each bid says (technical parts reach them
under anonymous labels, so they are recognised by their text, not their bidder), each with their own
small leaning; expert 5 marks one technical part far below the others, which the platform flags.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

#: The tender's evaluation rules, set before publication (fields as PUT /api/tenders/<id>/evaluation-rules).
RULES = {
    "price_formula": "benchmark",  # benchmark = mean of valid prices x (1 - 3 %)
    "benchmark_discount_percent": "3.00",
    "penalty_above": "1.00",  # points off per 1 % above the benchmark
    "penalty_below": "0.50",  # and per 1 % below it
    "aggregation": "trimmed_mean",  # five experts: the highest and lowest score of each criterion dropped
    "trim_min_experts": 5,
    "outlier_threshold_percent": "15.00",  # of the criterion's maximum, from the panel mean
    "anonymise_technical": True,
    "publicity_days": 3,  # the legal minimum; `make run` makes a day 5 s (PUBLICITY_DAY)
    "candidate_count": 3,
    "tie_breaks": ["technical", "price", "submitted_at"],
}

#: How the panel judges each bidder's bid: (technical out of 40, commercial out of 20), before each
#: expert's own leaning. With the trimmed mean the panel's scores come out at these values.
QUALITY = {"bidder1": ("35.00", "16.50"), "bidder2": ("30.00", "15.50"), "bidder3": ("32.00", "17.00")}
#: Each expert's leaning (by their number in the room), technical and commercial.
LEANING = {1: ("0", "0"), 2: ("1.5", "0.5"), 3: ("-1", "-0.5"), 4: ("0.5", "1"), 5: ("-0.5", "-1")}
#: Expert 5 reads bidder2's trenchless crossing as a serious risk and marks it far down: an outlier.
OUTLIER = {"expert": 5, "bidder": "bidder2", "score": "18.00"}
JUSTIFICATION = ("非开挖定向钻穿越主干道段未附地质勘察资料，塌孔与管线碰撞风险评估不足，"
                 "工期承诺缺少依据，故该项评分明显偏低。本人维持原评分。")


def _fail(demo: Any, message: str) -> Exception:
    """The demo's own error (app.demo runs as __main__ under `make demo`: its class is taken from there)."""
    return getattr(sys.modules[type(demo).__module__], "DemoError", RuntimeError)(message)


def set_rules(demo: Any, tender: dict[str, Any]) -> dict[str, Any]:
    """The office sets the draft's evaluation rules; bidders read them with the notice."""
    rules = demo.role("office").call("PUT", f"/api/tenders/{tender['id']}/evaluation-rules", json=RULES)
    demo.say(
        "office",
        f"set the evaluation rules: price by benchmark (mean − {rules['benchmark_discount_percent']} %, "
        f"−{rules['penalty_above']} per 1 % above, −{rules['penalty_below']} below), trimmed mean from "
        f"{rules['trim_min_experts']} experts, outliers beyond {rules['outlier_threshold_percent']} % of a "
        f"criterion's maximum, {rules['publicity_days']} days of publicity",
    )
    demo.save("evaluation-rules.json", rules)
    return rules


def steps(demo: Any) -> list[Callable[[], None]]:
    """The steps after the opening, bound to `demo` (each keeps its docstring: the demo prints it)."""

    def bind(step: Callable[[Any], None]) -> Callable[[], None]:
        @functools.wraps(step)
        def run() -> None:
            step(demo)

        return run

    return [bind(s) for s in (draw_panel, experts_accept, evaluate, sign_report, publicity, award)]


# -- the panel ------------------------------------------------------------------------------------------


def _experts(demo: Any) -> list[str]:
    return [name for name, login in demo.logins.items() if login.get("role") == "expert"]


def _top_up_pool(demo: Any, tender_id: int) -> None:
    """The administrator imports five more experts from a CSV file (one row is wrong and is reported).

    Needed when `make demo` runs again on the same platform: the experts who sat on the previous
    demo panel accepted a seat of the same tenderee recently, which keeps them off its next panels."""
    rows = ["username,display_name,region,specialties,employer_credit_code,title"]
    names = [f"expert-t{tender_id}-{n}" for n in range(1, 6)]
    for n, username in enumerate(names, start=1):
        rows.append(f"{username},增补专家{n}（{tender_id}）,350100,A01;A02,,高级工程师")
    rows.append(f"expert-t{tender_id}-bad,格式错误的专家,350100,Z99,,工程师")
    report = demo.role("admin").call(
        "POST", "/api/experts/import", data="\n".join(rows).encode(), headers={"Content-Type": "text/csv"}
    )
    for added in report["added"]:
        demo.logins[added["username"]] = {
            "username": added["username"], "password": added["initial_password"], "role": "expert",
            "name": added["username"]}
    rejected = report["rejected"][0] if report["rejected"] else {}
    demo.say(
        "admin",
        f"imported {report['imported']} experts from a CSV file; row {rejected.get('row')} rejected "
        f"({rejected.get('column')}: {str(rejected.get('reason'))[:60]})",
    )
    demo.save("expert-import.json", {**report, "added": [
        {k: v for k, v in a.items() if k != "initial_password"} for a in report["added"]]})


def draw_panel(demo: Any) -> None:
    """The office asks for a panel of five experts; an auditor recomputes the draw from what is published."""
    tender = demo.facts["tender"]
    office = demo.role("office")
    request = {"lot": 1, "evaluation_date": dt.datetime.now(dt.UTC).date().isoformat(), "regions": ["35"],
               "slots": [{"specialties": ["A"], "count": 5, "backups": 0}]}
    panel = office.call("POST", f"/api/tenders/{tender['id']}/panels", json=request, expect=(201, 409))
    if "error" in panel and panel["error"]["code"] == "pool_exhausted":
        demo.say("platform", f"refused the draw: {panel['error']['message'][:160]}")
        _top_up_pool(demo, tender["id"])
        panel = office.call("POST", f"/api/tenders/{tender['id']}/panels", json=request, expect=201)
    elif "error" in panel:
        raise _fail(demo, f"office: the draw was refused: {panel['error']['message']}")
    demo.facts["panel"] = panel
    draw = panel["draws"][0]
    seats = sum(1 for m in panel["members"] if m["status"] == "drawn")
    demo.say(
        "office",
        f"asked for 5 experts (works, region 35); drawn: {seats} seats, seed {draw['seed'][:16]}… "
        f"(log entry {draw['log_index']}); the office sees pseudonyms only",
    )
    record = demo.role(None).call("GET", f"/api/tenders/{tender['id']}/panels/1/draws/1")
    demo.save("panel-draw-record.json", record)
    excluded = {k: v for k, v in record["record"]["pool"]["excluded"].items() if v}
    demo.say(
        "auditor",
        f"downloaded the draw record: pool of {record['record']['pool']['size']}, "
        f"{len(record['record']['candidates'])} candidates, excluded {excluded or 'none'}",
    )
    last = demo.ebid("verify-draw", "--server", demo.base_url, "--tender", str(tender["id"]))
    demo.save("verify-draw.txt", demo.last_stdout)
    demo.say("ebid", last[:150])


def experts_accept(demo: Any) -> None:
    """Each drawn expert finds the invitation and accepts, confirming the conflict-of-interest statement."""
    tender = demo.facts["tender"]
    panel_id = demo.facts["panel"]["id"]
    seated: dict[str, Any] = {}
    for username in _experts(demo):
        expert = demo.role(username)
        mine = [i for i in expert.call("GET", "/api/experts/me/invitations")
                if i["panel"] == panel_id and i["answerable"]]
        for invitation in mine:
            coi = {item: True for item in invitation["coi"]}
            answered = expert.call("POST", f"/api/panel-members/{invitation['id']}/accept", json={"coi": coi})
            seated[username] = expert
            demo.say(username, f"accepted seat {answered['position']} of "
                               f"{answered['tender']['reference']}, confirming all {len(coi)} items of the "
                               f"statement ({answered['coi_version']})")
    panel = demo.role("office").call("GET", f"/api/tenders/{tender['id']}/panels")[0]
    if panel["state"] != "constituted":
        raise _fail(demo, f"the panel is {panel['state']} after the experts answered, not constituted")
    demo.facts["experts"] = seated
    pseudonyms = ", ".join(m["pseudonym"][:10] + "…" for m in panel["members"])
    demo.say("office", f"the panel is constituted: {pseudonyms}")


# -- the evaluation room --------------------------------------------------------------------------------


def _room(demo: Any) -> str:
    return f"/api/evaluation/panels/{demo.facts['panel']['id']}"


def _bid_owners(demo: Any) -> dict[int, str]:
    """Bid id -> bidder, as each bidder knows its own bids."""
    owners = {}
    for username in ("bidder1", "bidder2", "bidder3"):
        for bid in demo.role(username).call("GET", "/api/my/bids")["items"]:
            owners[bid["id"]] = username
    return owners


def _sheet(state: dict[str, Any], number: int, owners: dict[int, str], demo: Any) -> list[dict[str, Any]]:
    """Expert `number`'s scores for every bid and criterion, as they judge what they read."""
    technical_text = {response: name for name, (_p, _d, response) in demo.BIDS.items()}
    lean_t, lean_c = (Decimal(x) for x in LEANING[(number - 1) % 5 + 1])
    scores = []
    for criterion in state["criteria"]:
        if criterion["scored_by"] != "experts":
            continue
        top = Decimal(criterion["max_score"])
        if criterion["anonymous"]:  # read under a label: the expert knows the text, not the bidder
            places = [({"label": t["label"]}, technical_text.get(t["responses"].get(criterion["name"], "")))
                      for t in state["technical"]]
        else:
            places = [({"bid": b["bid"]}, owners.get(b["bid"])) for b in state["bids"]]
        for where, bidder in places:
            technical, commercial = QUALITY.get(bidder or "", ("28.00", "15.00"))
            base, lean = (technical, lean_t) if criterion["category"] == "technical" else (commercial, lean_c)
            value = Decimal(base) * top / (40 if criterion["category"] == "technical" else 20) + lean
            if (number == OUTLIER["expert"] and bidder == OUTLIER["bidder"]
                    and criterion["category"] == "technical"):
                value = Decimal(OUTLIER["score"])
            value = min(max(value, Decimal(0)), top)
            scores.append({**where, "criterion": criterion["id"], "score": f"{value:.2f}",
                           "comment": f"专家{number}：依据投标文件{criterion['name']}部分评分"})
    return scores


def evaluate(demo: Any) -> None:
    """The experts score every bid in the room; an outlier is flagged and justified; the result is final."""
    room = _room(demo)
    experts: dict[str, Any] = demo.facts["experts"]
    office = demo.role("office")
    state = office.call("GET", room)
    demo.say("office", f"watches the room ({state['state']}): {len(state['bids'])} opened bids, "
                       f"technical parts shown as {', '.join(t['label'] for t in state['technical'])}")
    owners = _bid_owners(demo)
    numbers = {}
    for username, expert in experts.items():
        numbers[username] = expert.call("GET", f"{room}/sheet")["expert"]
    # a clarification: the panel asks bidder3 about its record, bidder3 answers before the deadline
    first = min(experts, key=numbers.__getitem__)
    asked_of = next(b for b in state["bids"] if owners.get(b["bid"]) == "bidder3")
    beijing = dt.timezone(dt.timedelta(hours=8))
    deadline = (dt.datetime.now(beijing) + dt.timedelta(hours=1)).replace(microsecond=0)
    question = experts[first].call("POST", f"{room}/clarifications", json={
        "bid": asked_of["bid"], "question": "请列明近三年 6 项同类供水管网工程的合同金额及竣工验收时间。",
        "deadline": deadline.isoformat()})
    bidder3 = demo.role("bidder3")
    bidder3.call("POST", f"/api/evaluation/clarifications/{question['id']}/answer", json={
        "answer": "6 项工程合同金额合计 9,860 万元，均已于 2023—2025 年通过竣工验收，详见附表。"})
    demo.say("bidder3", f"answered the panel's question about its bid (deadline {question['deadline']})")
    for username, expert in sorted(experts.items(), key=lambda e: numbers[e[0]]):
        number = numbers[username]
        sheet = _sheet(state, number, owners, demo)
        expert.call("PUT", f"{room}/sheet", json={"scores": sheet})
        expert.call("POST", f"{room}/sheet/submit")
        seen = office.call("GET", room)
        done = [e["expert"] for e in seen["experts"] if e["submitted"]]
        shown = "hidden" if seen["aggregate"] is None else "shown"
        demo.say(username, f"scored {len(sheet)} entries as expert {number} and submitted; the room shows "
                           f"experts {done} submitted, the aggregate {shown}")
    state = office.call("GET", room)
    flags = [f for f in state["flags"] if f["state"] == "open"]
    if state["state"] != "review" or len(flags) != 1:
        raise _fail(demo, f"expected the review with one open flag, got {state['state']} with {len(flags)}")
    flag = flags[0]
    deviation = Decimal(flag["deviation_pct"])
    demo.say("platform", f"flagged expert {flag['expert']}'s score {flag['score']} for Bid "
                         f"{flag.get('label') or flag.get('bid')}: {abs(deviation)} % of the maximum "
                         f"{'below' if deviation < 0 else 'above'} the panel mean {flag['mean']} "
                         f"(threshold {flag['threshold']} %)")
    flagged = next(u for u, n in numbers.items() if n == flag["expert"])
    experts[flagged].call("POST", f"{room}/flags/{flag['id']}/justify", json={"justification": JUSTIFICATION})
    demo.say(flagged, "kept the score and justified it; the justification goes into the report")
    state = office.call("GET", room)
    if state["state"] != "signing" or state["result"] is None:
        raise _fail(demo, f"the result is not final: the room is {state['state']}")
    result = state["result"]
    demo.say("platform", f"result final (inputs digest {result['inputs_digest'][:16]}…), benchmark price "
                         f"{result['benchmark_price']}:")
    for row in sorted(result["ranking"], key=lambda r: r["rank"] or 99):
        demo.say("platform", f"  {row['rank']}. {row['bidder']}: {row['total']} = price "
                             f"{row['price_points']} + technical {row['technical']} + commercial "
                             f"{row['commercial']}")
    demo.facts["numbers"] = numbers
    demo.save("evaluation-result.json", state)


def sign_report(demo: Any) -> None:
    """Every expert signs the evaluation report with their password; an auditor checks the PDF."""
    room = _room(demo)
    numbers = demo.facts["numbers"]
    state = None
    for username, expert in sorted(demo.facts["experts"].items(), key=lambda e: numbers[e[0]]):
        password = demo.logins[username]["password"]
        state = expert.call("POST", f"{room}/report/sign", json={"password": password})
        signed = sum(1 for s in state["report"]["signatures"] if s["signed"])
        demo.say(username, f"signed the report ({signed} of {len(state['report']['signatures'])} signatures)")
    if state is None or state["state"] != "signed":
        raise _fail(demo, "the report is not signed by every expert")
    document = state["report"]["document"]
    pdf = demo._web_session("supervisor").get(f"{demo.base_url}/documents/{document}/pdf", timeout=60)
    if pdf.status_code != 200:
        raise _fail(demo, f"supervisor: the evaluation report gave {pdf.status_code}")
    path = demo.save("evaluation-report.pdf", pdf.content)
    demo.say("supervisor", f"downloaded the signed evaluation report ({len(pdf.content) // 1024} KiB)")
    demo.say("ebid", demo.ebid("verify-pdf", str(path), "--ca", str(demo.out / "ca.pem")))


# -- publicity and award --------------------------------------------------------------------------------


def _pdf(demo: Any, document: int, name: str) -> None:
    """Download a signed document as the supervisor (who reads them all) and check it with ebid."""
    pdf = demo._web_session("supervisor").get(f"{demo.base_url}/documents/{document}/pdf", timeout=60)
    if pdf.status_code != 200:
        raise _fail(demo, f"supervisor: document {document} gave {pdf.status_code}")
    path = demo.save(name, pdf.content)
    demo.say("ebid", f"{name}: {demo.ebid('verify-pdf', str(path), '--ca', str(demo.out / 'ca.pem'))}")


def publicity(demo: Any) -> None:
    """The office publicises the candidates; a bidder objects and is answered; the period ends."""
    tender = demo.facts["tender"]
    base = f"/api/tenders/{tender['id']}"
    office = demo.role("office")
    snap = office.call("POST", f"{base}/publicity")
    period = snap["publicity"]
    demo.say("office", f"publicised {len(snap['candidates'])} candidates until {period['ends_at']}: "
                       + "; ".join(f"{c['rank']}. {c['bidder']} {c['total']}" for c in snap["candidates"]))
    _pdf(demo, period["notice_document"], "candidates-notice.pdf")
    last = max(snap["candidates"], key=lambda c: c["rank"])
    owners = _bid_owners(demo)
    objector = owners.get(last["bid"], "bidder2")
    raised = demo.role(objector).call("POST", f"{base}/publicity/objections", json={
        "text": "我司报价最低，技术评分明显低于其他投标人，请复核评标委员会对施工组织设计的评分。"})
    objection = raised["objections"][-1]
    demo.say(objector, f"objected to the candidates (objection {objection['id']}); it sees only its own")
    office.call("POST", f"{base}/publicity/objections/{objection['id']}/answer", json={
        "answer": "经复核，评标委员会已对偏离较大的评分作出书面说明，评分符合招标文件规定的评标办法，"
                  "维持评标结果。"})
    demo.say("office", "answered the objection; the award waits until the period ends")
    server_now = dt.datetime.fromisoformat(snap["server_time"])
    wait = (dt.datetime.fromisoformat(period["ends_at"]) - server_now).total_seconds()
    if wait > 0:
        demo.say("platform", f"waiting {wait:.0f} s for the publicity period to end …")
        time.sleep(wait + 1)
    late = demo.role("bidder3").call("POST", f"{base}/publicity/objections", expect=(403, 409, 422),
                                     json={"text": "补充异议：请再次复核。"})
    demo.say("bidder3", f"tried to object after the period and was refused: {late['error']['message'][:110]}")
    demo.facts["publicity"] = snap


def award(demo: Any) -> None:
    """The office awards with its password: award and result notices, the announcement naming the panel."""
    tender = demo.facts["tender"]
    base = f"/api/tenders/{tender['id']}"
    office = demo.role("office")
    snap = office.call("POST", f"{base}/award", json={"password": demo.logins["office"]["password"]})
    for a in snap["awards"]:
        demo.say("office", f"awarded lot {a['lot']} to {a['bidder']} at {a['price']['amount']} "
                           f"{a['price']['currency']} (candidate no. {a['candidate_rank']}); the tender is "
                           f"{snap['tender_state']}")
    demo.save("award.json", snap)
    owners = _bid_owners(demo)
    for notice in snap["notices"]:
        who = owners.get(notice["bid"], str(notice["bid"]))
        name = "award-notice.pdf" if notice["kind"] == "award" else f"result-notice-{who}.pdf"
        _pdf(demo, notice["document"], name)
    _pdf(demo, snap["publicity"]["result_document"], "result-announcement.pdf")
    for username in ("bidder1", "bidder2", "bidder3"):
        mine = demo.role(username).call("GET", f"{base}/award")["notices"]
        demo.say(username, f"reads its own notice: {', '.join(n['kind'] for n in mine) or 'none'}")
    panel = demo.role(None).call("GET", f"{base}/panels")[0]
    names = [m["expert"]["name"] for m in panel["members"] if m["status"] == "accepted" and m.get("expert")]
    demo.say("public", f"the panel is revealed with the result: {'、'.join(names)}")
    if len(names) != 5:
        raise _fail(demo, f"the published panel names {len(names)} experts, not 5")
