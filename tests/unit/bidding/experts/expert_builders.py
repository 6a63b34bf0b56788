"""Builders for the expert tests (unit and functional): a closed tender with bidders, and pool experts."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Any

from bidding.experts import pool
from bidding.experts.models import Expert
from bidding.models import Tender
from bidding.submissions import close
from bidding.submissions.models import Bid
from core.models import Organisation, OrganisationKind, Role, User
from core.orm import utcnow
from tests import factories

_seq = itertools.count(1)


def closed_tender(office: User, bidders: list[Organisation], *, now: dt.datetime | None = None,
                  **overrides: Any) -> Tender:
    """A published tender with one active bid per bidder organisation, closed (its checkpoint signed)."""
    now = now or utcnow()
    tender = factories.tender(office, publish=True, now=now - dt.timedelta(days=40), **overrides)
    for org in bidders:
        n = next(_seq)
        digest = hashlib.sha256(f"envelope {n} {tender.id}".encode()).hexdigest()
        bidder = factories.user(Role.BIDDER, organisation_=org)
        tender_bid = Bid(tender_id=tender.id, lot_number=1, organisation_id=org.id, user_id=bidder.id,
                         envelope_sha256=digest, envelope_hash=digest, commitment=digest, size=100,
                         opening_kid="0" * 64, bidder_x25519_kid=digest, bidder_ed25519_kid=digest,
                         submitted_at=now - dt.timedelta(days=1), log_index=0)
        from core.extensions import db

        db.session.add(tender_bid)
    close.close_tender(tender, now)
    return tender


def admin() -> User:
    return factories.user(Role.ADMINISTRATOR)


def employer(name: str | None = None) -> Organisation:
    return factories.organisation(OrganisationKind.BIDDER, name=name)


def expert(actor: User, *, specialties: list[str] | None = None, employer_: Organisation | None = None,
           region: str = "350100", **extra: Any) -> Expert:
    n = next(_seq)
    data = {"username": f"expert{n}x", "display_name": f"专家{n}", "password": factories.PASSWORD,
            "region": region, "specialties": specialties or ["A01"],
            "employer": employer_.credit_code if employer_ else None, **extra}
    return pool.add_expert(actor, data)


def pool_of(actor: User, n: int, **kw: Any) -> list[Expert]:
    """n experts, each with their own employer."""
    return [expert(actor, employer_=employer(), **kw) for _ in range(n)]
