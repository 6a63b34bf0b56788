"""Builders for test data through the same services the application uses."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import os
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bidding import keys, services
from bidding.models import Tender
from core import credit_code
from core.accounts import create_user
from core.models import Organisation, OrganisationKind, Role, User
from core.organisations import register
from core.orm import utcnow

PASSWORD = "correct horse battery"
_seq = itertools.count(1)

_KIND_FOR_ROLE = {
    Role.TENDERING_OFFICE: OrganisationKind.TENDERING_OFFICE,
    Role.BIDDER: OrganisationKind.BIDDER,
    Role.ISSUER: OrganisationKind.ISSUER,
    Role.SUPERVISOR: OrganisationKind.SUPERVISOR,
    Role.ADMINISTRATOR: OrganisationKind.OPERATOR,
}


def organisation(
    kind: OrganisationKind = OrganisationKind.BIDDER, *, name: str | None = None, region: str = "350100"
) -> Organisation:
    n = next(_seq)
    code = credit_code.make(f"913501{n:010d}")
    return register(name=name or f"测试单位{n}", kind=kind, credit_code=code, region=region)


def user(
    role: Role = Role.BIDDER,
    *,
    organisation_: Organisation | None = None,
    username: str | None = None,
    password: str = PASSWORD,
) -> User:
    if organisation_ is None and role != Role.EXPERT:
        organisation_ = organisation(_KIND_FOR_ROLE[role])
    return create_user(
        username=username or f"{role.value.replace('_', '')}{next(_seq)}",
        display_name=f"{role.value} user",
        password=password,
        role=role,
        organisation=organisation_,
    )


def tender_data(now: dt.datetime | None = None, **overrides: Any) -> dict[str, Any]:
    now = now or utcnow()
    data = {
        "title": "闽江路改造工程",
        "description": "道路改造",
        "region": "350102",
        "currency": "CNY",
        "estimated_price": "1000000.00",
        "deposit_amount": "20000.00",
        "submission_deadline": (now + dt.timedelta(days=30)).isoformat(),
        "bid_validity_days": 90,
        "evaluation_method": "comprehensive_scoring",
        "criteria": [
            {"name": "价格", "category": "price", "weight": "40", "max_score": "40"},
            {"name": "技术", "category": "technical", "weight": "60", "max_score": "60"},
        ],
    }
    data.update(overrides)
    return data


#: Private opening keys of the tenders the factories made, by tender id (the custodians' side).
OPENING_PRIVATE: dict[int, X25519PrivateKey] = {}


def opening_key(tender_: Tender, *, threshold: int = 2, count: int = 3) -> X25519PrivateKey:
    """Register a draft tender's opening key as `ebid opening-key` would; returns its private half."""
    private = X25519PrivateKey.generate()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    keys.register_opening_key(
        tender_,
        tender_.created_by,
        {
            "public_key": base64.b64encode(raw).decode(),
            "kid": keys.kid_of(raw),
            "threshold": threshold,
            "count": count,
            "fingerprints": [hashlib.sha256(os.urandom(16)).hexdigest() for _ in range(count)],
        },
    )
    OPENING_PRIVATE[tender_.id] = private
    return private


def bidder_keys(bidder: User) -> tuple[X25519PrivateKey, Ed25519PrivateKey]:
    """Register a fresh key pair for the bidder's company; returns the private halves."""
    x_private, e_private = X25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    keys.register_bidder_keys(
        bidder,
        {
            "x25519_public": base64.b64encode(
                x_private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            ).decode(),
            "ed25519_public": base64.b64encode(
                e_private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            ).decode(),
        },
    )
    return x_private, e_private


def tender(
    office: User, *, publish: bool = False, now: dt.datetime | None = None, **overrides: Any
) -> Tender:
    made = services.create_tender(office, tender_data(now, **overrides), now=now)
    if publish:
        opening_key(made)
        services.publish(made, actor=office, now=now)
    return made
