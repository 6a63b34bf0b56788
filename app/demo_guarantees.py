"""`make demo`'s deposit steps (issue 7), driven through the public API as each role would.

The lead's `app/demo.py` calls these with its `Demo` (for `role`, `say`, `save`) and the tender
JSON it published:

    before the deadline:  register_requirement(demo, tender)      # the office: the deposit and its cap
                          import_rules_and_ratings(demo, tender)  # admin: waiver rules, credit registry
                          waiver_and_guarantee(demo, tender)      # bidder1: waiver + bank guarantee
                          issue_on_the_desk(web, base, guarantee) # the bank's staff issue it (issuer desk)
                          cash_deposit(demo, tender)              # bidder2: cash, statement imported
                          guarantee_insurance(demo, tender)       # bidder3: guarantee insurance
    after the opening:    claim(demo, tender)                     # the office claims bidder3's guarantee
                          releases(demo, tender)                  # releases guarantees, refunds cash

Each step returns what it produced and saves it under `instance/demo/` (letters as PDF).

`DepositSteps(demo)` binds them into the three steps `Demo.run()` lists: `before_deadline` (right after
publication), `claim_after_opening`, and `releases_and_figures` (last, after the award when there is
one: its winner signs) which also checks each letter with `ebid verify-pdf` against its issuer's root,
prints the cash-release figures and saves them (JSON, CSV, XLSX, the monthly signed PDF report).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from typing import Any
from zoneinfo import ZoneInfo

WAIVER_RULES = (
    "jurisdiction,rating_scheme,grade,reduction_percent,source,valid_from,valid_to\n"
    "350000,construction-credit,AAA,100,演示：福建省建筑市场信用评价结果应用规则（AAA级免缴）,2026-01-01,\n"
    "350000,construction-credit,AA,50,演示：福建省建筑市场信用评价结果应用规则（AA级减半）,2026-01-01,\n"
)


def _bidder(demo: Any, username: str, tender: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    role = demo.role(username)
    return role, role.call("GET", f"/api/deposits/tenders/{tender['id']}/mine")


def register_requirement(demo: Any, tender: dict[str, Any], *, project_type: str = "construction") -> dict:
    """The office registers the tender's deposit; the platform checks it against the jurisdiction's cap."""
    office = demo.role("office")
    body = {
        "reference": tender["reference"],
        "jurisdiction": tender["region"],
        "project_type": project_type,
        "currency": tender["currency"],
        "estimated_price": tender["estimated_price"],
        "deposit_amount": tender["deposit_amount"],
    }  # the deadline, opening time and bid validity are the tender's own: the platform takes them from it
    over = dict(body, deposit_amount=f"{float(tender['estimated_price']) * 0.03:.2f}")
    refused = office.call("PUT", f"/api/deposits/tenders/{tender['id']}/requirement", json=over, expect=422)
    demo.say("platform", f"refused a deposit of 3%: {refused['error']['message'][:90]}…")
    requirement = office.call("PUT", f"/api/deposits/tenders/{tender['id']}/requirement", json=body)
    demo.say(
        "office",
        f"deposit {requirement['deposit']['amount']} {requirement['deposit']['currency']} "
        f"registered; cap {requirement['cap']['amount']} ({requirement['rule']['source'][:24]}…)",
    )
    demo.save("deposit-requirement.json", requirement)
    return requirement


def import_rules_and_ratings(
    demo: Any, tender: dict[str, Any], *, grades: dict[str, str] | None = None
) -> dict:
    """The administrator imports the waiver rules and the credit registry (bidder1 rated AA)."""
    admin = demo.role("admin")
    rules = admin.call(
        "POST",
        "/api/deposits/rules/waiver",
        data=WAIVER_RULES.encode(),
        headers={"Content-Type": "text/csv"},
        params={"filename": "waiver-rules.csv"},
    )
    demo.say("admin", f"imported waiver rules: {rules['accepted']} new, {rules['duplicates']} already there")
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    lines = ["credit_code,organisation_name,rating_scheme,grade,valid_from,valid_to,source"]
    for username, grade in (grades or {"bidder1": "AA"}).items():
        _role, mine = _bidder(demo, username, tender)
        lines.append(
            f"{mine['bidder']['credit_code']},{mine['bidder']['name']},construction-credit,{grade},"
            f"{today.replace(month=1, day=1)},{today.replace(month=12, day=31)},演示：住建部门信用评价"
        )
    lines.append("91350100MA2BADRW1X,校验码错误的一行,construction-credit,AA,2026-01-01,,演示")
    report = admin.call(
        "POST",
        "/api/deposits/credit-registry",
        data=("\n".join(lines) + "\n").encode(),
        headers={"Content-Type": "text/csv"},
        params={"filename": "credit-registry.csv"},
    )
    demo.say(
        "admin",
        f"imported the credit registry: {report['accepted']} new, {report['duplicates']} already there, "
        f"{report['rejected']} row refused "
        f"({report['rejected_rows'][0]['reason'][:70] if report['rejected_rows'] else '—'})",
    )
    demo.save("credit-registry-import.json", report)
    return report


def _apply(demo: Any, username: str, tender: dict[str, Any], issuer: str) -> dict:
    role, _mine = _bidder(demo, username, tender)
    guarantee = role.call(
        "POST", f"/api/deposits/tenders/{tender['id']}/guarantees", json={"issuer": issuer}, expect=(201, 202)
    )
    if guarantee["state"] == "applied":
        demo.say(username, f"applied to {guarantee['issuer']['name']} for "
                           f"{guarantee['undertaking_amount']['amount']}: with its staff for review")
    else:
        demo.say(
            username,
            f"{guarantee['issuer']['name']} issued {guarantee['undertaking_identification']} for "
            f"{guarantee['undertaking_amount']['amount']} (premium "
            f"{(guarantee.get('premium') or {}).get('amount', '—')}), state {guarantee['state']}",
        )
    if guarantee.get("letter_sha256"):
        pdf = role.call("GET", f"/api/deposits/guarantees/{guarantee['id']}/letter")
        path = demo.save(f"guarantee-{guarantee['undertaking_identification']}.pdf", pdf)
        public = demo.role(None)
        with path.open("rb") as fh:
            answer = public.call(
                "POST",
                "/api/guarantees/verify",
                files={"pdf": fh},
                data={"undertaking_identification": guarantee["undertaking_identification"]},
            )
        demo.say(
            "anyone", f"verified the letter with the issuer: genuine={answer['genuine']} ({answer['detail']})"
        )
    return guarantee


def waiver_and_guarantee(
    demo: Any, tender: dict[str, Any], username: str = "bidder1", issuer: str = "sandbox-bank"
) -> dict:
    """bidder1 asks for its credit waiver and covers the rest with a bank guarantee."""
    role, _mine = _bidder(demo, username, tender)
    waiver = role.call("POST", f"/api/deposits/tenders/{tender['id']}/waiver")
    demo.say(
        username,
        f"waiver of {waiver['amount']['amount']} ({waiver['reduction_percent']}% for "
        f"{waiver['rating']['scheme']} {waiver['rating']['grade']}; rule: {waiver['rule']['source'][:30]}…)",
    )
    guarantee = _apply(demo, username, tender, issuer)
    _role, mine = _bidder(demo, username, tender)
    demo.say(username, f"deposit {mine['coverage']['state']}: {mine['coverage']['detail']}")
    return {"waiver": waiver, "guarantee": guarantee}


def issue_on_the_desk(web: Any, base: str, guarantee: dict[str, Any]) -> dict[str, str]:
    """The bank's staff, signed in on the web (`web`: a requests.Session or alike), find the application
    in their issuer desk's queue, open its underwriting view and issue it (the issuer seals the letter
    with its own key). Returns what the desk showed: the guarantee's state and number."""
    number = guarantee["id"]
    queue = web.get(f"{base}/issuer-desk/", timeout=60)
    if queue.status_code != 200 or f'data-guarantee="{number}"' not in queue.text:
        raise RuntimeError(f"the application {number} is not in the bank's desk queue ({queue.status_code})")
    page = web.get(f"{base}/issuer-desk/guarantees/{number}", timeout=60)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if page.status_code != 200 or token is None or 'id="issue"' not in page.text:
        raise RuntimeError(f"the desk offers no decision on application {number} ({page.status_code})")
    done = web.post(f"{base}/issuer-desk/guarantees/{number}/decide", timeout=120,
                    data={"csrf_token": token.group(1), "decision": "issue", "reason": ""})
    if done.status_code not in (200, 302, 303):
        raise RuntimeError(f"issuing on the desk answered {done.status_code}")
    after = web.get(f"{base}/issuer-desk/guarantees/{number}", timeout=60).text
    state = re.search(r'id="state" data-state="([a-z]+)"', after)
    shown = re.search(r'<dd id="number">([^<]+)</dd>', after)
    return {"state": state.group(1) if state else "?", "number": shown.group(1) if shown else "—"}


