"""Issue 3's promises, end to end through HTTP: independent validators accept what the platform signs,
and ebid detects a changed PDF, a changed log row and a changed export line."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import jwt as pyjwt
import pytest
from sqlalchemy import text

from bidding.models import Tender
from core.extensions import db
from core.models import Role
from signing import client as ebid
from signing.pdf import inspect_pdf
from signing.timestamps import build_request, token_from_response, verify_timestamp_token
from tests import factories
from tests.pdftools import nss_database, pdfsig, split_pem_bundle


@pytest.fixture
def office(session):
    return factories.user(Role.TENDERING_OFFICE)


@pytest.fixture
def published(client, office, bearer) -> dict:
    """A tender published through the API, with its receipt."""
    headers = bearer(office)
    made = client.post("/api/tenders", json=factories.tender_data(), headers=headers)
    assert made.status_code == 201, made.get_json()
    factories.opening_key(db.session.get(Tender, made.get_json()["id"]))
    db.session.commit()
    response = client.post(f"/api/tenders/{made.get_json()['id']}/publish", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def ca_bundle(client) -> bytes:
    response = client.get("/pki/ca.pem")
    assert response.status_code == 200
    assert response.data.startswith(b"-----BEGIN CERTIFICATE-----")
    return response.data


@pytest.fixture
def files(tmp_path: Path, client, ca_bundle) -> Path:
    """What an auditor downloads: the CA, the JWKS and the log key."""
    (tmp_path / "ca.pem").write_bytes(ca_bundle)
    (tmp_path / "jwks.json").write_text(client.get("/.well-known/jwks.json").get_data(as_text=True))
    (tmp_path / "log-key.json").write_text(client.get("/api/log/key").get_data(as_text=True))
    return tmp_path


def _notice(client, published) -> bytes:
    response = client.get(published["links"]["notice_pdf"])
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    return response.data


def test_publication_logs_the_event_and_its_sealed_notice(client, published) -> None:
    notice = _notice(client, published)
    document_id = int(published["links"]["notice_pdf"].split("/")[2])
    bodies = [
        json.loads(line) for line in client.get("/api/log/export").get_data(as_text=True).splitlines()[1:]
    ]
    issued, publication = bodies[-2], bodies[-1]
    assert (issued["event"], issued["subject"]) == (
        "document.issued",
        {"document": document_id, "tender": published["id"]},
    )
    assert issued["data"]["sha256"] == hashlib.sha256(notice).hexdigest()
    assert (publication["event"], publication["subject"]) == ("tender.published", {"tender": published["id"]})
    assert publication["data"]["notice_sha256"] == hashlib.sha256(notice).hexdigest()
    assert publication["actor"]["role"] == "tendering_office"
    checkpoint = client.get("/api/log/checkpoint").get_data(as_text=True)
    assert int(checkpoint.splitlines()[1]) >= publication["index"] + 1


def test_pdfsig_and_pyhanko_accept_the_notice(client, published, ca_bundle, tmp_path) -> None:
    notice = _notice(client, published)
    nss_dir = tmp_path / "nss"
    nss_dir.mkdir()
    [block] = pdfsig(notice, nss_database(split_pem_bundle(ca_bundle), nss_dir), tmp_path)
    assert "Signature is Valid." in block
    assert "Certificate is Trusted." in block
    assert "Total document signed" in block
    from cryptography import x509

    roots = [x509.load_pem_x509_certificate(pem) for pem in split_pem_bundle(ca_bundle)]
    [report] = inspect_pdf(notice, roots)
    assert report.intact and report.trusted and report.valid and report.timestamp_valid
    assert report.certification


def test_pdfsig_does_not_trust_the_notice_without_our_ca(client, published, tmp_path) -> None:
    notice = _notice(client, published)
    nss_dir = tmp_path / "empty-nss"
    nss_dir.mkdir()
    [block] = pdfsig(notice, nss_database([], nss_dir), tmp_path)
    assert "Signature is Valid." in block
    assert "Certificate is Trusted." not in block


def test_pyjwt_verifies_the_receipt_with_the_published_jwks(client, published) -> None:
    jwks = client.get("/.well-known/jwks.json").get_json()
    token = published["receipt"]
    kid = pyjwt.get_unverified_header(token)["kid"]
    [jwk] = [k for k in jwks["keys"] if k["kid"] == kid]
    key = pyjwt.PyJWK(jwk).key
    claims = pyjwt.decode(token, key, algorithms=["ES256"], options={"verify_aud": False})
    assert claims["kind"] == "tender.published"
    assert claims["subject"] == {"tender": published["id"]}
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(
            token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB"),
            key,
            algorithms=["ES256"],
            options={"verify_aud": False},
        )


def test_ebid_verifies_the_receipt_pdf_and_log(client, published, files, capsys) -> None:
    (files / "receipt.jws").write_text(published["receipt"])
    (files / "notice.pdf").write_bytes(_notice(client, published))
    (files / "export.jsonl").write_text(client.get("/api/log/export").get_data(as_text=True))
    assert (
        ebid.main(
            [
                "verify-receipt",
                str(files / "receipt.jws"),
                "--jwks",
                str(files / "jwks.json"),
                "--log-key",
                str(files / "log-key.json"),
            ]
        )
        == 0
    )
    assert ebid.main(["verify-pdf", str(files / "notice.pdf"), "--ca", str(files / "ca.pem")]) == 0
    assert (
        ebid.main(["verify-log", str(files / "export.jsonl"), "--log-key", str(files / "log-key.json")]) == 0
    )
    assert capsys.readouterr().out.count("OK:") == 3


def test_ebid_detects_one_changed_byte_in_the_notice(client, published, files, capsys) -> None:
    notice = bytearray(_notice(client, published))
    # Change a byte inside the signed content (in the page stream, well before the signature).
    position = notice.index(b"stream") + 40
    notice[position] ^= 0x01
    (files / "notice.pdf").write_bytes(bytes(notice))
    assert ebid.main(["verify-pdf", str(files / "notice.pdf"), "--ca", str(files / "ca.pem")]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_ebid_detects_one_changed_entry_in_an_export(client, published, files, capsys) -> None:
    lines = client.get("/api/log/export").get_data(as_text=True).splitlines()
    entry = json.loads(lines[-1])
    entry["data"]["title"] = entry["data"]["title"] + "（改）"
    from signing.canonical import canonical_json

    lines[-1] = canonical_json(entry).decode()
    (files / "export.jsonl").write_text("\n".join(lines) + "\n")
    assert (
        ebid.main(["verify-log", str(files / "export.jsonl"), "--log-key", str(files / "log-key.json")]) == 1
    )
    out = capsys.readouterr().out
    assert "FAILED" in out


def test_ebid_detects_a_log_row_changed_in_the_database(client, published, files, session, capsys) -> None:
    (files / "before.txt").write_text(client.get("/api/log/checkpoint").get_data(as_text=True))
    with session.begin_nested():
        if db.engine.dialect.name == "postgresql":
            session.execute(text("ALTER TABLE log_entries DISABLE TRIGGER USER"))
        else:
            session.execute(text("DROP TRIGGER IF EXISTS log_entries_no_update"))
            names = (
                session.execute(
                    text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='log_entries'")
                )
                .scalars()
                .all()
            )
            for name in names:
                session.execute(text(f'DROP TRIGGER "{name}"'))
        last = session.execute(
            text('SELECT "index", body FROM log_entries ORDER BY "index" DESC LIMIT 1')
        ).one()
        forged = last.body.replace(str(published["id"]), str(published["id"] + 1000), 1)
        assert forged != last.body
        session.execute(
            text('UPDATE log_entries SET body = :b WHERE "index" = :i'), {"b": forged, "i": last.index}
        )
        # The export now carries the forged row; the signed checkpoint from before does not match it.
        export = "\n".join(client.get("/api/log/export").get_data(as_text=True).splitlines()) + "\n"
        (files / "export.jsonl").write_text(export)
        code = ebid.main(
            [
                "verify-log",
                str(files / "export.jsonl"),
                "--log-key",
                str(files / "log-key.json"),
                "--previous",
                str(files / "before.txt"),
            ]
        )
        session.rollback()
    assert code == 1
    assert "FAILED" in capsys.readouterr().out


def test_the_platforms_tsa_answers_rfc3161(client, ca_bundle) -> None:
    from cryptography import x509

    digest = hashlib.sha256(b"bid opening record").digest()
    response = client.post("/tsa", data=build_request(digest), content_type="application/timestamp-query")
    assert response.status_code == 200 and response.mimetype == "application/timestamp-reply"
    roots = [x509.load_pem_x509_certificate(pem) for pem in split_pem_bundle(ca_bundle)]
    when = verify_timestamp_token(token_from_response(response.data), digest, roots)
    assert when.tzinfo is not None
    assert client.post("/tsa", data=b"x", content_type="text/plain").status_code == 415


def test_a_person_countersigns_only_their_own_field_after_confirming_the_password(
    client, new_client, session, login, ca_bundle, tmp_path
) -> None:
    from signing import documents

    supervisor = factories.user(Role.SUPERVISOR)
    other = factories.user(Role.SUPERVISOR)
    doc = documents.issue(
        "test_record",
        title="开标记录（测试）",
        paragraphs=["测试"],
        subject={"test": 1},
        actor=None,
        public=False,
        reserve=[documents.Reserved("supervisor", "郑监督", supervisor.id)],
    )
    session.commit()
    login(client, other)
    refused = client.post(
        f"/documents/{doc.id}/sign", data={"field": "supervisor", "password": factories.PASSWORD}
    )
    assert refused.status_code == 302
    assert len(db.session.get(type(doc), doc.id).versions) == 1

    mine = new_client()
    login(mine, supervisor)
    wrong = mine.post(
        f"/documents/{doc.id}/sign",
        data={"field": "supervisor", "password": "not my password"},
        follow_redirects=True,
    )
    assert "password confirmation failed" in wrong.get_data(as_text=True)
    right = mine.post(
        f"/documents/{doc.id}/sign",
        data={"field": "supervisor", "password": factories.PASSWORD},
        follow_redirects=True,
    )
    assert right.status_code == 200
    pdf = mine.get(f"/documents/{doc.id}/pdf").data
    nss_dir = tmp_path / "nss"
    nss_dir.mkdir()
    blocks = pdfsig(pdf, nss_database(split_pem_bundle(ca_bundle), nss_dir), tmp_path)
    assert len(blocks) == 2
    assert all("Signature is Valid." in b and "Certificate is Trusted." in b for b in blocks)
    assert (
        mine.post(
            f"/documents/{doc.id}/sign",
            data={"field": "supervisor", "password": factories.PASSWORD},
            follow_redirects=True,
        )
        .get_data(as_text=True)
        .count("already signed")
        == 1
    )


def test_the_verification_page_names_signer_and_log_entry(client, published) -> None:
    notice = _notice(client, published)
    page = client.post(
        "/verify", data={"pdf": (io.BytesIO(notice), "notice.pdf")}, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert 'id="in-log"' in page
    assert "e-Bidding Platform Document Seal" in page
    tampered = notice + b"\n% appended\n"
    page = client.post(
        "/verify", data={"pdf": (io.BytesIO(tampered), "notice.pdf")}, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert 'id="not-in-log"' in page
    good = client.post("/verify", data={"receipt": published["receipt"]}).get_data(as_text=True)
    assert "receipt-result" in good and "flash success" in good
    forged = published["receipt"][:-8] + ("A" * 8 if not published["receipt"].endswith("A" * 8) else "B" * 8)
    bad = client.post("/verify", data={"receipt": forged}).get_data(as_text=True)
    assert "flash error" in bad.split('id="receipt-result"')[1]
