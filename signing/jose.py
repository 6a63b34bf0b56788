"""Every JWS and JWT the platform makes or checks goes through here, with the algorithm pinned.

python-jose is told the one algorithm it may accept (ES256), so `alg: none`, an HS256 token keyed
with our public key, or any other algorithm is refused before a signature is even looked at.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from jose import jwk, jws, jwt
from jose.exceptions import ExpiredSignatureError, JOSEError, JWSError, JWTClaimsError, JWTError

#: The only algorithm the platform signs or accepts.
ALGORITHM = "ES256"


class TokenError(ValueError):
    """A token or JWS that was refused; the message says what failed."""


KeyResolver = Callable[[str], Any]


def public_jwk(kid: str, public_key) -> dict[str, str]:
    """The public JWK of an ES256 key, as published at /.well-known/jwks.json."""
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    data = jwk.construct(pem.decode(), algorithm=ALGORITHM).to_dict()
    return {"kty": data["kty"], "crv": data["crv"], "x": data["x"], "y": data["y"],
            "kid": kid, "alg": ALGORITHM, "use": "sig"}


def _private_pem(private_key) -> str:
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()


def _public_pem(public_key) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _header(token: str) -> dict[str, Any]:
    try:
        header = jws.get_unverified_header(token)
    except (JWSError, JOSEError) as exc:
        raise TokenError(f"malformed token: {exc}") from exc
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise TokenError(f"algorithm {alg!r} refused: only {ALGORITHM} is accepted")
    if not isinstance(header.get("kid"), str):
        raise TokenError("token has no key id (kid)")
    return header


def sign(payload: Mapping[str, Any], *, kid: str, private_key, typ: str = "JOSE") -> str:
    """A compact JWS over the JSON payload."""
    return jws.sign(dict(payload), _private_pem(private_key), algorithm=ALGORITHM,
                    headers={"kid": kid, "typ": typ})


def verify(token: str, resolve_key: KeyResolver) -> dict[str, Any]:
    """The payload of a compact JWS signed by a key that `resolve_key(kid)` knows."""
    header = _header(token)
    try:
        public_key = resolve_key(header["kid"])
    except (KeyError, LookupError, ValueError) as exc:
        raise TokenError(f"signed by an unknown key {header['kid']!r}") from exc
    try:
        payload = jws.verify(token, _public_pem(public_key), algorithms=[ALGORITHM])
    except (JWSError, JOSEError) as exc:
        raise TokenError(f"signature does not verify: {exc}") from exc
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise TokenError("payload is not JSON") from exc


def encode_jwt(claims: Mapping[str, Any], *, kid: str, private_key, lifetime: dt.timedelta,
               now: dt.datetime | None = None) -> str:
    """A short-lived JWT with iat, nbf, exp and a unique jti."""
    now = now or dt.datetime.now(dt.UTC)
    body = {**claims, "iat": int(now.timestamp()), "nbf": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()), "jti": uuid.uuid4().hex}
    return jwt.encode(body, _private_pem(private_key), algorithm=ALGORITHM,
                      headers={"kid": kid, "typ": "JWT"})


def decode_jwt(token: str, resolve_key: KeyResolver, *, audience: str, issuer: str) -> dict[str, Any]:
    """The claims of a JWT that is signed, unexpired, and for this audience and issuer."""
    header = _header(token)
    try:
        public_key = resolve_key(header["kid"])
    except (KeyError, LookupError, ValueError) as exc:
        raise TokenError(f"signed by an unknown key {header['kid']!r}") from exc
    try:
        return jwt.decode(token, _public_pem(public_key), algorithms=[ALGORITHM], audience=audience,
                          issuer=issuer, options={"require_exp": True, "require_iat": True,
                                                  "require_aud": True, "require_iss": True})
    except ExpiredSignatureError as exc:
        raise TokenError("token has expired") from exc
    except JWTClaimsError as exc:
        raise TokenError(f"token claims refused: {exc}") from exc
    except (JWTError, JOSEError) as exc:
        raise TokenError(f"token refused: {exc}") from exc