def cash_deposit(demo: Any, tender: dict[str, Any], username: str = "bidder2") -> dict:
    """bidder2 pays cash into its virtual sub-account; the administrator imports the bank's statement."""
    role, mine = _bidder(demo, username, tender)
    account = role.call(
        "POST",
        f"/api/deposits/tenders/{tender['id']}/cash-account",
        json={"payee_account": "6217000010001234567"},
    )
    demo.say(username, f"pays {tender['deposit_amount']} into virtual account {account['account_number']}")
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    statement = (
        "value_date,virtual_account,amount,currency,bank_reference,payer_name,payer_account\n"
        f"{today},{account['account_number']},{tender['deposit_amount']},{tender['currency']},"
        f"DEMO-{account['account_number'][-6:]},{mine['bidder']['name']},6217000010001234567\n"
    )
    demo.save("bank-statement.csv", statement)
    admin = demo.role("admin")
    report = admin.call(
        "POST",
        "/api/deposits/statements",
        data=statement.encode(),
        headers={"Content-Type": "text/csv"},
        params={"filename": "bank-statement.csv"},
    )
    again = admin.call(
        "POST",
        "/api/deposits/statements",
        data=statement.encode(),
        headers={"Content-Type": "text/csv"},
        params={"filename": "bank-statement.csv"},
    )
    demo.say(
        "admin",
        f"imported the bank statement: {report['accepted']} receipt; imported again: "
        f"{again['duplicates']} duplicate, nothing counted twice",
    )
    _role, mine = _bidder(demo, username, tender)
    demo.say(username, f"deposit {mine['coverage']['state']}: {mine['coverage']['detail']}")
    return mine


