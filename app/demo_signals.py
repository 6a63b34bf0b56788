"""make demo: the supervisor reads the collusion and risk signals of the demo tender (issue 16).

After the opening (and the award), the supervisor asks the API for the tender's signals, prints each one's
code and a line of its explanation, and saves them as instance/demo/signals.json. The demo's bidders all
submit from the machine that runs the demo (127.0.0.1), so the same-address signal fires: that is right, and
the printout says they share a host. docs/supervision.md, "Collusion and risk signals".
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

#: How much of an explanation the printout shows.
LINE = 110


def _fail(demo: Any, message: str) -> Exception:
    """The demo's own error (app.demo runs as __main__ under `make demo`: its class is taken from there)."""
    return getattr(sys.modules[type(demo).__module__], "DemoError", RuntimeError)(message)


def read_signals(demo: Any) -> None:
    """The supervisor reads the tender's collusion and risk signals, each with its evidence"""
    tender_id = demo.facts["tender"]["id"]
    body = demo.role("supervisor").call("GET", f"/api/supervision/tenders/{tender_id}/signals")
    demo.save("signals.json", json.dumps(body, ensure_ascii=False, indent=2))
    found = body["signals"]
    demo.say("supervisor", f"{len(found)} signals for tender {body['reference']} (saved as signals.json); "
                           "none of them acts by itself")
    for signal in found:
        line = f"{signal['code']:<24} {signal['severity']:<6} {signal['explanation']}"
        demo.say("supervisor", line if len(line) <= LINE else line[:LINE - 1] + "…")
    codes = {s["code"] for s in found}
    if "same_network" not in codes:
        raise _fail(demo, "the demo's bidders all submit from 127.0.0.1, yet no same-address signal fired")
    shared = next(s for s in found if s["code"] == "same_network")
    demo.say("supervisor", f"expected here: the {len(shared['organisations'])} demo bidders share one host "
                           "(they all submit from the machine running the demo), so the same-address signal "
                           "fires")
    if any(not s["evidence"] for s in found):
        raise _fail(demo, "a signal came without evidence")


def steps(demo: Any) -> list[Callable[[], None]]:
    """The demo's steps for this part, bound to the running demo."""

    def bind(step: Callable[[Any], None]) -> Callable[[], None]:
        @functools.wraps(step)
        def run() -> None:
            step(demo)

        return run

    return [bind(read_signals)]
