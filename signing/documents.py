"""Documents people read: rendered, sealed by the platform as PAdES, countersigned by people, logged.

The platform's seal certifies a document when it is issued and reserves a signature field for
each person who must sign it later (pyHanko refuses fields added after a certification). A
person signs only their own reserved field and only after confirming their password afresh.
Every version's SHA-256 goes into the audit log, so anyone can ask whether a PDF is one the
platform issued.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import current_app
from sqlalchemy import select

from core.errors import Refused
from core.extensions import db
from core.models import User
from core.orm import utcnow
from core.passwords import verify_password
from signing import audit
from signing.ca import load_private_pem, private_bytes_pem
from signing.keys import KeyStore
from signing.models import DocumentVersion, SignedDocument, UserSigningKey
from signing.pdf import render_document, sign_pdf
from signing.pki import Pki, issued_by, load_pki
from signing.timestamps import timestamper_from_config

PLATFORM_FIELD = "platform"


@dataclass(frozen=True)
class Reserved:
    """A signature field kept for one person: who may sign it and the label on its seal."""

    field: str
    label: str
    user_id: int


def _store() -> KeyStore:
    return current_app.extensions["ebid.keys"]


def _blobs():
    return current_app.extensions["ebid.blobs"]


def _pki() -> Pki:
    return load_pki(_store())


def _timestamper(pki: Pki):
    return timestamper_from_config(current_app.config, local=pki.timestamper())


def platform_name() -> str:
    return current_app.config.get("PLATFORM_NAME", "e-Bidding Platform")


def issue(
    kind: str,
    *,
    title: str,
    paragraphs: Sequence[str],
    table: list[list[str]] | None = None,
    lang: str = "zh_CN",
    subject: dict[str, Any],
    actor: User | None,
    public: bool,
    organisation_id: int | None = None,
    reserve: Sequence[Reserved] = (),
    ip: str | None | audit.IpDefault = audit.FROM_REQUEST,
) -> SignedDocument:
    """Render, seal (certifying) and store a document, and log its hash (`ip` as in `audit.record`)."""
    pki = _pki()
    pdf = render_document(title, list(paragraphs), table, lang=lang, signatures=1 + len(reserve))
    signed = sign_pdf(
        pdf,
        signer_key=pki.seal.private_key,
        signer_cert=pki.seal.certificate,
        ca_cert=pki.ca.certificate,
        timestamper=_timestamper(pki),
        field_name=PLATFORM_FIELD,
        signer_label=platform_name(),
        seal_name=current_app.config.get("PLATFORM_SEAL_NAME") or None,
        certify=True,
        reason=title,
        reserve_fields=[r.field for r in reserve],
    )
    document = SignedDocument(
        kind=kind,
        title=title,
        lang=lang,
        subject=subject,
        public=public,
        organisation_id=organisation_id,
        reserved=[{"field": r.field, "label": r.label, "user_id": r.user_id} for r in reserve],
    )
    db.session.add(document)
    db.session.flush()
    _add_version(
        document,
        signed,
        field=PLATFORM_FIELD,
        label=platform_name(),
        user=None,
        actor=actor,
        event="document.issued",
        ip=ip,
    )
    return document


def _add_version(
    document: SignedDocument,
    pdf: bytes,
    *,
    field: str,
    label: str,
    user: User | None,
    actor: User | None,
    event: str,
    ip: str | None | audit.IpDefault = audit.FROM_REQUEST,
) -> DocumentVersion:
    stored = _blobs().put(pdf)
    number = len(document.versions) + 1
    entry = audit.record(
        event,
        actor=actor,
        subject={"document": document.id, **document.subject},
        data={
            "kind": document.kind,
            "title": document.title,
            "version": number,
            "field": field,
            "signer": label,
            "sha256": stored.sha256,
            "size": stored.size,
        },
        ip=ip,
    )
    version = DocumentVersion(
        document=document,
        number=number,
        sha256=stored.sha256,
        size=stored.size,
        field_name=field,
        signer_label=label,
        signed_by_id=user.id if user else None,
        log_index=entry.index,
        created_at=utcnow(),
    )
    db.session.add(version)
    db.session.flush()
    return version


def pending_fields(document: SignedDocument) -> list[dict[str, Any]]:
    """Reserved fields not yet signed."""
    signed = {v.field_name for v in document.versions}
    return [r for r in document.reserved if r["field"] not in signed]


def countersign(document: SignedDocument, field: str, *, user: User, password: str,
                anonymous: bool = False) -> DocumentVersion:
    """A person signs their reserved field, after confirming their password.

    `anonymous`: the public log entry names the field's label only, with no actor or address (an
    expert signing a report before the panel's names are published).
    """
    reserved = next((r for r in document.reserved if r["field"] == field), None)
    if reserved is None:
        raise Refused(f"this document has no signature field {field!r}", code="not_found", status=404)
    if reserved["user_id"] != user.id:
        raise Refused("this signature field is reserved for someone else", code="forbidden", status=403)
    if any(v.field_name == field for v in document.versions):
        raise Refused("this field is already signed", code="already_signed")
    if not password or not verify_password(user.password_hash, password):
        raise Refused(
            "password confirmation failed: a signature needs your current password",
            code="confirmation_failed",
            status=403,
            field="password",
        )
    pki = _pki()
    key, cert = user_signing_key(user, pki)
    current = _blobs().read(document.current.sha256)
    signed = sign_pdf(
        current,
        signer_key=key,
        signer_cert=cert,
        ca_cert=pki.ca.certificate,
        timestamper=_timestamper(pki),
        field_name=field,
        signer_label=reserved["label"],
        certify=False,
        reason=document.title,
    )
    if anonymous:
        return _add_version(document, signed, field=field, label=reserved["label"], user=user, actor=None,
                            event="document.signed", ip=None)
    return _add_version(
        document, signed, field=field, label=reserved["label"], user=user, actor=user, event="document.signed"
    )


def user_signing_key(user: User, pki: Pki):
    """The person's signing key and certificate, issued by the platform CA on first use."""
    row = db.session.scalar(
        select(UserSigningKey).where(UserSigningKey.user_id == user.id).order_by(UserSigningKey.id.desc())
    )
    store = _store()
    if row is not None and _valid_under(row, pki):
        key = load_private_pem(store.unseal(row.sealed_private, f"user-signing-key|{user.id}"))
        return key, x509.load_pem_x509_certificate(row.certificate_pem.encode())
    organisation = user.organisation.name if user.organisation else None
    key, cert = pki.authority.issue(
        user.display_name, organisation=organisation, kind="document_signer", now=utcnow()
    )
    db.session.add(
        UserSigningKey(
            user_id=user.id,
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
            sealed_private=store.seal(private_bytes_pem(key), f"user-signing-key|{user.id}"),
            created_at=utcnow(),
        )
    )
    db.session.flush()
    audit.record(
        "key.certified",
        actor=user,
        subject={"user": user.id},
        data={
            "certificate_sha256": hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
            "subject": cert.subject.rfc4514_string(),
        },
    )
    return key, cert


def _valid_under(row: UserSigningKey, pki: Pki) -> bool:
    cert = x509.load_pem_x509_certificate(row.certificate_pem.encode())
    return issued_by(cert, pki.ca.certificate) and cert.not_valid_after_utc > utcnow()


def find_version(sha256: str) -> DocumentVersion | None:
    """The issued version whose bytes hash to `sha256`, if any."""
    return db.session.scalar(select(DocumentVersion).where(DocumentVersion.sha256 == sha256))


def read_version(version: DocumentVersion) -> bytes:
    return _blobs().read(version.sha256)
