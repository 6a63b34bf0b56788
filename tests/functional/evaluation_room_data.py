"""A tender under evaluation with a constituted panel, made straight in the database: the evaluation room's
tests (functional and e2e) and its benchmark start from it. The draw and the opening are tested on
their own; here the panel's members have all accepted and the bids are opened and announced."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from typing import Any

PASSWORD = "room-test-password"  # noqa: S105 - throw-away accounts in a throw-away database


def seed_room(
    *,
    experts: int | list[str] = 5,
    bids: int = 2,
    office: str | None = None,
    bidders: list[str] | None = None,
    anonymous: bool = True,
    password: str = PASSWORD,
    title: str = "评标室测试项目",
) -> dict[str, Any]:
    """A published tender put under evaluation, `bids` opened bids and a constituted panel whose members
    all accepted; inside an application context, committed. Experts and bidder users named in
    `experts`/`bidders` are used as they are (given Expert rows if they have none); otherwise made."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from sqlalchemy import select

    from bidding import keys
    from bidding import services as tender_services
    from bidding.evaluation import rules
    from bidding.experts.models import Draw, Expert, MemberStatus, Panel, PanelMember, PanelState
    from bidding.lifecycle import TenderState
    from bidding.opening.models import BidOpening, BidOpeningState, KeySource
    from bidding.submissions.models import Bid
    from core import credit_code
    from core.accounts import create_user
    from core.extensions import db
    from core.models import Organisation, OrganisationKind, Role, User
    from core.organisations import register
    from core.orm import utcnow

    now = utcnow()
    tag = secrets.token_hex(3)

    def org(kind: OrganisationKind, name: str) -> Organisation:
        body = f"9135{secrets.randbelow(10**12):012d}"
        return register(name=name, kind=kind, credit_code=credit_code.make(body), region="350100")

    def user(username: str, role: Role, organisation: Organisation | None) -> User:
        found = db.session.scalar(select(User).where(User.username == username))
        if found is not None:
            return found
        return create_user(
            username=username,
            display_name=username,
            password=password,
            role=role,
            organisation=organisation,
            locale="zh_CN",
        )

    office_user = (
        user(office, Role.TENDERING_OFFICE, None)
        if office
        else user(
            f"office-{tag}",
            Role.TENDERING_OFFICE,
            org(OrganisationKind.TENDERING_OFFICE, f"评标测试招标代理{tag}"),
        )
    )
    names = experts if isinstance(experts, list) else [f"expert-{tag}-{i + 1}" for i in range(experts)]
    expert_users = [user(name, Role.EXPERT, None) for name in names]
    bidder_users = (
        [user(name, Role.BIDDER, None) for name in bidders]
        if bidders
        else [
            user(f"bidder-{tag}-{i + 1}", Role.BIDDER, org(OrganisationKind.BIDDER, f"投标公司{tag}-{i + 1}"))
            for i in range(bids)
        ]
    )[:bids]
    deadline = now + dt.timedelta(days=40)
    tender = tender_services.create_tender(
        office_user,
        {
            "title": title,
            "description": "评标室测试",
            "region": "350102",
            "currency": "CNY",
            "estimated_price": "1000000.00",
            "deposit_amount": "20000.00",
            "submission_deadline": deadline.isoformat(),
            "bid_validity_days": 90,
            "evaluation_method": "comprehensive_scoring",
            "criteria": [
                {"name": "投标报价", "category": "price", "weight": "30", "max_score": "30"},
                {"name": "企业业绩与信誉", "category": "commercial", "weight": "20", "max_score": "20"},
                {"name": "施工组织设计", "category": "technical", "weight": "30", "max_score": "30"},
                {"name": "质量与安全措施", "category": "technical", "weight": "20", "max_score": "20"},
            ],
        },
        now=now,
    )
    rules.set_rules(tender, {"anonymise_technical": anonymous}, actor=office_user)
    raw = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    keys.register_opening_key(
        tender,
        office_user,
        {
            "public_key": base64.b64encode(raw).decode(),
            "kid": keys.kid_of(raw),
            "threshold": 2,
            "count": 3,
            "fingerprints": [secrets.token_hex(32) for _ in range(3)],
        },
    )
    tender_services.publish(tender, actor=office_user, now=now)
    tender.state = TenderState.EVALUATING  # as the opening's conclusion leaves it
    bid_ids = []
    for i, bidder in enumerate(bidder_users):
        bid = Bid(
            tender_id=tender.id,
            lot_number=1,
            organisation_id=bidder.organisation_id,
            user_id=bidder.id,
            envelope_sha256=secrets.token_hex(32),
            envelope_hash=secrets.token_hex(32),
            commitment=secrets.token_hex(32),
            size=1024,
            opening_kid=keys.kid_of(raw),
            bidder_x25519_kid=secrets.token_hex(32),
            bidder_ed25519_kid=secrets.token_hex(32),
            submitted_at=now - dt.timedelta(minutes=60 - i),
            log_index=0,
        )
        db.session.add(bid)
        db.session.flush()
        db.session.add(
            BidOpening(
                tender_id=tender.id,
                bid_id=bid.id,
                state=BidOpeningState.OPENED,
                key_source=KeySource.BIDDER,
                price_amount=f"{950000 - 20000 * i}.00",
                price_currency="CNY",
                duration_days=300 + 10 * i,
                terms={
                    "企业业绩与信誉": f"近三年类似工程业绩 {3 + i} 项",
                    "施工组织设计": f"施工组织设计方案 {i + 1}：分三段流水施工",
                    "质量与安全措施": f"质量安全体系 {i + 1}",
                },
                opened_at=now,
                outcome="opened and verified",
            )
        )
        bid_ids.append(bid.id)
    panel = Panel(
        tender_id=tender.id,
        lot_number=1,
        state=PanelState.CONSTITUTED,
        seats=len(expert_users),
        evaluation_date=now.date(),
        created_by_id=office_user.id,
        constituted_at=now,
    )
    db.session.add(panel)
    db.session.flush()
    draw = Draw(
        panel_id=panel.id,
        number=1,
        requested_by_id=office_user.id,
        requested_at=now,
        slots=[{"specialties": ["A01"], "count": len(expert_users), "backups": 0}],
        recent_days=0,
        seed=secrets.token_hex(32),
        employer_salt=os.urandom(32),
        record={},
        log_index=0,
    )
    db.session.add(draw)
    db.session.flush()
    for position, expert_user in enumerate(expert_users, start=1):
        expert = db.session.scalar(select(Expert).where(Expert.user_id == expert_user.id))
        if expert is None:
            expert = Expert(user_id=expert_user.id, region="350100", secret=os.urandom(32))
            db.session.add(expert)
            db.session.flush()
        db.session.add(
            PanelMember(
                panel_id=panel.id,
                draw_id=draw.id,
                expert_id=expert.id,
                slot=0,
                position=position,
                status=MemberStatus.ACCEPTED,
                pseudonym=hashlib.sha256(os.urandom(16)).hexdigest(),
                drawn_at=now,
                accepted_at=now,
            )
        )
    db.session.commit()
    return {
        "panel": panel.id,
        "tender": tender.id,
        "bids": bid_ids,
        "experts": [u.username for u in expert_users],
        "office": office_user.username,
        "bidders": [u.username for u in bidder_users],
        "criteria": {c.name: c.id for c in tender.criteria},
    }