def guarantee_insurance(demo: Any, tender: dict[str, Any], username: str = "bidder3") -> dict:
    """bidder3 covers its deposit with guarantee insurance from the sandbox insurer."""
    return _apply(demo, username, tender, "sandbox-insurer")


def claim(
    demo: Any, tender: dict[str, Any], username: str = "bidder3", reason: str = "withdrawal_after_deadline"
) -> dict:
    """After the deadline the office claims a bidder's guarantee; a second claim is refused."""
    office = demo.role("office")
    rows = office.call("GET", f"/api/deposits/tenders/{tender['id']}/coverage")
    demo.say(
        "office",
        "deposits at the opening: " + "; ".join(f"{r['bidder']} {r['coverage']['state']}" for r in rows),
    )
    _role, mine = _bidder(demo, username, tender)
    guarantee = next(g for g in mine["guarantees"] if g["state"] in ("issued", "amended"))
    body = {"reason": reason, "statement": "投标人在投标截止后、投标有效期内撤销投标文件（演示）。"}
    claimed = office.call("POST", f"/api/deposits/guarantees/{guarantee['id']}/claim", json=body, expect=202)
    demo.say(
        "office",
        f"claimed {claimed['undertaking_identification']}: {claimed['state']} "
        f"({(claimed['claims'] or [{}])[-1].get('answer') or 'with the issuer'})",
    )
    second = office.call("POST", f"/api/deposits/guarantees/{guarantee['id']}/claim", json=body, expect=409)
    demo.say("platform", f"refused a second claim: {second['error']['message'][:120]}")
    demo.save("claim.json", claimed)
    return claimed


