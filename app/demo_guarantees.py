"""`make demo`'s deposit steps (issue 7), driven through the public API as each role would.

The lead's `app/demo.py` calls these with its `Demo` (for `role`, `say`, `save`) and the tender
JSON it published:

    before the deadline:  register_requirement(demo, tender)      # the office: the deposit and its cap
                          import_rules_and_ratings(demo, tender)  # admin: waiver rules, credit registry
                          waiver_and_guarantee(demo, tender)      # bidder1: waiver + bank guarantee
                          cash_deposit(demo, tender)              # bidder2: cash, statement imported
                          guarantee_insurance(demo, tender)       # bidder3: guarantee insurance
    after the opening:    claim(demo, tender)                     # the office claims bidder3's guarantee
                          releases(demo, tender)                  # releases guarantees, refunds cash

Each step returns what it produced and saves it under `instance/demo/` (letters as PDF).
"""

from __future__ import annotations

import datetime as dt
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
        "submission_deadline": tender["submission_deadline"],
        "opening_time": tender.get("opening_time") or tender["submission_deadline"],
        "bid_validity_days": tender["bid_validity_days"],
    }
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
    lines.append("91350100MA2BADROW9,校验码错误的一行,construction-credit,AA,2026-01-01,,演示")
    report = admin.call(
        "POST",
        "/api/deposits/credit-registry",
        data=("\n".join(lines) + "\n").encode(),
        headers={"Content-Type": "text/csv"},
        params={"filename": "credit-registry.csv"},
    )
    demo.say(
        "admin",
        f"imported the credit registry: {report['accepted']} rated, {report['rejected']} row refused "
        f"({report['rejected_rows'][0]['reason'][:50] if report['rejected_rows'] else '—'})",
    )
    demo.save("credit-registry-import.json", report)
    return report


def _apply(demo: Any, username: str, tender: dict[str, Any], issuer: str) -> dict:
    role, _mine = _bidder(demo, username, tender)
    guarantee = role.call(
        "POST", f"/api/deposits/tenders/{tender['id']}/guarantees", json={"issuer": issuer}, expect=(201, 202)
    )
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


def waiver_and_guarantee(demo: Any, tender: dict[str, Any], username: str = "bidder1") -> dict:
    """bidder1 asks for its credit waiver and covers the rest with a sandbox bank guarantee."""
    role, _mine = _bidder(demo, username, tender)
    waiver = role.call("POST", f"/api/deposits/tenders/{tender['id']}/waiver")
    demo.say(
        username,
        f"waiver of {waiver['amount']['amount']} ({waiver['reduction_percent']}% for "
        f"{waiver['rating']['scheme']} {waiver['rating']['grade']}; rule: {waiver['rule']['source'][:30]}…)",
    )
    guarantee = _apply(demo, username, tender, "sandbox-bank")
    _role, mine = _bidder(demo, username, tender)
    demo.say(username, f"deposit {mine['coverage']['state']}: {mine['coverage']['detail']}")
    return {"waiver": waiver, "guarantee": guarantee}


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
    demo.say("platform", f"refused a second claim: {second['error']['message'][:80]}")
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
