"""make demo: an outsider runs ebid audit on the awarded tender (issue 16), the demo's last step.

    outsider_audit  anyone, signed in as nobody, saves the tender's public evaluation inputs and cash
                    figures (instance/demo/evaluation-inputs.json, cash-release-inputs.json), then runs
                    `ebid audit --server <platform> --tender <id>` on their own machine: receipts under
                    the close checkpoint, the log's consistency, the draw, every published PDF, the
                    scores to the ranking and award, the OCDS record and the cash figures. Its table is
                    printed and saved (instance/demo/audit.txt); a failing check fails the demo.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any


def _fail(demo: Any, message: str) -> Exception:
    """The demo's own error (app.demo runs as __main__ under `make demo`: its class is taken from there)."""
    return getattr(sys.modules[type(demo).__module__], "DemoError", RuntimeError)(message)


def outsider_audit(demo: Any) -> None:
    """An outsider audits the awarded tender from its public inputs (ebid audit)"""
    tender = demo.facts["tender"]
    public = demo.role(None)
    inputs = public.call("GET", f"/api/public/tenders/{tender['id']}/evaluation")
    demo.save("evaluation-inputs.json", inputs)
    cash = public.call("GET", f"/api/public/tenders/{tender['id']}/cash-release")
    demo.save("cash-release-inputs.json", cash)
    demo.say("outsider", f"saved the public evaluation inputs ({len(inputs['bids'])} bids, "
                         f"{sum(len(lot['scores']) for lot in inputs['lots'])} expert scores) and the cash "
                         "figures")
    result = subprocess.run(  # noqa: S603 - our own client with arguments the demo built
        [sys.executable, "-m", "signing.client", "audit", "--server", demo.base_url, "--tender",
         str(tender["id"])],
        capture_output=True, text=True, timeout=600, check=False, env={**os.environ},
    )
    demo.save("audit.txt", result.stdout)
    for line in result.stdout.rstrip().splitlines():
        print(f"      {line}")
    if result.returncode != 0:
        last = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
        raise _fail(demo, f"ebid audit failed (exit {result.returncode}): {last}\n{result.stderr[-1000:]}")
    demo.say("outsider", "ebid audit: every check passed (instance/demo/audit.txt)")


def steps(demo: Any) -> list[Callable[[], None]]:
    """The demo's steps for this part, bound to the running demo."""
    @functools.wraps(outsider_audit)
    def run() -> None:
        outsider_audit(demo)

    return [run]
