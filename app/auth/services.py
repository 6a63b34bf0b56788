"""Signing in: password check, lockout after repeated failures, and user creation."""

from __future__ import annotations

import datetime as dt
import re

from flask import current_app
from sqlalchemy import select

from app.auth.passwords import hash_password, needs_rehash, verify_password
from app.extensions import db
from app.models import ROLE_ORGANISATION_KINDS, Organisation, Role, User
from app.orm import utcnow
from app.validation import ValidationError, parse_choice, parse_text


class LoginRefused(Exception):
    """Sign-in refused; the message is safe to show (it never says which of name or password was wrong)."""

    def __init__(self, message: str, *, locked_until: dt.datetime | None = None) -> None:
        super().__init__(message)
        self.locked_until = locked_until


def authenticate(username: str, password: str, *, now: dt.datetime | None = None) -> User:
    """The user if the password is right and the account is not locked; counts failures.

    Failures are flushed, not committed: the caller commits even when it refuses the login, so
    the count survives.
    """
    now = now or utcnow()
    user = db.session.scalar(select(User).where(User.username == (username or "").strip().lower()))
    if user is not None and user.locked_until is not None and user.locked_until > now:
        verify_password(None, password)
        raise LoginRefused("account locked after repeated failed sign-ins", locked_until=user.locked_until)
    if user is None or not verify_password(user.password_hash, password):
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= current_app.config["LOGIN_MAX_FAILURES"]:
                user.locked_until = now + current_app.config["LOGIN_LOCKOUT"]
                user.failed_logins = 0
            db.session.flush()
        raise LoginRefused("wrong username or password")
    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    db.session.flush()
    return user


_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


def create_user(
    *,
    username: str,
    display_name: str,
    password: str,
    role: str | Role,
    organisation: Organisation | None,
    locale: str | None = None,
) -> User:
    """A new user whose role fits its organisation's kind."""
    name = parse_text(username, "username", max_length=64).lower()
    if not _USERNAME.match(name):
        raise ValidationError(
            "username", "3 to 64 characters: lower-case letters, digits, dot, dash, underscore"
        )
    role = parse_choice(role, "role", Role)
    if db.session.scalar(select(User.id).where(User.username == name)) is not None:
        raise ValidationError("username", f"username {name!r} is taken")
    if role != Role.EXPERT and organisation is None:
        raise ValidationError("organisation", f"a {role.value} user acts for an organisation")
    if organisation is not None and organisation.kind not in ROLE_ORGANISATION_KINDS[role]:
        raise ValidationError(
            "role", f"a {organisation.kind.value} organisation cannot have {role.value} users"
        )
    try:
        hashed = hash_password(password or "")
    except ValueError as exc:
        raise ValidationError("password", str(exc)) from exc
    user = User(
        username=name,
        display_name=parse_text(display_name, "display_name", max_length=100),
        password_hash=hashed,
        role=role,
        organisation=organisation,
        locale=locale,
    )
    db.session.add(user)
    db.session.flush()
    return user
