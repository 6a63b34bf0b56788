"""Registering organisations: name, kind, a unified social credit code that checks out, and region."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from core import credit_code as uscc
from core.extensions import db
from core.models import Organisation, OrganisationKind
from core.validation import ValidationError, parse_choice, parse_region, parse_text


def register(*, name: str, kind: str | OrganisationKind, credit_code: str, region: str) -> Organisation:
    """A new organisation; refuses a malformed or already registered credit code."""
    try:
        code = uscc.validate(credit_code)
    except uscc.CreditCodeError as exc:
        raise ValidationError("credit_code", exc.translated()) from exc
    if db.session.scalar(select(Organisation.id).where(Organisation.credit_code == code)) is not None:
        raise ValidationError("credit_code",
                              _("an organisation with credit code %(code)s is already registered", code=code))
    org = Organisation(name=parse_text(name, "name", max_length=200),
                       kind=parse_choice(kind, "kind", OrganisationKind), credit_code=code,
                       region=parse_region(region))
    db.session.add(org)
    db.session.flush()
    return org
