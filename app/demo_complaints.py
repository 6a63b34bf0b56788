"""make demo: a losing bidder complains to the supervisor after the award, who accepts and decides it.

Driven through the public API as each role would (docs/supervision.md, "Complaints"): the complaint is about
the award decision itself, which needs no prior objection; the supervisor accepts it (a signed acceptance
notice), the office answers with its statement and is refused when it tries to decide the complaint
itself, the supervisor dismisses it with reasons (a signed decision), saved to instance/demo/ with the
notice and checked with `ebid verify-pdf`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


def steps(demo: Any) -> list[Callable[[], None]]:
    """The demo's steps for this part, bound to the running demo (each keeps its docstring)."""

    def bind(step: Callable[[Any], None]) -> Callable[[], None]:
        @functools.wraps(step)
        def run() -> None:
            step(demo)

        return run

    return [bind(s) for s in (file_complaint, decide_complaint)]


def _loser(demo: Any, tender_id: int) -> tuple[str, dict[str, Any]]:
    """A bidder who did not win, and the award (the public snapshot)."""
    from app.demo_evaluation import _bid_owners

    snap = demo.role(None).call("GET", f"/api/tenders/{tender_id}/award")
    winners = {a["bid"] for a in snap["awards"]}
    owners = _bid_owners(demo)
    losers = sorted(user for bid, user in owners.items() if bid not in winners)
    if not snap["awards"] or not losers:
        raise _error("the demo's tender has no award or no losing bidder to complain")
    return losers[0], snap


def file_complaint(demo: Any) -> None:
    """A losing bidder complains to the supervising authority about the award (投诉)."""
    tender = demo.facts["tender"]
    loser, snap = _loser(demo, tender["id"])
    awarded = dt.datetime.fromisoformat(snap["awards"][0]["awarded_at"])
    knew_on = awarded.astimezone(BEIJING).date().isoformat()  # it learnt of the award from its result notice
    bidder = demo.role(loser)
    body = {"tender": tender["id"], "knew_on": knew_on,
            "text": "请求撤销中标结果，重新确定中标人。",
            "grounds": "中标人投标文件中的类似工程业绩与公示的合同金额不符，不满足招标文件资格条件"
                       "（招标投标法实施条例 第六十条）。"}
    made = bidder.call("POST", "/api/complaints", json={**body, "matter": "award"})
    demo.say(loser, f"filed complaint no. {made['id']} about the award (knew on {knew_on}; the period runs "
                    f"until {made['file_by']}); the supervisor accepts or refuses it by {made['accept_by']}")
    demo.facts["complaint"] = made
    demo.facts["complainant"] = loser


def decide_complaint(demo: Any) -> None:
    """The supervisor accepts the complaint, the office states its case, the supervisor dismisses it."""
    complaint = demo.facts["complaint"]
    base = f"/api/complaints/{complaint['id']}"
    supervisor, office = demo.role("supervisor"), demo.role("office")
    password = demo.logins["supervisor"]["password"]
    accepted = supervisor.call("POST", f"{base}/accept", json={"password": password})
    demo.say("supervisor", f"accepted the complaint (signed notice {accepted['notice_document']}); the "
                           f"decision is due by {accepted['decide_by']}")
    _pdf(demo, accepted["notice_document"], "complaint-acceptance.pdf")
    office.call("POST", f"{base}/statement", json={
        "text": "中标人提交的业绩合同经向建设单位核实，合同金额与投标文件一致，符合招标文件资格条件。"})
    demo.say("office", "gave its written statement on the complaint")
    refused = office.call("POST", f"{base}/decide", expect=(403,), json={
        "outcome": "dismissed", "reasons": "投诉不成立。", "password": demo.logins["office"]["password"]})
    demo.say("office", f"tried to decide the complaint itself and was refused: "
                       f"{refused['error']['message'][:100]}")
    decided = supervisor.call("POST", f"{base}/decide", json={
        "outcome": "dismissed", "password": password,
        "reasons": "经调取业绩合同原件并向建设单位核实，中标人的业绩真实，符合招标文件规定的资格条件；"
                   "投诉缺乏事实根据，予以驳回。"})
    demo.say("supervisor", f"dismissed the complaint with reasons; the signed decision is document "
                           f"{decided['decision_document']}")
    _pdf(demo, decided["decision_document"], "complaint-decision.pdf")
    demo.save("complaint.json", decided)
    loser = demo.facts["complainant"]
    mine = demo.role(loser).call("GET", base)
    demo.say(loser, f"reads its complaint: {mine['state']} ({mine['outcome']}), {len(mine['events'])} dated "
                    "steps, the signed notice and decision")


def _pdf(demo: Any, document: int, name: str) -> None:
    """Save a signed document (the supervisor reads them all) and check it with ebid."""
    pdf = demo._web_session("supervisor").get(f"{demo.base_url}/documents/{document}/pdf", timeout=60)
    if pdf.status_code != 200:
        raise _error(f"supervisor: document {document} gave {pdf.status_code}")
    path = demo.save(name, pdf.content)
    demo.say("ebid", f"{name}: {demo.ebid('verify-pdf', str(path), '--ca', str(demo.out / 'ca.pem'))}")


def _error(message: str) -> Exception:
    from app.demo import DemoError

    return DemoError(message)
