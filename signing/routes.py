"""Trust: the CA certificate, the time-stamping unit, signed documents, verification."""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives import serialization
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.errors import Refused
from core.extensions import csrf, db
from core.identity import current_actor
from core.models import Role
from signing import documents
from signing.models import SignedDocument
from signing.pdf import PdfSignatureError, inspect_pdf
from signing.pki import load_pki

bp = Blueprint("signing", __name__)

MAX_TIMESTAMP_QUERY = 16 * 1024


@bp.get("/pki/ca.pem")
def ca_certificate():
    """Every CA certificate the platform still trusts, newest last (a stable URL for validators)."""
    pki = load_pki(current_app.extensions["ebid.keys"])
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in pki.trust_roots)
    return Response(
        pem,
        mimetype="application/x-pem-file",
        headers={"Content-Disposition": "inline; filename=ebid-ca.pem"},
    )


@bp.post("/tsa")
@csrf.exempt
def timestamp():
    """RFC 3161 over HTTP: a TimeStampReq in, a TimeStampResp out (for the platform's own documents)."""
    if request.mimetype != "application/timestamp-query":
        abort(415)
    body = request.get_data(cache=False)
    if not body or len(body) > MAX_TIMESTAMP_QUERY:
        abort(400)
    pki = load_pki(current_app.extensions["ebid.keys"])
    return Response(pki.timestamper().respond(body), mimetype="application/timestamp-reply")


def _may_read(document: SignedDocument) -> bool:
    if document.public:
        return True
    actor = current_actor()
    if actor is None:
        return False
    if actor.role == Role.SUPERVISOR:
        return True
    if document.organisation_id is not None and actor.organisation_id == document.organisation_id:
        return True
    return any(r["user_id"] == actor.id for r in document.reserved)


def _document(document_id: int) -> SignedDocument:
    document = db.session.get(SignedDocument, document_id)
    if document is None or not _may_read(document):
        abort(404)
    return document


@bp.get("/documents/<int:document_id>")
def document_page(document_id: int):
    document = _document(document_id)
    actor = current_actor()
    mine = [r for r in documents.pending_fields(document) if actor is not None and r["user_id"] == actor.id]
    return render_template(
        "signing/document.html", document=document, mine=mine, pending=documents.pending_fields(document)
    )


@bp.get("/documents/<int:document_id>/pdf")
def document_pdf(document_id: int):
    document = _document(document_id)
    version = document.current
    pdf = documents.read_version(version)
    name = f"{document.kind}-{document.id}-v{version.number}.pdf"
    return Response(
        pdf, mimetype="application/pdf", headers={"Content-Disposition": f"attachment; filename={name}"}
    )


@bp.post("/documents/<int:document_id>/sign")
def document_sign(document_id: int):
    document = _document(document_id)
    field = request.form.get("field", "")
    try:
        documents.countersign(
            document, field, user=current_actor(), password=request.form.get("password", "")
        )
    except Refused as exc:
        db.session.rollback()
        flash(_("Not signed: %(why)s", why=exc.message), "error")
        return redirect(url_for("signing.document_page", document_id=document.id))
    db.session.commit()
    flash(_("Signed."), "success")
    return redirect(url_for("signing.document_page", document_id=document.id))


def _pdf_findings(pdf: bytes) -> dict[str, Any]:
    pki = load_pki(current_app.extensions["ebid.keys"])
    sha256 = hashlib.sha256(pdf).hexdigest()
    version = documents.find_version(sha256)
    try:
        reports = inspect_pdf(pdf, pki.trust_roots)
        error = None
    except PdfSignatureError as exc:
        reports, error = [], str(exc)
    return {"sha256": sha256, "version": version, "reports": reports, "error": error}


def _receipt_findings(token: str) -> dict[str, Any]:
    from signing.verify import VerificationError, verify_receipt
    from signing.wellknown import jwks_document, log_vkey

    try:
        result = verify_receipt(token.strip(), jwks_document(), log_vkey())
    except VerificationError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "result": result}


@bp.route("/verify", methods=["GET", "POST"])
def verify():
    """Anyone uploads a PDF or pastes a receipt: who signed it, when, and whether it is in the log."""
    pdf_result = receipt_result = None
    if request.method == "POST":
        upload = request.files.get("pdf")
        if upload is not None and upload.filename:
            pdf_result = _pdf_findings(upload.read())
        elif request.form.get("receipt", "").strip():
            receipt_result = _receipt_findings(request.form["receipt"])
        else:
            flash(_("Choose a PDF or paste a receipt."), "error")
    status = 200
    return render_template("signing/verify.html", pdf=pdf_result, receipt=receipt_result), status
