"""`make demo`'s deposit steps (app/demo_guarantees.py), run against the application through its HTTP API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from app import demo_guarantees as steps
from app.demo import DemoError
from core.models import Role
from core.orm import utcnow
from guarantees import tenders
from tests import factories
from tests.unit.guarantees import deposit_helpers as h


class ClientRole:
    """The demo's `Role`, over the test client instead of a socket."""

    def __init__(self, client, headers: dict[str, str] | None, name: str) -> None:
        self.client, self.headers, self.username = client, headers or {}, name

    def call(
        self,
        method: str,
        path: str,
        *,
        expect=(200, 201),
        json=None,
        data=None,
        headers=None,
        params=None,
        files=None,
    ) -> Any:
        kwargs: dict[str, Any] = {"headers": {**self.headers, **(headers or {})}, "query_string": params}
        if json is not None:
            kwargs["json"] = json
        if files:
            kwargs["data"] = {**(data or {}), **{k: (v, "letter.pdf") for k, v in files.items()}}
        elif data is not None:
            kwargs["data"] = data
            if (headers or {}).get("Content-Type"):
                kwargs["content_type"] = headers["Content-Type"]
        response = self.client.open(path, method=method, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise DemoError(
                f"{self.username}: {method} {path} gave {response.status_code}: {response.data[:300]}"
            )
        return response.get_json() if response.is_json else response.data


class ClientDemo:
    def __init__(self, client, users: dict[str, Any], bearer, out: Path) -> None:
        self.client, self.users, self.bearer, self.out = client, users, bearer, out
        self.lines: list[str] = []
        self.facts: dict[str, Any] = {}

    def role(self, username: str | None) -> ClientRole:
        if username is None:
            return ClientRole(self.client, None, "public")
        return ClientRole(self.client, self.bearer(self.users[username]), username)

    def say(self, who: str, what: str) -> None:
        self.lines.append(f"[{who}] {what}")

    def save(self, name: str, content) -> Path:
        path = self.out / name
        path.write_bytes(content if isinstance(content, bytes) else str(content).encode())
        return path


def test_the_demo_steps_run_end_to_end(client, bearer, session, tmp_path):
    users = {
        name: factories.user(role)
        for name, role in [
            ("office", Role.TENDERING_OFFICE),
            ("admin", Role.ADMINISTRATOR),
            ("bidder1", Role.BIDDER),
            ("bidder2", Role.BIDDER),
            ("bidder3", Role.BIDDER),
        ]
    }
    made = factories.tender(users["office"], deposit_amount="200000.00", estimated_price="12800000.00")
    session.commit()
    deadline = utcnow() + dt.timedelta(days=20)
    tender = {
        "id": made.id,
        "reference": made.reference,
        "region": made.region,
        "currency": "CNY",
        "estimated_price": "12800000.00",
        "deposit_amount": "200000.00",
        "submission_deadline": deadline.isoformat(),
        "bid_validity_days": 90,
    }
    demo = ClientDemo(client, users, bearer, tmp_path)
    requirement = steps.register_requirement(demo, tender)
    assert requirement["deposit"]["amount"] == "200000.00"
    steps.import_rules_and_ratings(demo, tender)
    first = steps.waiver_and_guarantee(demo, tender)
    assert first["waiver"]["amount"]["amount"] == "100000.00"
    assert first["guarantee"]["undertaking_amount"]["amount"] == "100000.00"
    assert steps.cash_deposit(demo, tender)["coverage"]["state"] == "covered"
    third = steps.guarantee_insurance(demo, tender)
    assert third["state"] == "issued"
    h.move_deadline(tenders.requirement_for(made.id), utcnow() - dt.timedelta(minutes=5))
    session.commit()
    claimed = steps.claim(demo, tender)
    assert claimed["state"] == "paid"
    result = steps.releases(demo, tender)
    assert result["releases"] == 1 and len(result["refunded"]) == 1
    text = "\n".join(demo.lines)
    assert "genuine=True" in text and "refused a second claim" in text and "1 duplicate" in text
    assert any(p.suffix == ".pdf" for p in tmp_path.iterdir())
