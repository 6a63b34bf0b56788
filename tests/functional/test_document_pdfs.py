"""Every kind of PDF the platform makes embeds all its fonts, has a glyph for every character it shows,
shows every time in the one format (Beijing time, named), and its signatures validate (issue 15).

The kinds: the tender notice, a bid's submission receipt, the opening record, the evaluation report
(signed by its experts), the candidates notice, the award and result notices and the result
announcement, a bank's guarantee letter, and the monthly cash-release report. Each is made by its own
builder, as the platform makes it; pdffonts, pdftotext and pdfsig (poppler) read them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from bidding import notices
from bidding.evaluation import award_api, award_services
from bidding.opening import record
from bidding.opening.deposits import DepositStatus
from bidding.opening.models import Opening, OpeningState
from bidding.submissions import receipts
from core.extensions import db
from core.models import Role
from guarantees import cash_release_report, services
from guarantees.cash_release import Period
from guarantees.models import IssuerRequest
from signing import documents, fonts
from signing.models import SignedDocument
from signing.pdf import inspect_pdf
from signing.pki import load_pki
from tests import factories
from tests.functional.award_helpers import evaluated, sign_all
from tests.pdftools import nss_database, pdfsig, tool
from tests.unit.guarantees import deposit_helpers

#: The one format: date, time to the second, the zone named.
ONE_FORMAT = re.compile(r"\d{4}-\d\d-\d\d ?\d\d:\d\d:\d\d ?(北京时间|Beijing time)")
#: Anything that reads as a time of day after a date.
A_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]?\d\d:\d\d")
#: The formats documents used before: UTC, the zone's IANA name, an ISO string, milliseconds.
OTHER_FORMATS = re.compile(r"\d\d:\d\d(:\d\d)?(\.\d+)? ?(UTC|GMT)|Asia/Shanghai|\d{4}-\d\d-\d\dT\d\d:\d\d|"
                           r"\d\d:\d\d:\d\d\.\d{3}")


def fonts_of(pdf: bytes, tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([tool("pdffonts"), str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines()[2:]]


def text_of(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "text.pdf"
    path.write_bytes(pdf)
    return subprocess.run([tool("pdftotext"), str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def check_document(name: str, pdf: bytes, tmp_path: Path) -> None:
    """Fonts embedded, no missing glyph, times in the one format."""
    rows = fonts_of(pdf, tmp_path)
    assert rows, f"{name}: no fonts"
    # columns from the right: emb sub uni object-id generation
    assert all(row[-5] == "yes" for row in rows), f"{name}: a font is not embedded: {rows}"
    text = text_of(pdf, tmp_path)
    assert fonts.regular().missing(text) == set(), f"{name}: characters without a glyph"
    # reportlab breaks lines anywhere in Chinese text, even inside a time: read the text unbroken
    flat = re.sub(r"\s*\n\s*", "", text)
    assert not OTHER_FORMATS.search(flat), f"{name}: a time in another format: {OTHER_FORMATS.search(flat)}"
    for found in A_TIME.finditer(flat):
        assert ONE_FORMAT.match(flat, found.start()), f"{name}: {flat[found.start():found.start() + 40]!r}"
    assert ONE_FORMAT.search(flat), f"{name}: no time at all (the seal shows its signing time)"


def check_signatures(name: str, pdf: bytes, ca_pem: bytes, tmp_path: Path) -> None:
    """pdfsig finds every signature made valid and trusted under the signer's CA."""
    nss_dir = tmp_path / f"nss-{hashlib.sha256(ca_pem).hexdigest()[:12]}"
    if nss_dir.exists():
        nss = f"sql:{nss_dir}"
    else:
        nss_dir.mkdir()
        nss = nss_database([ca_pem], nss_dir)
    # fields reserved for people who have not signed yet (the opening's host) are listed too
    blocks = [b for b in pdfsig(pdf, nss, tmp_path) if "is not signed" not in b]
    assert blocks, name
    assert all("Signature is Valid." in b and "Certificate is Trusted." in b for b in blocks), (name, blocks)


