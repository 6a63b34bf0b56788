"""Every JWS and JWT the platform makes or checks goes through here, with the algorithm pinned.

python-jose is told the one algorithm it may accept (ES256), so `alg: none`, an HS256 token keyed
with our public key, or any other algorithm is refused before a signature is even looked at.

Keys are handed to python-jose as key objects it has already prepared, kept per key id (one for
signing, one for verifying, each at most `KEY_CACHE_SIZE` ids): a receipt is signed and checked at
close to the speed of the ECDSA signature itself, instead of serialising the key to PEM and having
python-jose parse it back on every call. A cached key is used only for the very key object it was
made from (or, for public keys, an equal one), so a different key under a known id is never mistaken
for the cached one; only P-256 keys are accepted.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from jose import jwk, jws, jwt
from jose.backends.base import Key
from jose.backends.cryptography_backend import CryptographyECKey
from jose.exceptions import ExpiredSignatureError, JOSEError, JWSError, JWTClaimsError, JWTError
from jose.utils import base64url_decode, base64url_encode

#: The only algorithm the platform signs or accepts.
ALGORITHM = "ES256"


class TokenError(ValueError):
    """A token or JWS that was refused; the message says what failed."""


KeyResolver = Callable[[str], Any]

#: Key ids whose prepared python-jose key is kept, per direction (the platform has a handful).
KEY_CACHE_SIZE = 64
_signing_keys: dict[str, tuple[Any, Key]] = {}
_verifying_keys: dict[str, tuple[Any, Key]] = {}


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class _ES256Key(CryptographyECKey):
    """python-jose's ECDSA key, for P-256 only, with the signature scheme made once instead of per call.

    Signatures are the JWS form (RFC 7518 §3.4): r and s as 32 big-endian bytes each.
    """

    def __init__(self, key) -> None:
        super().__init__(key, ALGORITHM)

    def sign(self, msg: bytes) -> bytes:
        r, s = decode_dss_signature(self.prepared_key.sign(msg, _ECDSA_SHA256))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, msg: bytes, sig: bytes) -> bool:
        if len(sig) != 64:
            return False
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        try:
            self.prepared_key.verify(der, msg, _ECDSA_SHA256)
        except InvalidSignature:
            return False
        return True


def _prepare(key, private: bool) -> Key:
    """The python-jose key for a cryptography P-256 key object, with no PEM round trip."""
    kind = ec.EllipticCurvePrivateKey if private else ec.EllipticCurvePublicKey
    if not isinstance(key, kind) or not isinstance(key.curve, ec.SECP256R1):
        raise TokenError(f"an {ALGORITHM} {'private' if private else 'public'} key (ECDSA P-256) is needed, "
                         f"not {type(key).__name__}")
    return _ES256Key(key)


def _evict_oldest(cache: dict) -> None:
    """Drop the oldest entry; another thread evicting or adding at the same moment is harmless."""
    try:
        cache.pop(next(iter(cache)), None)
    except (RuntimeError, StopIteration):
        pass


def _cached(cache: dict[str, tuple[Any, Key]], kid: str, key, private: bool) -> Key:
    """The prepared key of `key` under `kid`: from the cache when it was made from this very key."""
    entry = cache.get(kid)
    if entry is not None:
        source, prepared = entry
        # Identity first (the key store hands out the same object); equal public keys are the same key.
        if source is key or (not private and source == key):
            return prepared
    prepared = _prepare(key, private)
    if kid not in cache and len(cache) >= KEY_CACHE_SIZE:
        _evict_oldest(cache)
    cache[kid] = (key, prepared)
    return prepared


def clear_key_cache() -> None:
    """Forget every prepared key (tests; a key store that retires keys needs no call: ids are not reused)."""
    _signing_keys.clear()
    _verifying_keys.clear()
    _encoded_headers.clear()


def public_jwk(kid: str, public_key) -> dict[str, str]:
    """The public JWK of an ES256 key, as published at /.well-known/jwks.json."""
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    data = jwk.construct(pem.decode(), algorithm=ALGORITHM).to_dict()
    return {"kty": data["kty"], "crv": data["crv"], "x": data["x"], "y": data["y"],
            "kid": kid, "alg": ALGORITHM, "use": "sig"}


#: Longest protected header accepted, in base64url characters (ours are about 150).
MAX_HEADER_CHARS = 512


def _header(token: str) -> dict[str, Any]:
    """The protected header, decoded alone: the payload is decoded once, by the verification."""
    if isinstance(token, bytes):
        token = token.decode("ascii", "replace")
    if not isinstance(token, str) or token.count(".") < 2:
        raise TokenError("malformed token: Not enough segments")
    if token.index(".") > MAX_HEADER_CHARS:  # bounded before parsing: no nesting can exhaust the parser
        raise TokenError("malformed token: the header is too long")
    try:
        header = json.loads(base64url_decode(token[:token.index(".")].encode("ascii")))
    except (ValueError, TypeError, binascii.Error, UnicodeError, RecursionError) as exc:
        raise TokenError(f"malformed token: invalid header: {exc}") from exc
    if not isinstance(header, dict):
        raise TokenError("malformed token: the header is not a JSON object")
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise TokenError(f"algorithm {alg!r} refused: only {ALGORITHM} is accepted")
    if not isinstance(header.get("kid"), str):
        raise TokenError("token has no key id (kid)")
    return header


_encoded_headers: dict[tuple[str, str], bytes] = {}


def _encoded_header(kid: str, typ: str) -> bytes:
    """The protected header, base64url-encoded, as python-jose writes it (keys sorted), made once per
    (kid, typ)."""
    encoded = _encoded_headers.get((kid, typ))
    if encoded is None:
        header = json.dumps({"alg": ALGORITHM, "kid": kid, "typ": typ}, separators=(",", ":"), sort_keys=True)
        encoded = base64url_encode(header.encode("utf-8"))
        if len(_encoded_headers) >= KEY_CACHE_SIZE:
            _evict_oldest(_encoded_headers)
        _encoded_headers[(kid, typ)] = encoded
    return encoded


def sign(payload: Mapping[str, Any], *, kid: str, private_key, typ: str = "JOSE") -> str:
    """A compact JWS over the JSON payload (byte for byte what python-jose's `jws.sign` writes)."""
    key = _cached(_signing_keys, kid, private_key, True)
    body = json.dumps(dict(payload), separators=(",", ":")).encode("utf-8")
    signing_input = b".".join([_encoded_header(kid, typ), base64url_encode(body)])
    return b".".join([signing_input, base64url_encode(key.sign(signing_input))]).decode("ascii")


def verify(token: str, resolve_key: KeyResolver) -> dict[str, Any]:
    """The payload of a compact JWS signed by a key that `resolve_key(kid)` knows."""
    header = _header(token)
    try:
        public_key = resolve_key(header["kid"])
    except (KeyError, LookupError, ValueError) as exc:
        raise TokenError(f"signed by an unknown key {header['kid']!r}") from exc
    try:
        payload = jws.verify(token, _cached(_verifying_keys, header["kid"], public_key, False),
                             algorithms=[ALGORITHM])
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
    return jwt.encode(body, _cached(_signing_keys, kid, private_key, True), algorithm=ALGORITHM,
                      headers={"kid": kid, "typ": "JWT"})


def decode_jwt(token: str, resolve_key: KeyResolver, *, audience: str, issuer: str) -> dict[str, Any]:
    """The claims of a JWT that is signed, unexpired, and for this audience and issuer."""
    header = _header(token)
    try:
        public_key = resolve_key(header["kid"])
    except (KeyError, LookupError, ValueError) as exc:
        raise TokenError(f"signed by an unknown key {header['kid']!r}") from exc
    try:
        return jwt.decode(token, _cached(_verifying_keys, header["kid"], public_key, False),
                          algorithms=[ALGORITHM], audience=audience,
                          issuer=issuer, options={"require_exp": True, "require_iat": True,
                                                  "require_aud": True, "require_iss": True})
    except ExpiredSignatureError as exc:
        raise TokenError("token has expired") from exc
    except JWTClaimsError as exc:
        raise TokenError(f"token claims refused: {exc}") from exc
    except (JWTError, JOSEError) as exc:
        raise TokenError(f"token refused: {exc}") from exc