def releases(
    demo: Any, tender: dict[str, Any], *, outcome: str = "contract_signed", winner: str | None = "bidder1"
) -> dict:
    """The office records the outcome: guarantees in force are released, cash is refunded with interest."""
    office = demo.role("office")
    body: dict[str, Any] = {"outcome": outcome}
    if winner:
        _role, mine = _bidder(demo, winner, tender)
        body["credit_code"] = mine["bidder"]["credit_code"]
    result = office.call("POST", f"/api/deposits/tenders/{tender['id']}/outcome", json=body)
    demo.say(
        "office",
        f"recorded '{outcome}': {result['releases']} guarantee release(s) sent, "
        f"{len(result['refunded'])} cash deposit(s) refunded with interest"
        + (f", {len(result['waiting'])} waiting" if result["waiting"] else ""),
    )
    demo.save("deposit-outcome.json", result)
    return result


# -- the steps as `Demo.run()` calls them ------------------------------------------------------------

#: The figures printed at the end, in order: (key in /api/cash-release rows, label, unit).
FIGURES = (
    ("cases", "deposit cases", ""),
    ("required", "deposits required", "cur"),
    ("released_liquidity", "released liquidity", "cur"),
    ("guaranteed", "  of which guarantees (face value)", "cur"),
    ("waived", "  of which credit waivers", "cur"),
    ("cash", "paid in cash", "cur"),
    ("substitution_rate_amount", "cash substitution rate by amount", "%"),
    ("substitution_rate_count", "cash substitution rate by count", "%"),
    ("capital_days", "capital-days avoided", "cur·days"),
)


def _amount(value: Any) -> str:
    if value is None:
        return "—"
    try:
        return f"{float(value):,.2f}"
    except (TypeError, ValueError):
        return str(value)


def figures_table(total: list[dict[str, Any]], by_instrument: list[dict[str, Any]]) -> list[str]:
    """The cash-release figures as lines of a short table (one column per currency)."""
    lines = []
    for row in total:
        currency = row["currency"]
        lines.append(f"{'cash released (' + currency + ')':<38}{'all tenders':>24}")
        for key, label, unit in FIGURES:
            value = row.get(key)
            if key == "capital_days" and value is not None and float(value) == 0:
                shown = "0.00 (released the day of the deadline)"
            elif unit == "%":
                shown = "—" if value is None else f"{value} %"
            elif unit:
                shown = f"{_amount(value)} {unit.replace('cur', currency)}"
            else:
                shown = str(value)
            lines.append(f"  {label:<36}{shown:>24}")
    if by_instrument:
        lines.append(f"  {'by instrument':<30}{'count':>6}{'amount':>18}{'capital-days':>22}")
        for row in by_instrument:
            amount = sum(float(row.get(k) or 0) for k in ("cash", "waived", "guaranteed"))
            name = f"{row['instrument']} ({row['currency']})"
            days = _amount(row.get("capital_days"))
            lines.append(f"    {name:<28}{row.get('instruments', ''):>6}{amount:>18,.2f}{days:>22}")
    return lines


def _refund(mine: dict[str, Any]) -> str:
    """What a bidder's cash account shows after the refund: principal, interest and the days held."""
    account = mine.get("cash_account")
    if not account:
        return ""
    moves = account["movements"]
    received = [dt.date.fromisoformat(m["value_date"]) for m in moves if m["kind"] == "receipt"]
    refunds = [m for m in moves if m["kind"] == "refund"]
    if not refunds:
        return f"; cash held {account['balance']['amount']}"
    interest = sum((float(m["amount"]["amount"]) for m in moves if m["kind"] == "interest"), 0.0)
    days = (dt.date.fromisoformat(refunds[0]["value_date"]) - min(received)).days if received else 0
    return (
        f"; cash refunded {refunds[0]['amount']['amount']} + interest {interest:.2f} "
        f"(held {days} day(s), ACT/360)"
    )