@pytest.fixture
def office(session):
    made = factories.user(Role.TENDERING_OFFICE)
    session.commit()
    return made


@pytest.fixture
def clock(monkeypatch):
    def set_clock(moment: dt.datetime) -> None:
        monkeypatch.setattr(award_services, "utcnow", lambda: moment)
        monkeypatch.setattr(award_api, "utcnow", lambda: moment)

    return set_clock


def test_every_kind_of_document_embeds_its_fonts_and_shows_one_time_format(
        app, client, session, bearer, office, clock, tmp_path):
    from cryptography.hazmat.primitives.serialization import Encoding

    made: dict[str, bytes] = {}

    def current(document: SignedDocument) -> bytes:
        return documents.read_version(document.current)

    built = evaluated(office, experts=3)
    sign_all(built.report, built.experts)
    session.commit()
    tender = built.tender
    made["evaluation report"] = current(built.report)
    made["tender notice"] = current(notices.issue_notice(tender, office))
    receipt = receipts.issue(receipts.submission_content(built.bids[0]))
    made["receipt"] = current(session.get(SignedDocument, receipt))
    now = dt.datetime.now(dt.UTC)
    opening = Opening(tender_id=tender.id, host_id=office.id, started_at=tender.opening_time,
                      window_ends_at=tender.opening_time + dt.timedelta(minutes=30),
                      state=OpeningState.CONCLUDED,
                      concluded_at=tender.opening_time + dt.timedelta(minutes=31))
    db.session.add(opening)
    db.session.flush()
    covered = {bid.id: DepositStatus("covered", "") for bid in built.bids}
    made["opening record"] = current(record.issue_record(opening, covered))
    session.commit()

    # the candidates' publicity, its end, the award: the notices and the announcement
    clock(now)
    publicised = client.post(f"/api/tenders/{tender.id}/publicity", headers=bearer(office))
    assert publicised.status_code == 201, publicised.get_data(as_text=True)
    snap = publicised.get_json()
    made["candidates notice"] = current(session.get(SignedDocument, snap["publicity"]["notice_document"]))
    clock(dt.datetime.fromisoformat(snap["publicity"]["ends_at"]))
    awarded = client.post(f"/api/tenders/{tender.id}/award", json={"password": factories.PASSWORD},
                          headers=bearer(office))
    assert awarded.status_code == 201, awarded.get_data(as_text=True)
    for notice in awarded.get_json()["notices"]:
        made[f"{notice['kind']} notice"] = current(session.get(SignedDocument, notice["document"]))
    session.expire_all()
    announcement = session.scalar(select(SignedDocument).where(SignedDocument.kind == "result_announcement"))
    if announcement is not None:
        made["result announcement"] = current(announcement)

    made["cash-release report"] = current(cash_release_report.issue_monthly(
        now.strftime("%Y-%m"), Period(), office=None, actor=office))
    session.commit()

    platform_ca = load_pki(app.extensions["ebid.keys"]).ca.certificate
    for name, pdf in made.items():
        check_document(name, pdf, tmp_path)
        check_signatures(name, pdf, platform_ca.public_bytes(Encoding.PEM), tmp_path)
        assert all(r.ok for r in inspect_pdf(pdf, [platform_ca])), name
    assert {"award notice", "result notice", "candidates notice", "opening record"} <= made.keys()

    # a bank's guarantee letter, sealed by the bank (its own CA)
    requirement = deposit_helpers.requirement(office_user=deposit_helpers.office())
    bidder = deposit_helpers.bidder()
    guarantee = services.apply(requirement, bidder.organisation, actor=bidder, issuer_code="sandbox-bank",
                               amount=None, expiry_date=None)
    db.session.flush()
    (request,) = db.session.scalars(select(IssuerRequest).where(IssuerRequest.guarantee_id == guarantee.id))
    services.send(request)
    db.session.flush()
    letter = services.letter_bytes(guarantee)
    bank = app.extensions["ebid.issuers"]["sandbox-bank"].adapter
    check_document("guarantee letter", letter, tmp_path)
    check_signatures("guarantee letter", letter, bank.seal.trust_root.public_bytes(Encoding.PEM), tmp_path)
