"""`make demo`: drive a tender through the public interface as the roles would, against a running server.

Each role uses only what a real user of that role has: the platform's HTTP API and pages, and
its own login. What the demo produces is written to `instance/demo/`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from app import demo_audit, demo_complaints, demo_evaluation, demo_open_data, demo_service, demo_signals
from app.demo_guarantees import DepositSteps
from config import INSTANCE


class DemoError(RuntimeError):
    """A step of the demo did not do what it should."""


class Role:
    """One person at their desk: a login and an HTTP session with the platform."""

    def __init__(self, base_url: str, username: str | None = None, password: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.username = username or "public"
        if username:
            token = self.call("POST", "/api/auth/token", json={"username": username, "password": password})
            self.http.headers["Authorization"] = f"Bearer {token['access_token']}"

    def call(self, method: str, path: str, *, expect: int | tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        response = self.http.request(method, self.base_url + path, timeout=60, **kw)
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise DemoError(
                f"{self.username}: {method} {path} gave {response.status_code}: {response.text[:500]}"
            )
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return response.json()
        return response.content


class Demo:
    """The whole tender, step by step; each issue adds its steps."""

    def __init__(
        self, base_url: str, out: Path, logins: dict[str, dict[str, str]], *, bidding_seconds: int = 45
    ) -> None:
        self.bidding_seconds = bidding_seconds
        self.base_url = base_url
        self.out = out
        self.logins = logins
        self.facts: dict[str, Any] = {}

    def role(self, username: str | None) -> Role:
        if username is None:
            return Role(self.base_url)
        return Role(self.base_url, username, self.logins[username]["password"])

    def say(self, who: str, what: str) -> None:
        print(f"  [{who:>10}] {what}")

    def save(self, name: str, content: bytes | str | Any) -> Path:
        path = self.out / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content)
        else:
            path.write_text(json.dumps(content, ensure_ascii=False, indent=2))
        return path

    # -- steps -------------------------------------------------------------------------------------
    def publish_tender(self) -> None:
        """The tendering office creates and publishes a tender."""
        office = self.role("office")
        now = dt.datetime.now(dt.UTC)
        health = office.call("GET", "/healthz")
        self.say("platform", f"healthy, database {health['database']}")
        # `make run` compresses the legal periods for the demo; the deadline leaves room for the
        # bidders' sealing and the late bidder to arrive after it.
        deadline = (now + dt.timedelta(seconds=self.bidding_seconds)).replace(microsecond=0)
        tender = office.call(
            "POST",
            "/api/tenders",
            json={
                "title": "闽侯县城区供水管网改造工程（演示）",
                "region": "350121",
                "currency": "CNY",
                "description": "更新老旧供水管网约 18 公里，含阀门井与计量设施。",
                "estimated_price": "12800000.00",
                "deposit_amount": "200000.00",
                "submission_deadline": deadline.isoformat(),
                "bid_validity_days": 90,
                "evaluation_method": "comprehensive_scoring",
                "lots": [
                    {"title": "一标段：主干管", "estimated_price": "8000000.00"},
                    {"title": "二标段：支管及入户", "estimated_price": "4800000.00"},
                ],
                "criteria": [
                    {"name": "投标报价", "category": "price", "weight": "40", "max_score": "40"},
                    {"name": "施工组织设计", "category": "technical", "weight": "40", "max_score": "40"},
                    {"name": "企业信誉与业绩", "category": "commercial", "weight": "20", "max_score": "20"},
                ],
            },
        )
        self.say("office", f"created draft {tender['reference']} ({tender['title']})")
        self.custodians_make_opening_key(tender["id"], office)
        demo_evaluation.set_rules(self, tender)  # issue 6: how the bids will be scored, fixed at publication
        tender = office.call("POST", f"/api/tenders/{tender['id']}/publish")
        self.say("office", f"published it; bids close {tender['submission_deadline']}")
        self.save("publication-receipt.jws", tender.pop("receipt"))
        self.say("office", "kept the signed publication receipt")
        self.facts["tender"] = tender
        self.save("tender.json", tender)

    def bidder_finds_tender(self) -> None:
        """A bidder finds the tender in the public list and reads its notice."""
        tender = self.facts["tender"]
        public = self.role(None)
        found = public.call("GET", "/api/tenders", params={"q": "供水管网", "state": "published"})
        if not any(t["id"] == tender["id"] for t in found["items"]):
            raise DemoError("the published tender is not in the public list")
        self.say("bidder1", f"found it in the public list ({found['total']} match)")
        bidder = self.role("bidder1")
        notice = bidder.call("GET", f"/api/tenders/{tender['id']}")
        lots = ", ".join(lot["title"] for lot in notice["lots"])
        self.say(
            "bidder1",
            f"read the notice: deposit {notice['deposit_amount']} {notice['currency']}; lots: {lots}",
        )
        page = public.http.get(f"{self.base_url}/tenders/{tender['id']}", timeout=30)
        if page.status_code != 200 or tender["title"] not in page.text:
            raise DemoError("the notice page does not show the tender")
        self.save("notice.html", page.text)

    def token(self, username: str) -> str:
        return self.role(username).http.headers["Authorization"].split(" ", 1)[1]

    def custodians_make_opening_key(self, tender_id: int, office: Role) -> None:
        """A custodian makes the opening key on their machine, splits it 3-of-5, registers the public half."""
        folder = self.out / "custodians"
        if folder.exists():
            shutil.rmtree(folder)
        self.say(
            "custodian",
            self.ebid(
                "opening-key",
                "--tender",
                str(tender_id),
                "--threshold",
                "3",
                "--shares",
                "5",
                "--out",
                str(folder),
                "--custodian",
                "招标人",
                "--custodian",
                "监督人",
                "--custodian",
                "公证员",
                "--custodian",
                "备用一",
                "--custodian",
                "备用二",
            ),
        )
        self.say(
            "custodian",
            self.ebid(
                "register-opening-key",
                "--server",
                self.base_url,
                "--token",
                self.token("office"),
                "--tender",
                str(tender_id),
                str(folder / "opening-key.json"),
            ),
        )

    def ebid(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run the `ebid` client as an auditor would on their own machine; fail the demo if it fails."""
        result = subprocess.run(  # noqa: S603 - our own client with arguments the demo built
            [sys.executable, "-m", "signing.client", *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, **(env or {})},
        )
        self.last_stdout = result.stdout
        last = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
        if result.returncode != 0:
            raise DemoError(f"ebid {args[0]} failed: {last}\n{result.stderr[-1000:]}")
        return last

    def verify_trust(self) -> None:
        """An auditor downloads the notice, the log and the keys, and checks them with ebid."""
        tender = self.facts["tender"]
        auditor = self.role("supervisor")
        notice = auditor.call("GET", tender["links"]["notice_pdf"])
        notice_path = self.save("tender-notice.pdf", notice)
        self.save("ca.pem", auditor.call("GET", "/pki/ca.pem"))
        self.save("jwks.json", auditor.call("GET", "/.well-known/jwks.json"))
        self.save("log-key.json", auditor.call("GET", "/api/log/key"))
        self.save("checkpoint.txt", auditor.call("GET", "/api/log/checkpoint").decode())
        export = auditor.http.get(f"{self.base_url}/api/log/export", timeout=120)
        export.raise_for_status()
        self.save("audit-log.jsonl", export.content)
        entries = len(export.content.splitlines()) - 1
        self.say("supervisor", f"downloaded the notice, the CA, the keys and the log ({entries} entries)")
        out = self.out
        self.say("ebid", self.ebid("verify-pdf", str(notice_path), "--ca", str(out / "ca.pem")))
        self.say(
            "ebid",
            self.ebid(
                "verify-receipt",
                str(out / "publication-receipt.jws"),
                "--jwks",
                str(out / "jwks.json"),
                "--log-key",
                str(out / "log-key.json"),
            ),
        )
        self.say(
            "ebid",
            self.ebid(
                "verify-log",
                str(out / "audit-log.jsonl"),
                "--log-key",
                str(out / "log-key.json"),
                "--previous",
                str(out / "checkpoint.txt"),
            ),
        )

    BIDS = {  # bidder -> (price, duration in days, technical response)
        "bidder1": ("11850000.00", 540, "采用分段围堰、错峰施工，配备 3 支管道抢修队。"),
        "bidder2": ("12100000.00", 510, "非开挖定向钻穿越主干道，工期最短。"),
        "bidder3": ("11990000.00", 560, "BIM 建模与智慧水务平台同步交付。"),
    }

    def _seal_and_submit(self, username: str, price: str, duration: int, response: str, name: str) -> dict:
        tender = self.facts["tender"]
        folder = self.out / "bids" / username
        code = self.logins_org[username]
        bid = {
            "v": 1,
            "tender": tender["id"],
            "lot": 1,
            "bidder": code,
            "price": {"amount": price, "currency": "CNY"},
            "duration_days": duration,
            "criteria": {"施工组织设计": response, "企业信誉与业绩": "近三年完成同类供水管网工程 6 项。"},
        }
        (folder / f"{name}.bid.json").write_text(json.dumps(bid, ensure_ascii=False, indent=1))
        document = folder / f"{name}-technical.txt"
        document.write_text(f"{response}\n" * 200)
        envelope = folder / f"{name}.envelope"
        env = {"EBID_PASSWORD": self.key_passwords[username]}
        opening = self.out / "custodians" / "opening-key.json"
        self.ebid(
            "seal",
            "--key",
            str(folder / "key.json"),
            "--tender",
            str(tender["id"]),
            "--lot",
            "1",
            "--opening-key",
            str(opening),
            "--bid",
            str(folder / f"{name}.bid.json"),
            "--document",
            str(document),
            "--out",
            str(envelope),
            env=env,
        )
        last = self.ebid(
            "submit",
            "--server",
            self.base_url,
            "--token",
            self.token(username),
            "--tender",
            str(tender["id"]),
            "--lot",
            "1",
            str(envelope),
        )
        self.facts.setdefault("envelopes", {})[username] = envelope
        return {"envelope": envelope, "last": last}

    def bidders_seal_and_submit(self) -> None:
        """Three bidders make keys, seal their bids on their own machines and submit; one replaces its bid."""
        self.key_passwords = {u: f"demo-key-password-{u}" for u in self.BIDS}
        self.logins_org = {}
        for username, (price, duration, response) in self.BIDS.items():
            bidder = self.role(username)
            me = bidder.call("GET", f"/api/tenders/{self.facts['tender']['id']}/sealing", expect=(200, 409))
            self.logins_org[username] = me["bidder"]
            folder = self.out / "bids" / username
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            env = {"EBID_PASSWORD": self.key_passwords[username]}
            self.ebid("keygen", "--bidder", me["bidder"], "--out", str(folder / "key.json"), env=env)
            self.ebid(
                "register-keys",
                "--server",
                self.base_url,
                "--token",
                self.token(username),
                str(folder / "key.json"),
            )
            self.say(username, "made its keys on its own machine and registered the public halves")
            sent = self._seal_and_submit(username, price, duration, response, "bid")
            self.say(username, f"sealed and submitted: {sent['last']}")
        lower = "11790000.00"
        sent = self._seal_and_submit("bidder2", lower, 500, self.BIDS["bidder2"][2], "replacement")
        self.say("bidder2", f"replaced its bid before the deadline: {sent['last']}")
        for username in self.BIDS:
            mine = self.role(username).call("GET", "/api/my/bids")["items"]
            states = ", ".join(f"{b['state']}" for b in mine)
            self.say(username, f"sees only its own bids: {states}")
        office_view = self.role("office").http.get(
            f"{self.base_url}/tenders/{self.facts['tender']['id']}", timeout=30
        )
        if any(self.logins_org[u] in office_view.text for u in self.BIDS):
            raise DemoError("the tendering office's page names a bidder before the opening")
        self.say("office", "sees no bidder names or counts before the opening")

    def late_bid_is_refused(self) -> None:
        """The deadline passes; a late replacement is refused and the platform closes the tender."""
        deadline = dt.datetime.fromisoformat(self.facts["tender"]["submission_deadline"])
        wait = (deadline - dt.datetime.now(dt.UTC)).total_seconds()
        if wait > 0:
            self.say("platform", f"waiting {wait:.0f} s for the deadline …")
            time.sleep(wait + 0.5)
        try:
            self._seal_and_submit("bidder3", "11500000.00", 560, self.BIDS["bidder3"][2], "late")
        except DemoError as exc:
            self.say("bidder3", f"tried a late replacement and was refused: {str(exc).splitlines()[0][:150]}")
        else:
            raise DemoError("a bid after the deadline was accepted")
        closed = None
        for _ in range(60):
            lines = (
                self.role(None).http.get(f"{self.base_url}/api/log/export", timeout=60).text.splitlines()[1:]
            )
            closed = next(
                (
                    json.loads(line)
                    for line in reversed(lines)
                    if '"tender.closed"' in line
                    and json.loads(line)["subject"]["tender"] == self.facts["tender"]["id"]
                ),
                None,
            )
            if closed:
                break
            time.sleep(1)
        if closed is None:
            raise DemoError("the tender was not closed at its deadline")
        envelopes = closed["data"]["envelopes"]
        self.save("close-entry.json", closed)
        self.say(
            "platform",
            f"closed at the deadline; the signed close lists {sum(map(len, envelopes.values()))} "
            f"envelopes (log entry {closed['index']})",
        )

    def verify_receipts(self) -> None:
        """Each bidder checks its receipt with ebid against the platform's published keys."""
        for receipt in sorted((self.out / "bids").glob("*/*.envelope.receipt.jws")):
            self.say(
                receipt.parent.name, self.ebid("verify-receipt", str(receipt), "--server", self.base_url)
            )

    def _web_session(self, username: str) -> requests.Session:
        """Sign in through the login page, as a person at a browser does (needed to sign documents)."""
        web = requests.Session()
        page = web.get(f"{self.base_url}/login", timeout=30).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
            r'name="csrf_token" value="([^"]+)"', page)
        response = web.post(f"{self.base_url}/login", timeout=30, allow_redirects=False, data={
            "csrf_token": token.group(1) if token else "", "username": username,
            "password": self.logins[username]["password"]})
        if response.status_code != 302:
            raise DemoError(f"{username} could not sign in on the web")
        return web

    def _sign_record(self, username: str, document_id: int, field: str) -> None:
        web = self._web_session(username)
        page = web.get(f"{self.base_url}/documents/{document_id}", timeout=30).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if token is None or f'value="{field}"' not in page:
            raise DemoError(f"{username} has no signature field {field!r} on the record")
        response = web.post(f"{self.base_url}/documents/{document_id}/sign", timeout=120, data={
            "csrf_token": token.group(1), "field": field, "password": self.logins[username]["password"]})
        if response.status_code not in (200, 302):
            raise DemoError(f"{username} could not sign the record: {response.status_code}")

    def opening(self) -> None:
        """The opening, attended remotely: check-ins, data keys handed over, prices read, record signed."""
        tender_id = self.facts["tender"]["id"]
        base = f"/api/tenders/{tender_id}/opening"
        office, supervisor = self.role("office"), self.role("supervisor")
        office.call("POST", f"{base}/start")
        self.say("office", "opened the ceremony at the opening time")
        supervisor.call("POST", f"{base}/check-in")
        self.say("supervisor", "checked in to watch")
        for username in self.BIDS:
            bidder = self.role(username)
            bidder.call("POST", f"{base}/check-in")
            folder = self.out / "bids" / username
            envelope = self.facts["envelopes"][username]
            self.ebid("open-key", "--key", str(folder / "key.json"), "--envelope", str(envelope),
                      env={"EBID_PASSWORD": self.key_passwords[username]})
            data_key = next(line.split(": ", 1)[1] for line in self.last_stdout.splitlines()
                            if line.startswith("Data key: "))
            active = next(b for b in bidder.call("GET", "/api/my/bids")["items"] if b["state"] == "active")
            bidder.call("POST", f"{base}/bids/{active['id']}/key", json={"data_key": data_key},
                        expect=(200, 202))
            self.say(username, "checked in, unwrapped its data key on its own machine and handed it over")
        state = None
        for _ in range(120):
            state = office.call("GET", base)
            if all(b["state"] not in ("waiting_key", "decrypting") for b in state["bids"]):
                break
            time.sleep(1)
        for bid in state["bids"]:
            price = bid.get("price") or {}
            self.say("platform", f"announced: {bid.get('bidder') or bid['bid']} — {bid['state']} "
                                 f"{price.get('amount', '')} {price.get('currency', '')}".rstrip())
        objection = self.role("bidder3").call("POST", f"{base}/objections",
                                              json={"text": "请确认二标段报价是否含税。"})
        objection_id = (objection.get("objections") or [{}])[-1].get("id")
        office.call("POST", f"{base}/objections/{objection_id}/answer",
                    json={"answer": "各投标人报价均为含税价，以投标文件为准。"})
        self.say("bidder3", "raised an objection in the room; the host answered; both are in the record")
        concluded = office.call("POST", f"{base}/conclude")
        record_id = concluded["opening"]["record_document"]
        self.say("office", f"concluded the opening: tender now {concluded['tender_state']}")
        self._sign_record("office", record_id, "host")
        self._sign_record("supervisor", record_id, "supervisor")
        self.say("office", "signed the opening record as host; the supervisor countersigned")
        record = self._web_session("supervisor").get(f"{self.base_url}/documents/{record_id}/pdf", timeout=60)
        path = self.save("opening-record.pdf", record.content)
        self.save("opening-state.json", concluded)
        self.say("ebid", self.ebid("verify-pdf", str(path), "--ca", str(self.out / "ca.pem")))

    def notification_counts(self) -> None:
        """The notifications each role was sent, counted by the supervisor (counts only, by role)."""
        roles = self.role("supervisor").call("GET", "/api/notifications/summary")["roles"]
        self.save("notification-counts.json", json.dumps(roles, indent=2))
        self.say("supervisor", f"notifications   {'role':<18} {'total':>6} {'unread':>7}")
        for role, counts in roles.items():
            self.say("supervisor", f"                {role:<18} {counts['total']:>6} {counts['unread']:>7}")

    def run(self) -> None:
        deposits = DepositSteps(self)  # issue 7: deposits, a claim, the releases and the cash released
        steps = [
            self.publish_tender,
            deposits.before_deadline,
            self.bidder_finds_tender,
            self.verify_trust,
            self.bidders_seal_and_submit,
            self.late_bid_is_refused,
            self.verify_receipts,
            self.opening,
            deposits.claim_after_opening,
            *demo_evaluation.steps(self),  # issue 6: panel, evaluation, report, publicity, award
            *demo_complaints.steps(self),  # issue 16: a complaint filed and decided
            *demo_service.steps(self),  # issue 16: ratings, time limits
            *demo_signals.steps(self),  # issue 16: collusion and risk signals
            deposits.releases_and_figures,
            *demo_open_data.steps(self),  # issue 16: OCDS and the exports
            self.notification_counts,  # issue 14: what each role was told
            *demo_audit.steps(self),  # issue 16: ebid audit on the awarded tender, last
        ]
        for step in steps:
            print(f"== {step.__doc__ or step.__name__.replace('_', ' ')}")
            step()
        print(f"Done. What the demo produced is in {self.out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--base-url", default="http://127.0.0.1:5000")
    parser.add_argument("--instance", type=Path, default=INSTANCE)
    parser.add_argument(
        "--bidding-seconds", type=int, default=int(os.environ.get("DEMO_BIDDING_SECONDS", "45")),
        help="seconds from publication to the deadline (at least the server's MIN_BIDDING_PERIOD); "
             "a busy machine needs more to seal and submit every bid in time (DEMO_BIDDING_SECONDS)")
    args = parser.parse_args(argv)
    logins_file = args.instance / "demo-logins.json"
    if not logins_file.exists():
        print(f"No demo logins at {logins_file}: start the platform with `make run` first.", file=sys.stderr)
        return 2
    logins = {e["username"]: e for e in json.loads(logins_file.read_text())}
    out = args.instance / "demo"
    out.mkdir(parents=True, exist_ok=True)
    try:
        requests.get(f"{args.base_url}/healthz", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        print(
            f"The platform is not answering at {args.base_url} ({exc}); run `make run` first.",
            file=sys.stderr,
        )
        return 2
    try:
        Demo(args.base_url, out, logins, bidding_seconds=args.bidding_seconds).run()
    except DemoError as exc:
        print(f"DEMO FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
