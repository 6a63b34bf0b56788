"""Signing in: the password check (the same work and answer for an unknown name), and user creation."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.extensions import db
from core.models import ROLE_ORGANISATION_KINDS, Organisation, Role, User
from core.passwords import hash_password, needs_rehash, verify_password
from core.validation import ValidationError, parse_choice, parse_text


class LoginRefused(Exception):
    """Sign-in refused; the message is safe to show (it never says which of name or password was wrong)."""


def authenticate(username: str, password: str) -> User:
    """The user if the name and password are right; counts the account's consecutive failures.

    Nothing is locked: repeated failures are slowed down per client address (`app.limits`), so a stranger
    cannot shut the owner out. An unknown name costs the same argon2 work as a wrong password and gets
    the same answer, so neither the time nor the message tells whether the account exists.
    Failures are flushed, not committed: the caller commits even when it refuses the login.
    """
    user = db.session.scalar(select(User).where(User.username == (username or "").strip().lower()))
    correct = verify_password(user.password_hash if user is not None else None, password)
    if user is None or not correct:
        if user is not None:
            user.failed_logins += 1
            db.session.flush()
        raise LoginRefused("wrong username or password")
    user.failed_logins = 0
    user.locked_until = None  # no longer set; cleared where an older version had set it
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
