"""Demo data for the embedded default: organisations, one user per role, the expert pool and published
tenders.

Passwords are made at random on first seeding and kept in `instance/demo-logins.json`, so no
password is ever in the repository.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from app.demo_experts import seed_experts
from bidding import keys, services
from bidding.keyfile import make_opening_key
from core import credit_code
from core.accounts import create_user
from core.extensions import db
from core.models import Organisation, OrganisationKind, Role, User
from core.organisations import register
from core.orm import utcnow

#: (name, kind, first 16 characters of the credit code, region). Check digits are computed.
ORGANISATIONS = [
    ("福州市公共资源交易中心", OrganisationKind.TENDERING_OFFICE, "12350100MB000001", "350100"),
    ("福建闽江建设工程有限公司", OrganisationKind.BIDDER, "91350100MA000001", "350102"),
    ("福州榕城路桥集团有限公司", OrganisationKind.BIDDER, "91350100MA000002", "350104"),
    ("厦门海西市政工程有限公司", OrganisationKind.BIDDER, "91350200MA000003", "350203"),
    ("中国建设银行股份有限公司福州分行", OrganisationKind.ISSUER, "91350100MA000004", "350100"),
    ("福州市住房和城乡建设局", OrganisationKind.SUPERVISOR, "11350100MB000005", "350100"),
    ("电子招投标平台运营中心", OrganisationKind.OPERATOR, "91350100MA000006", "350100"),
    # The insurer's staff decide guarantee insurance on the issuer desk (config.GUARANTEE_ISSUERS links it).
    ("中国人民财产保险股份有限公司福州市分公司", OrganisationKind.ISSUER, "91350100MA000007", "350100"),
]

#: (username, display name, role, organisation index or None).
USERS = [
    ("office", "林招标", Role.TENDERING_OFFICE, 0),
    ("bidder1", "陈投标（闽江建设）", Role.BIDDER, 1),
    ("bidder2", "王投标（榕城路桥）", Role.BIDDER, 2),
    ("bidder3", "黄投标（海西市政）", Role.BIDDER, 3),
    ("bank", "张审核（建设银行）", Role.ISSUER, 4),
    ("insurer", "何核保（人保财险）", Role.ISSUER, 7),
    ("supervisor", "郑监督", Role.SUPERVISOR, 5),
    ("admin", "平台管理员", Role.ADMINISTRATOR, 6),
    ("expert1", "刘专家", Role.EXPERT, None),
    ("expert2", "吴专家", Role.EXPERT, None),
    ("expert3", "周专家", Role.EXPERT, None),
    ("expert4", "徐专家", Role.EXPERT, None),
    ("expert5", "孙专家", Role.EXPERT, None),
]


def _logins_path() -> Path:
    return Path(current_app.instance_path) / "demo-logins.json"


def demo_logins() -> list[dict[str, str]]:
    """The demo logins saved when the data was seeded."""
    path = _logins_path()
    return json.loads(path.read_text()) if path.exists() else []


def seed_if_empty(*, now: dt.datetime | None = None) -> bool:
    """Seed the demo data unless there are organisations already; returns whether it seeded."""
    if db.session.scalar(select(func.count()).select_from(Organisation)):
        return False
    now = now or utcnow()
    orgs = [register(name=name, kind=kind, credit_code=credit_code.make(code16), region=region)
            for name, kind, code16, region in ORGANISATIONS]
    logins = []
    for username, display, role, org_index in USERS:
        password = secrets.token_urlsafe(9)
        create_user(username=username, display_name=display, password=password, role=role,
                    organisation=orgs[org_index] if org_index is not None else None, locale="zh_CN")
        logins.append({"username": username, "password": password, "role": role.value, "name": display})
    # The expert pool: expert1 ... expert5 with their specialties and employers, so `make demo` can draw
    # a panel of five (app/demo_experts.py); it returns the logins of any accounts it makes.

    logins += seed_experts()
    _seed_tenders(now)
    path = _logins_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(logins, fh, ensure_ascii=False, indent=1)
    return True


def _seed_tenders(now: dt.datetime) -> None:
    office = db.session.scalar(select(User).where(User.username == "office"))
    period = current_app.config["MIN_BIDDING_PERIOD"] + dt.timedelta(days=5)
    samples = [
        ("闽江大道（三期）道路改造工程施工", "350102", "48600000.00", "900000.00"),
        ("福州市第二中学体育馆修缮工程", "350104", "3280000.00", "60000.00"),
        ("马尾区污水管网提升改造工程监理", "350105", "1650000.00", "30000.00"),
    ]
    for i, (title, region, estimate, deposit) in enumerate(samples):
        deadline = (now + period + dt.timedelta(days=i)).replace(hour=1, minute=30, second=0, microsecond=0)
        tender = services.create_tender(office, {
            "title": title, "description": f"{title}。资金来源：财政资金，已落实。", "region": region,
            "currency": "CNY", "estimated_price": estimate, "deposit_amount": deposit,
            "submission_deadline": deadline.isoformat(), "bid_validity_days": 90,
            "evaluation_method": "comprehensive_scoring",
            "criteria": [
                {"name": "投标报价", "category": "price", "weight": "40", "max_score": "40"},
                {"name": "施工组织设计", "category": "technical", "weight": "35", "max_score": "35"},
                {"name": "企业业绩与信誉", "category": "commercial", "weight": "25", "max_score": "25"},
            ],
        }, now=now)
        _custodians_make_opening_key(tender, office)
        services.publish(tender, actor=office, now=now)


def _custodians_make_opening_key(tender, office: User) -> None:
    """Play the custodians' ceremony for a sample tender: 3-of-5 shares kept under instance/demo/custodians.

    On a real tender this runs on a custodian's machine (`ebid opening-key`); only the public
    half and the share fingerprints reach the platform, as here.
    """
    import base64

    public, kid, shares = make_opening_key(tender.id, threshold=3, count=5)
    folder = Path(current_app.instance_path) / "demo" / "custodians" / tender.reference
    folder.mkdir(parents=True, exist_ok=True)
    for share in shares:
        (folder / f"share-{share.index}.json").write_text(json.dumps(share.to_json(), ensure_ascii=False))
    keys.register_opening_key(tender, office, {
        "public_key": base64.b64encode(public).decode(), "kid": kid, "threshold": 3, "count": 5,
        "fingerprints": [share.fingerprint for share in shares],
        "custodians": ["招标人", "监督人", "公证员", "备用一", "备用二"]})
