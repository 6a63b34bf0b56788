"""Demo data for the expert pool: pool records for the seeded expert accounts, each with its own employer.

`seed_experts()` runs after `app.seed` made the accounts (expert1 ... expert5). With exactly five eligible
experts, a draw of five seats without backups always seats all five, so the demo knows who to sign in as.
`extra` adds more experts (new accounts, their logins returned) for draws with backups.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from core import credit_code
from core.extensions import db
from core.models import Organisation, OrganisationKind, Role, User
from core.organisations import register

#: Employers of the demo experts: (name, first 16 characters of the credit code, region).
EMPLOYERS = [
    ("福建省建筑设计研究院有限公司", "91350000MA000101", "350102"),
    ("福州大学土木工程学院", "12350000MB000102", "350104"),
    ("福建省交通规划设计院有限公司", "91350000MA000103", "350103"),
    ("福建建工工程造价咨询有限公司", "91350100MA000104", "350105"),
    ("福建省水利水电勘测设计研究院", "12350000MB000105", "350102"),
    ("厦门市政工程设计院有限公司", "91350200MA000106", "350203"),
    ("福建华审会计师事务所", "91350100MA000107", "350102"),
    ("福建省城乡规划设计研究院", "12350000MB000108", "350100"),
]

#: Pool records of the seeded accounts: username -> (specialties, title, region).
EXPERTS = {
    "expert1": (["A01", "A02"], "教授级高级工程师", "350100"),
    "expert2": (["A02", "A03"], "高级工程师", "350100"),
    "expert3": (["A01", "C01"], "教授", "350100"),
    "expert4": (["A02", "D01"], "高级工程师（造价）", "350100"),
    "expert5": (["A01", "A04"], "高级工程师", "350200"),
}


def _employer(index: int) -> Organisation:
    name, code16, region = EMPLOYERS[index % len(EMPLOYERS)]
    code = credit_code.make(code16)
    found = db.session.scalar(select(Organisation).where(Organisation.credit_code == code))
    # These employers are companies and institutes the platform knows only as organisations; the
    # platform's kinds have no "employer", and "bidder" (a company that may bid) is the nearest.
    return found or register(name=name, kind=OrganisationKind.BIDDER, credit_code=code, region=region)


def seed_experts(*, actor: User | None = None, extra: int = 0) -> list[dict[str, Any]]:
    """Put the seeded expert accounts in the pool (once), plus `extra` new experts; returns the new logins."""
    from bidding.experts import pool
    from bidding.experts.models import Expert

    actor = actor or db.session.scalar(select(User).where(User.role == Role.ADMINISTRATOR).order_by(User.id))
    if actor is None:
        raise RuntimeError("seed the administrator first (app.seed)")
    for i, (username, (codes, title, region)) in enumerate(EXPERTS.items()):
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None or db.session.scalar(select(Expert.id).where(Expert.user_id == user.id)):
            continue
        pool.add_expert(actor, {"username": username, "region": region, "title": title, "specialties": codes,
                                "employer": _employer(i).credit_code}, source="demo")
    logins = []
    for n in range(extra):
        username = f"expert{len(EXPERTS) + n + 1}"
        if db.session.scalar(select(User.id).where(User.username == username)):
            continue
        password, name = secrets.token_urlsafe(9), f"备选专家{n + 1}"
        pool.add_expert(actor, {"username": username, "display_name": name, "password": password,
                                "region": "350100", "title": "高级工程师", "specialties": ["A01", "A02"],
                                "employer": _employer(len(EXPERTS) + n).credit_code}, source="demo")
        logins.append({"username": username, "password": password, "role": Role.EXPERT.value, "name": name})
    db.session.flush()
    return logins
