"""Builders for test data through the same services the application uses."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from app import credit_code
from app.auth.services import create_user
from app.models import Organisation, OrganisationKind, Role, User
from app.organisations import register
from app.orm import utcnow
from bidding import services
from bidding.models import Tender

PASSWORD = "correct horse battery"
_seq = itertools.count(1)

_KIND_FOR_ROLE = {
    Role.TENDERING_OFFICE: OrganisationKind.TENDERING_OFFICE, Role.BIDDER: OrganisationKind.BIDDER,
    Role.ISSUER: OrganisationKind.ISSUER, Role.SUPERVISOR: OrganisationKind.SUPERVISOR,
    Role.ADMINISTRATOR: OrganisationKind.OPERATOR,
}


def organisation(kind: OrganisationKind = OrganisationKind.BIDDER, *, name: str | None = None,
                 region: str = "350100") -> Organisation:
    n = next(_seq)
    code = credit_code.make(f"913501{n:010d}")
    return register(name=name or f"测试单位{n}", kind=kind, credit_code=code, region=region)


def user(role: Role = Role.BIDDER, *, organisation_: Organisation | None = None, username: str | None = None,
         password: str = PASSWORD) -> User:
    if organisation_ is None and role != Role.EXPERT:
        organisation_ = organisation(_KIND_FOR_ROLE[role])
    return create_user(username=username or f"{role.value.replace('_', '')}{next(_seq)}",
                       display_name=f"{role.value} user", password=password, role=role,
                       organisation=organisation_)


def tender_data(now: dt.datetime | None = None, **overrides: Any) -> dict[str, Any]:
    now = now or utcnow()
    data = {
        "title": "闽江路改造工程", "description": "道路改造", "region": "350102", "currency": "CNY",
        "estimated_price": "1000000.00", "deposit_amount": "20000.00",
        "submission_deadline": (now + dt.timedelta(days=30)).isoformat(), "bid_validity_days": 90,
        "evaluation_method": "comprehensive_scoring",
        "criteria": [
            {"name": "价格", "category": "price", "weight": "40", "max_score": "40"},
            {"name": "技术", "category": "technical", "weight": "60", "max_score": "60"},
        ],
    }
    data.update(overrides)
    return data


def tender(office: User, *, publish: bool = False, now: dt.datetime | None = None, **overrides: Any) -> Tender:
    made = services.create_tender(office, tender_data(now, **overrides), now=now)
    if publish:
        services.publish(made, now=now)
    return made
