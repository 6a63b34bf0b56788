"""Public verification: anyone with a guarantee's number and its PDF asks whether it is genuine.

The platform finds which issuer the number belongs to and asks that issuer, through its adapter,
whether it issued a letter with this hash under this number; it answers with the issuer's word and
whether the letter is the one the platform holds. When the answer is "no", it says the same thing
whether the number is unknown or the letter differs, so the page cannot be used to learn which
guarantees exist before an opening.

The letter itself is required, not its hash: the public log publishes only commitments to a
guarantee's number and letter hash (guarantees/records.py), and whoever holds the letter already reads
the beneficiary and amount the answer confirms.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import Blueprint, jsonify, render_template, request
from flask_babel import gettext as _

from core.errors import Refused
from core.extensions import csrf
from core.openapi import document
from core.validation import ValidationError, parse_text
from guarantees import issuers, services
from guarantees.adapters.interface import IssuerError

bp = Blueprint("guarantee_verification", __name__)
api = Blueprint("guarantee_verification_api", __name__, url_prefix="/api/guarantees")
csrf.exempt(api)

MAX_PDF = 20 * 1024 * 1024
_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/._-]{2,63}$")

NOT_GENUINE = "the issuer does not confirm a letter with this number and content"


def verify(number: str, sha256: str) -> dict[str, Any]:
    """The answer to "is this the genuine letter of guarantee `number`?"; asks the issuer."""
    if not _NUMBER.match(number):
        raise ValidationError("undertaking_identification", "not a guarantee number")
    guarantee = services.find_by_number(number)
    if guarantee is None:
        return {
            "undertaking_identification": number,
            "letter_sha256": sha256,
            "genuine": False,
            "detail": NOT_GENUINE,
            "issuer": None,
        }
    entry = issuers.registry().get(guarantee.issuer_code)
    if entry is None:
        raise Refused(
            f"the issuer {guarantee.issuer_code} is no longer connected",
            code="issuer_unavailable",
            status=503,
        )
    try:
        answer = entry.adapter.verify(undertaking_identification=number, letter_sha256=sha256)
    except IssuerError as exc:
        raise Refused(
            f"{entry.name} could not be asked just now ({exc}); try again later",
            code="issuer_unavailable",
            status=503,
        ) from None
    if not answer.genuine:
        return {
            "undertaking_identification": number,
            "letter_sha256": sha256,
            "genuine": False,
            "detail": NOT_GENUINE,
            "issuer": entry.name,
        }
    held = {letter.sha256 for letter in guarantee.letters}
    return {
        "undertaking_identification": number,
        "letter_sha256": sha256,
        "genuine": True,
        "detail": answer.detail,
        "issuer": entry.name,
        "issuer_status": answer.issuer_status,
        "undertaking_amount": answer.undertaking_amount.to_json() if answer.undertaking_amount else None,
        "expiry_date": answer.expiry_date.isoformat() if answer.expiry_date else None,
        "beneficiary": answer.beneficiary.name if answer.beneficiary else None,
        "latest_letter": answer.letter_sha256 == sha256 if answer.letter_sha256 else None,
        "held_by_platform": sha256 in held,
    }


def _pdf_hash() -> str:
    upload = request.files.get("pdf") or request.files.get("file")
    if upload is not None:
        data = upload.read(MAX_PDF + 1)
        if len(data) > MAX_PDF:
            raise ValidationError("pdf", f"at most {MAX_PDF} bytes")
        if not data.startswith(b"%PDF-"):
            raise ValidationError("pdf", "not a PDF")
        return hashlib.sha256(data).hexdigest()
    raise ValidationError(
        "pdf", "send the letter itself as `pdf` (multipart): a number and a hash alone are not verified"
    )


def _number() -> str:
    body = request.get_json(silent=True) if request.is_json else None
    source = body if isinstance(body, dict) else request.form
    return parse_text(
        source.get("undertaking_identification") or source.get("number"),
        "undertaking_identification",
        max_length=64,
    )


@api.post("/verify")
@document(
    summary="Is this the genuine letter of guarantee? (anyone: the number and the PDF letter itself, "
    "multipart fields `undertaking_identification` and `pdf`)",
    public=True,
    uploads={"multipart/form-data": {
        "type": "object", "required": ["undertaking_identification", "pdf"],
        "properties": {"undertaking_identification": {"type": "string", "maxLength": 64},
                       "pdf": {"type": "string", "contentMediaType": "application/pdf"}}}},
    response={
        "undertaking_identification": "string",
        "genuine": "boolean",
        "detail": "string",
        "issuer": "string",
        "issuer_status": "string",
        "undertaking_amount": "object",
        "expiry_date": "string",
        "beneficiary": "string",
        "held_by_platform": "boolean",
    },
)
def verify_api():
    number = _number()
    return jsonify(verify(number, _pdf_hash()))


@bp.route("/guarantees/verify", methods=["GET", "POST"])
def verify_page():
    result, error = None, None
    if request.method == "POST":
        try:
            result = verify(_number(), _pdf_hash())
        except ValidationError as exc:
            error = exc
        except Refused as exc:
            error = ValidationError(exc.field, exc.message)
    return render_template(
        "guarantees/verify.html", result=result, error=error, title=_("Verify a letter of guarantee")
    ), 422 if error else 200
