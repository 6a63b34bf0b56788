"""API bearer tokens: short-lived ES256 JWTs with audience, issuer, role and session-version claims."""

from __future__ import annotations

from flask import current_app

from core.extensions import db
from core.models import Role, User
from signing.jose import TokenError, decode_jwt, encode_jwt
from signing.keys import KeyPurpose, KeyStore


def _store() -> KeyStore:
    return current_app.extensions["ebid.keys"]


def issuer() -> str:
    """The `iss` of every token this platform makes."""
    return current_app.config.get("TOKEN_ISSUER", "ebid-platform")


def issue_token(user: User) -> tuple[str, int]:
    """A bearer token for the user and its lifetime in seconds."""
    key = _store().active(KeyPurpose.JWS)
    lifetime = current_app.config["API_TOKEN_LIFETIME"]
    claims = {"sub": str(user.id), "aud": current_app.config["API_AUDIENCE"], "iss": issuer(),
              "role": user.role.value, "org": user.organisation_id, "ver": user.session_version}
    token = encode_jwt(claims, kid=key.kid, private_key=key.private_key, lifetime=lifetime)
    return token, int(lifetime.total_seconds())


def user_for_token(token: str) -> User:
    """The user a bearer token speaks for, or `TokenError` saying why not."""
    store = _store()
    claims = decode_jwt(token, lambda kid: store.get(kid).public_key,
                        audience=current_app.config["API_AUDIENCE"], issuer=issuer())
    try:
        user = db.session.get(User, int(claims["sub"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenError("token has no valid subject") from exc
    if user is None:
        raise TokenError("token's user no longer exists")
    if claims.get("role") not in {r.value for r in Role} or claims["role"] != user.role.value:
        raise TokenError("token's role does not match the user's role")
    if claims.get("ver") != user.session_version:
        raise TokenError("token was issued before the password changed")
    return user