def _error(demo: Any) -> type[Exception]:
    """The demo's own error class (app.demo runs as __main__ under `make demo`: take it from there)."""
    return getattr(sys.modules[type(demo).__module__], "DemoError", RuntimeError)


def _fail(demo: Any, message: str) -> Exception:
    return _error(demo)(message)


class DepositSteps:
    """The deposit steps of `make demo`, bound to its `Demo` (their docstrings head the demo's output)."""

    def __init__(self, demo: Any) -> None:
        self.demo = demo
        self.letters: list[tuple[str, str]] = []  # (issuer code, saved letter file name)

    @property
    def tender(self) -> dict[str, Any]:
        return self.demo.facts["tender"]

    def before_deadline(self) -> None:
        """Deposits before the deadline: the cap, a waiver, a bank guarantee, cash, guarantee insurance"""
        tender = self.tender
        register_requirement(self.demo, tender)
        import_rules_and_ratings(self.demo, tender)
        # bidder1 asks the bank's manual-review issuer; the bank's staff issue it on their desk (issue 14)
        made = waiver_and_guarantee(self.demo, tender, issuer="ccb-review")
        self._keep_letter(self._through_the_desk(made["guarantee"]))
        cash_deposit(self.demo, tender)
        self._keep_letter(guarantee_insurance(self.demo, tender))
        self.demo.facts["deposits"] = {"guarantees": [g for _code, g in self.letters]}

    def _through_the_desk(self, guarantee: dict[str, Any], username: str = "bidder1") -> dict[str, Any]:
        """The bank's staff issue an application waiting on their desk; the bidder then sees it issued."""
        demo = self.demo
        if guarantee["state"] != "applied":
            return guarantee
        try:
            shown = issue_on_the_desk(demo._web_session("bank"), demo.base_url, guarantee)
        except RuntimeError as exc:
            raise _fail(demo, str(exc)) from None
        demo.say("bank", f"issued {shown['number']} on the issuer desk (/issuer-desk): {shown['state']}")
        role = demo.role(username)
        issued = role.call("GET", f"/api/deposits/guarantees/{guarantee['id']}")
        if issued["state"] != "issued":
            raise _fail(demo, f"the guarantee issued on the desk is {issued['state']}")
        pdf = role.call("GET", f"/api/deposits/guarantees/{guarantee['id']}/letter")
        demo.save(f"guarantee-{issued['undertaking_identification']}.pdf", pdf)
        _role, mine = _bidder(demo, username, self.tender)
        demo.say(username, f"deposit {mine['coverage']['state']}: {mine['coverage']['detail']}")
        return issued

    def _keep_letter(self, guarantee: dict[str, Any]) -> None:
        if guarantee.get("letter_sha256"):
            name = f"guarantee-{guarantee['undertaking_identification']}.pdf"
            self.letters.append((guarantee["issuer"]["code"], name))

    def claim_after_opening(self) -> None:
        """After the opening the tenderee sees the deposits and claims a bidder's guarantee"""
        claim(self.demo, self.tender)

    def releases_and_figures(self) -> None:
        """The tender ends: guarantees released, cash refunded with interest; the cash released, in figures"""
        demo, tender = self.demo, self.tender
        award = demo.role(None).call("GET", f"/api/tenders/{tender['id']}/award", expect=(200, 404))
        awards = award.get("awards") if isinstance(award, dict) else None
        winner = None
        if awards:
            winner = awards[0]["credit_code"]
            demo.say("office", f"the award went to {awards[0]['bidder']}: the contract is signed")
        else:
            demo.say("office", "no award in this run: the demo records bidder1 as the winner who signed")
        self._outcome(winner)
        self._verify_letters()
        self._figures()

    def _outcome(self, winner_code: str | None) -> None:
        demo, tender = self.demo, self.tender
        if winner_code is None:
            releases(demo, tender)
        else:
            office = demo.role("office")
            body = {"outcome": "contract_signed", "credit_code": winner_code}
            result = office.call("POST", f"/api/deposits/tenders/{tender['id']}/outcome", json=body)
            demo.say(
                "office",
                f"recorded 'contract_signed': {result['releases']} guarantee release(s) sent, "
                f"{len(result['refunded'])} cash deposit(s) refunded with interest"
                + (f", {len(result['waiting'])} waiting" if result["waiting"] else ""),
            )
            demo.save("deposit-outcome.json", result)
        for username in ("bidder1", "bidder2", "bidder3"):
            _role, mine = _bidder(demo, username, tender)
            states = ", ".join(f"{g['undertaking_identification']} {g['state']}" for g in mine["guarantees"])
            demo.say(username, (f"guarantees: {states}" if states else "no guarantee") + _refund(mine))

    def _verify_letters(self) -> None:
        """A letter is sealed under its issuer's own CA, not the platform's: check it against the issuer's."""
        demo = self.demo
        instance = demo.out.parent
        for code, name in self.letters:
            letter = demo.out / name
            try:
                demo.ebid("verify-pdf", str(letter), "--ca", str(demo.out / "ca.pem"))
            except _error(demo) as exc:  # the expected refusal: another CA signed it
                reason = str(exc).splitlines()[0]
                if "does not chain to a trusted root" in reason:
                    reason = "intact, but its certificate does not chain to the platform's root"
                demo.say("ebid", f"{name} against the platform's CA: refused, as it should be ({reason})")
            else:
                raise _fail(demo, f"{name} passed against the platform's CA: it should be the issuer's")
            seal = instance / "sandbox-issuers" / code / "seal.json"
            if not seal.exists():
                demo.say("ebid", f"{name}: the issuer {code} publishes no root here ({seal} missing); "
                                 "its letter was verified with the issuer through the platform instead")
                continue
            root = demo.save(f"issuer-{code}-ca.pem", json.loads(seal.read_text())["ca_cert"])
            checked = demo.ebid("verify-pdf", str(letter), "--ca", str(root))
            demo.say("ebid", f"{name} against {code}'s root: {checked}")

    def _figures(self) -> None:
        demo = self.demo
        supervisor = demo.role("supervisor")
        total = supervisor.call("GET", "/api/cash-release", params={"by": "total"})
        by_instrument = supervisor.call("GET", "/api/cash-release", params={"by": "instrument"})
        by_month = supervisor.call("GET", "/api/cash-release", params={"by": "month"})
        demo.save("cash-release.json", {"total": total, "instrument": by_instrument, "month": by_month})
        print()
        for line in figures_table(total["rows"], by_instrument["rows"]):
            print(f"  {line}")
        print()
        web = demo._web_session("supervisor")
        base = demo.base_url
        page = web.get(f"{base}/cash-release", timeout=60)
        if page.status_code != 200:
            raise _fail(demo, f"the dashboard answered {page.status_code}")
        csv_export = web.get(f"{base}/cash-release/export.csv", params={"by": "instrument"}, timeout=60)
        xlsx = web.get(f"{base}/cash-release/export.xlsx", timeout=120)
        for response in (csv_export, xlsx):
            response.raise_for_status()
        demo.save("cash-release-instrument.csv", csv_export.content)
        demo.save("cash-release.xlsx", xlsx.content)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        month = dt.datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
        report = web.post(f"{base}/cash-release/reports", data={"csrf_token": token.group(1) if token else "",
                                                              "month": month}, timeout=180)
        if report.status_code != 200 or not report.content.startswith(b"%PDF"):
            raise _fail(demo, f"the monthly report answered {report.status_code}: {report.text[:200]}")
        path = demo.save(f"cash-release-{month}.pdf", report.content)
        demo.say("supervisor", f"saved the figures (JSON, CSV, XLSX) and the signed report for {month}")
        demo.say("ebid", demo.ebid("verify-pdf", str(path), "--ca", str(demo.out / "ca.pem")))
