"""make demo: bidders and the office rate the service; the supervisor's dashboard figures (issue 16).

After the award, each demo bidder that bid and the tendering office rate the tender's service through the
API (1-5 with a comment); a second rating by the same organisation is refused. The supervisor then reads
the dashboard's JSON twin and prints what is due and overdue, the on-time rate and the satisfaction rate,
and saves it as instance/demo/supervision-dashboard.json. docs/supervision.md, "Time limits and service
quality".
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

#: Who rates, with what (the demo's bidders and its office).
RATINGS = {
    "bidder1": (5, "开标直播和回执验证很方便，全程无需到场。"),
    "bidder2": (4, "流程清楚；澄清答复可以再快一些。"),
    "bidder3": (3, None),
    "office": (4, "评标室和专家抽取运行顺畅。"),
}


def _fail(demo: Any, message: str) -> Exception:
    """The demo's own error (app.demo runs as __main__ under `make demo`: its class is taken from there)."""
    return getattr(sys.modules[type(demo).__module__], "DemoError", RuntimeError)(message)


def rate_service(demo: Any) -> None:
    """The bidders and the office rate the finished tender's service; a second rating is refused"""
    tender_id = demo.facts["tender"]["id"]
    path = f"/api/tenders/{tender_id}/ratings"
    rated = []
    for username, (score, comment) in RATINGS.items():
        who = demo.role(username)
        state = who.call("GET", path)
        if not state["may_rate"]:
            demo.say(username, f"may not rate ({state['refusal']})")
            continue
        body = {"score": score} | ({"comment": comment} if comment else {})
        made = who.call("POST", path, json=body, expect=201)
        rated.append(made)
        demo.say(username, f"rated the service {made['score']} of 5" + (f": {comment}" if comment else ""))
    if len(rated) < 2:
        raise _fail(demo, f"only {len(rated)} organisations could rate the awarded tender")
    again = demo.role(next(iter(RATINGS))).call("POST", path, json={"score": 1}, expect=409)
    demo.say("bidder1", f"rates again: refused ({again['error']['code']}): {again['error']['message']}")


def dashboard_figures(demo: Any) -> None:
    """The supervisor reads the dashboard: what is due and overdue, the on-time rate, satisfaction"""
    body = demo.role("supervisor").call("GET", "/api/supervision/dashboard")
    demo.save("supervision-dashboard.json", json.dumps(body, ensure_ascii=False, indent=2))
    counts, satisfaction = body["counts"], body["satisfaction"]
    rate = "—" if body["on_time_rate"] is None else f"{body['on_time_rate']} %"
    demo.say("supervisor", f"time limits: {counts['cases']} cases, {counts['due_soon']} due soon, "
                           f"{counts['overdue']} overdue; on time {counts['met']} of {counts['decided']} "
                           f"decided ({rate}) (saved as supervision-dashboard.json)")
    for row in body["by_limit"]:
        demo.say("supervisor", f"  {row['key']:<22} met {row['met']}, missed {row['missed']}, "
                               f"overdue {row['overdue']}: {row['on_time_rate']} %")
    share = "—" if satisfaction["rate"] is None else f"{satisfaction['rate']} %"
    demo.say("supervisor", f"satisfaction: {satisfaction['satisfied']} of {satisfaction['ratings']} ratings "
                           f"are 4 or 5 ({share}), average {satisfaction['average']}; "
                           f"{len(body['comments'])} comments")
    if satisfaction["ratings"] < 2 or not body["by_office"]:
        raise _fail(demo, "the dashboard does not show the demo tender's ratings and time limits")


def steps(demo: Any) -> list[Callable[[], None]]:
    """The demo's steps for this part, bound to the running demo."""

    def bind(step: Callable[[Any], None]) -> Callable[[], None]:
        @functools.wraps(step)
        def run() -> None:
            step(demo)

        return run

    return [bind(rate_service), bind(dashboard_figures)]
