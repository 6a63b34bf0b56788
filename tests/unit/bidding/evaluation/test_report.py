"""The evaluation report (bidding/evaluation/report.py): what it says, who signs it, and that an
independent validator (poppler's pdfsig) accepts it once every expert has signed."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bidding.evaluation import report as report_module
from core.errors import Refused
from core.models import Role
from signing import documents
from signing.models import LogEntry
from signing.pki import load_pki
from tests import factories
from tests.functional.award_helpers import evaluated, sign_all
from tests.pdftools import nss_database, pdfsig, tool


@pytest.fixture
def office(session):
    return factories.user(Role.TENDERING_OFFICE)


def _text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        [tool("pdftotext"), str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _entries(session, event: str) -> list[dict]:
    # in the log's order: PostgreSQL returns rows in no particular order without ORDER BY
    query = select(LogEntry.body).where(LogEntry.event == event).order_by(LogEntry.index)
    return [json.loads(b) for b in session.scalars(query)]


def test_the_report_shows_every_score_the_flags_and_the_ranking_and_every_expert_signs_it(
    app, session, office, tmp_path
):
    # Five experts; bid 0's technical scores 50, 52, 48, 51, 20: expert 5's 20 is 31.4 below the mean
    # 44.2, beyond 20 % of 60 (12): flagged, and justified. The trimmed mean drops 52 and 20:
    # (50 + 48 + 51) / 3 = 49.67.
    flag = SimpleNamespace(
        sheet=SimpleNamespace(number=5),
        sheet_id=None,
        bid_id=None,
        criterion_id=None,
        score=Decimal(20),
        mean=Decimal("44.20"),
        deviation_pct=Decimal("-52.33"),
        threshold=Decimal(20),
        state=SimpleNamespace(value="justified"),
        justification="施工组织设计缺少冬季施工措施",
        revised_to=None,
    )
    technical = {0: [50, 52, 48, 51, 20], 1: [55, 56, 54, 57, 55], 2: [40, 42, 41, 40, 39]}
    built = evaluated(office, experts=5, technical=technical, flags=[flag])
    flag.bid_id = built.bids[0].id
    flag.criterion_id = next(c.id for c in built.tender.criteria if c.category.value == "technical")
    report = built.report
    assert report.kind == "evaluation_report" and not report.public and report.organisation_id is None
    assert [r["field"] for r in report.reserved] == [f"expert{n}" for n in range(1, 6)]
    assert [r["user_id"] for r in report.reserved] == [u.id for u in built.experts]
    assert built.evaluation.criterion_scores.at[
        (built.bids[0].id, flag.criterion_id), "aggregate"
    ] == Decimal("49.67")

    issued = _entries(session, "evaluation.report_issued")[-1]
    assert issued["data"]["sha256"] == report.current.sha256
    assert issued["data"]["inputs_digest"] == built.evaluation.inputs_digest()
    assert issued["data"]["ranking"] == [int(b) for b in built.evaluation.ranking()]

    # Experts sign one by one; each version's hash is logged; a wrong password changes nothing.
    with pytest.raises(Refused, match="password confirmation failed"):
        documents.countersign(report, "expert1", user=built.experts[0], password="wrong")
    with pytest.raises(Refused, match="reserved for someone else"):
        documents.countersign(report, "expert1", user=built.experts[1], password=factories.PASSWORD)
    sign_all(report, built.experts)
    session.commit()
    assert documents.pending_fields(report) == []
    signed = [e for e in _entries(session, "document.signed") if e["subject"]["document"] == report.id]
    assert [e["data"]["sha256"] for e in signed] == [v.sha256 for v in report.versions[1:]]

    pdf = documents.read_version(report.current)
    text = _text(pdf, tmp_path)
    # every expert's score of every bid, the trimmed aggregate, the flag with its justification, the ranking
    for value in (
        "52.00",
        "20.00",
        "56.00",
        "39.00",
        "49.67",
        "去掉 52.00 与 20.00",
        "施工组织设计缺少冬季施工措施",
        "已说明理由",
        "第 1 名",
        "第 3 名",
        built.tender.reference,
        built.evaluation.inputs_digest()[:16],
        *(b.organisation.name for b in built.bids),
    ):
        assert "".join(value.split()) in "".join(text.split()), value  # cells wrap anywhere
    assert "专家甲" not in text  # experts appear by number; their names are only in their signatures

    nss_dir = tmp_path / "nss"
    nss_dir.mkdir()
    pki = load_pki(app.extensions["ebid.keys"])
    from cryptography.hazmat.primitives import serialization

    pems = [c.public_bytes(serialization.Encoding.PEM) for c in pki.trust_roots]
    blocks = pdfsig(pdf, nss_database(pems, nss_dir), tmp_path)
    assert len(blocks) == 6  # the platform's certification and five experts
    assert all("Signature is Valid." in b and "Certificate is Trusted." in b for b in blocks)
    newest = next(b for b in blocks if "Signature Field Name: expert5" in b)
    assert "Total document signed" in newest  # the last signature covers every byte


def test_a_report_needs_signers_and_room_for_their_signatures(session, office):
    built = evaluated(office, experts=1)
    with pytest.raises(ValueError, match="at least one expert"):
        report_module.issue_report(
            panel=built.panel, room=built.room, evaluation=built.evaluation, signers=[]
        )
    many = [(n, built.experts[0]) for n in range(1, 49)]
    with pytest.raises(ValueError, match="room for 47 expert signatures, not 48"):
        report_module.issue_report(
            panel=built.panel, room=built.room, evaluation=built.evaluation, signers=many
        )
