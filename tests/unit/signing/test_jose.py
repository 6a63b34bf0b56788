"""JWS and JWT with the algorithm pinned to ES256: round trips, and every forgery refused with a reason."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing import jose
from signing.jose import TokenError, decode_jwt, encode_jwt

AUDIENCE, ISSUER, KID = "ebid-api", "ebid-platform", "test-key-1"
LIFETIME = dt.timedelta(minutes=15)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def private_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def resolve(private_key):
    keys = {KID: private_key.public_key()}
    return lambda kid: keys[kid]


def claims(**overrides):
    return {"sub": "7", "aud": AUDIENCE, "iss": ISSUER, "role": "tendering_office", **overrides}


def make(private_key, *, now=None, lifetime=LIFETIME, kid=KID, **overrides) -> str:
    return encode_jwt(claims(**overrides), kid=kid, private_key=private_key, lifetime=lifetime, now=now)


def decode(token, resolve):
    return decode_jwt(token, resolve, audience=AUDIENCE, issuer=ISSUER)


def test_jwt_round_trip(private_key, resolve):
    before = int(dt.datetime.now(dt.UTC).timestamp())
    token = make(private_key)
    header = json.loads(unb64url(token.split(".")[0]))
    assert header == {"alg": "ES256", "kid": KID, "typ": "JWT"}
    got = decode(token, resolve)
    assert {k: got[k] for k in ("sub", "aud", "iss", "role")} == claims()
    assert got["exp"] - got["iat"] == int(LIFETIME.total_seconds())
    assert before <= got["iat"] == got["nbf"]
    assert len(got["jti"]) == 32


def test_each_token_has_its_own_jti(private_key, resolve):
    assert decode(make(private_key), resolve)["jti"] != decode(make(private_key), resolve)["jti"]


def test_jws_round_trip(private_key, resolve):
    token = jose.sign({"tender": 1, "amount": "10.00"}, kid=KID, private_key=private_key)
    assert jose.verify(token, resolve) == {"tender": 1, "amount": "10.00"}


def _valid_payload() -> dict:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    return {**claims(), "iat": now, "nbf": now, "exp": now + 900}


def test_alg_none_is_refused(resolve):
    token = f"{b64url_json({'alg': 'none', 'kid': KID, 'typ': 'JWT'})}.{b64url_json(_valid_payload())}."
    with pytest.raises(TokenError, match="algorithm 'none' refused: only ES256 is accepted"):
        decode(token, resolve)
    with pytest.raises(TokenError, match="algorithm 'none' refused"):
        jose.verify(token, resolve)


@pytest.mark.parametrize("alg", ["None", "NONE"])
def test_alg_none_in_other_spellings_is_refused(resolve, alg):
    token = f"{b64url_json({'alg': alg, 'kid': KID})}.{b64url_json(_valid_payload())}."
    with pytest.raises(TokenError, match=f"algorithm '{alg}' refused"):
        decode(token, resolve)


def test_hs256_keyed_with_the_public_key_is_refused(private_key, resolve):
    public_pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "kid": KID, "typ": "JWT"}
    signing_input = f"{b64url_json(header)}.{b64url_json(_valid_payload())}"
    for key in (public_pem, public_pem.strip()):
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64url(signature)}"
        with pytest.raises(TokenError, match="algorithm 'HS256' refused: only ES256 is accepted"):
            decode(token, resolve)
        with pytest.raises(TokenError, match="algorithm 'HS256' refused"):
            jose.verify(token, resolve)


def test_hs256_signature_under_an_es256_header_is_refused(private_key, resolve):
    """Even if the header lies about the algorithm, the HMAC is not an ECDSA signature."""
    public_pem = private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "ES256", "kid": KID, "typ": "JWT"}
    signing_input = f"{b64url_json(header)}.{b64url_json(_valid_payload())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(TokenError, match="token refused"):
        decode(f"{signing_input}.{b64url(signature)}", resolve)


@pytest.mark.parametrize("alg", ["ES384", "RS256", "EdDSA", "PS256"])
def test_every_other_algorithm_is_refused(resolve, alg):
    token = f"{b64url_json({'alg': alg, 'kid': KID})}.{b64url_json(_valid_payload())}.c2ln"
    with pytest.raises(TokenError, match=f"algorithm '{alg}' refused"):
        decode(token, resolve)


def test_expired_token_is_refused(private_key, resolve):
    token = make(private_key, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    with pytest.raises(TokenError, match="token has expired"):
        decode(token, resolve)


def test_token_not_yet_valid_is_refused(private_key, resolve):
    token = make(private_key, now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    with pytest.raises(TokenError, match=r"not yet valid \(nbf\)"):
        decode(token, resolve)


def test_wrong_audience_is_refused(private_key, resolve):
    with pytest.raises(TokenError, match="token claims refused: Invalid audience"):
        decode(make(private_key, aud="another-api"), resolve)


def test_wrong_issuer_is_refused(private_key, resolve):
    with pytest.raises(TokenError, match="token claims refused: Invalid issuer"):
        decode(make(private_key, iss="someone-else"), resolve)


@pytest.mark.parametrize("missing", ["exp", "iat", "aud", "iss"])
def test_tokens_missing_a_required_claim_are_refused(private_key, resolve, missing):
    body = _valid_payload()
    del body[missing]
    token = jose.sign(body, kid=KID, private_key=private_key, typ="JWT")
    with pytest.raises(TokenError, match=missing):
        decode(token, resolve)


def test_unknown_kid_is_refused(private_key, resolve):
    with pytest.raises(TokenError, match="signed by an unknown key 'not-ours'"):
        decode(make(private_key, kid="not-ours"), resolve)


def test_token_without_kid_is_refused(resolve):
    token = f"{b64url_json({'alg': 'ES256'})}.{b64url_json(_valid_payload())}.c2ln"
    with pytest.raises(TokenError, match="no key id"):
        decode(token, resolve)


def test_token_signed_by_another_key_under_our_kid_is_refused(resolve):
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(TokenError, match="token refused: Signature verification failed"):
        decode(make(stranger), resolve)


def test_tampered_payload_is_refused(private_key, resolve):
    header, payload, signature = make(private_key).split(".")
    body = json.loads(unb64url(payload))
    body["role"] = "administrator"
    tampered = f"{header}.{b64url_json(body)}.{signature}"
    with pytest.raises(TokenError, match="token refused: Signature verification failed"):
        decode(tampered, resolve)
    with pytest.raises(TokenError, match="signature does not verify"):
        jose.verify(tampered, resolve)


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "....", "eyJhbGciOiJFUzI1NiJ9"])
def test_malformed_tokens_are_refused(resolve, token):
    with pytest.raises(TokenError):
        decode(token, resolve)


def test_pyjwt_accepts_a_platform_token_with_the_published_jwk(private_key):
    token = make(private_key)
    published = jose.public_jwk(KID, private_key.public_key())
    assert published == {**published, "kty": "EC", "crv": "P-256", "kid": KID, "alg": "ES256", "use": "sig"}
    assert "d" not in published
    key = pyjwt.PyJWK(published)
    got = pyjwt.decode(token, key=key, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER,
                       options={"require": ["exp", "iat", "aud", "iss"]})
    assert got["sub"] == "7" and got["role"] == "tendering_office"
    assert pyjwt.get_unverified_header(token)["kid"] == KID


def test_pyjwt_refuses_a_tampered_platform_token(private_key):
    header, payload, signature = make(private_key).split(".")
    body = json.loads(unb64url(payload))
    body["sub"] = "8"
    key = pyjwt.PyJWK(jose.public_jwk(KID, private_key.public_key()))
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(f"{header}.{b64url_json(body)}.{signature}", key=key, algorithms=["ES256"],
                     audience=AUDIENCE)


def test_a_pyjwt_token_is_accepted_by_the_platform(private_key, resolve):
    now = int(dt.datetime.now(dt.UTC).timestamp())
    token = pyjwt.encode({**claims(), "iat": now, "exp": now + 60}, private_key, algorithm="ES256",
                         headers={"kid": KID})
    assert decode(token, resolve)["sub"] == "7"


# -- prepared keys, kept per key id (issue 17) ------------------------------------------------------------


def test_keys_are_not_serialised_and_parsed_again_on_each_call(private_key, resolve, monkeypatch):
    """Signing and verifying reuse the key objects: python-jose never loads a PEM key on the way."""
    from jose.backends import cryptography_backend

    loads = []
    for name in ("load_pem_private_key", "load_pem_public_key"):
        original = getattr(cryptography_backend, name)
        monkeypatch.setattr(cryptography_backend, name,
                            lambda *a, _f=original, **k: loads.append(1) or _f(*a, **k))
    for n in range(5):
        assert jose.verify(jose.sign({"n": n}, kid=KID, private_key=private_key), resolve) == {"n": n}
        assert decode(make(private_key), resolve)["sub"] == "7"
    assert loads == []


def test_another_key_under_a_cached_kid_is_not_mistaken_for_it(private_key, resolve):
    jose.verify(jose.sign({"n": 1}, kid=KID, private_key=private_key), resolve)  # KID's keys now cached
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = jose.sign({"n": 2}, kid=KID, private_key=stranger)
    assert jose.verify(token, lambda kid: stranger.public_key()) == {"n": 2}
    with pytest.raises(TokenError, match="signature does not verify"):
        jose.verify(token, resolve)
    # ... and the original key, still cached under KID, signs and verifies as before
    assert jose.verify(jose.sign({"n": 3}, kid=KID, private_key=private_key), resolve) == {"n": 3}


def test_an_equal_public_key_object_reuses_the_prepared_key(private_key):
    """A key store hands out a fresh public key object per lookup; equal keys are the same key."""
    token = jose.sign({"n": 1}, kid="fresh-objects", private_key=private_key)
    for _ in range(3):
        assert jose.verify(token, lambda kid: private_key.public_key()) == {"n": 1}
    source, _prepared = jose._verifying_keys["fresh-objects"]
    assert source == private_key.public_key()


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1(), ec.SECP256K1()])
def test_a_key_on_another_curve_is_refused_for_es256(curve):
    other = ec.generate_private_key(curve)
    with pytest.raises(TokenError, match="ECDSA P-256"):
        jose.sign({"n": 1}, kid="other-curve", private_key=other)
    token = jose.sign({"n": 1}, kid="p256", private_key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(TokenError, match="ECDSA P-256"):
        jose.verify(token, lambda kid: other.public_key())


def test_the_signature_is_jws_r_and_s_checked_by_pyjwt(private_key):
    """The 64-byte r || s form of RFC 7518, checked by an independent implementation."""
    token = jose.sign({"tender": 7}, kid=KID, private_key=private_key, typ="ebid-receipt+jws")
    assert len(unb64url(token.split(".")[2])) == 64
    assert json.loads(pyjwt.PyJWS().decode(token, key=private_key.public_key(), algorithms=["ES256"])) == \
        {"tender": 7}


@pytest.mark.parametrize("cut", [1, 32, 63])
def test_a_signature_of_the_wrong_length_is_refused(private_key, resolve, cut):
    header, payload, signature = jose.sign({"n": 1}, kid=KID, private_key=private_key).split(".")
    short = b64url(unb64url(signature)[:cut])
    with pytest.raises(TokenError, match="signature does not verify"):
        jose.verify(f"{header}.{payload}.{short}", resolve)


def test_the_key_cache_keeps_a_bounded_number_of_ids(private_key, monkeypatch):
    monkeypatch.setattr(jose, "KEY_CACHE_SIZE", 3)
    jose.clear_key_cache()
    for n in range(10):
        jose.sign({"n": n}, kid=f"k{n}", private_key=private_key)
    assert list(jose._signing_keys) == ["k7", "k8", "k9"]


@pytest.mark.parametrize("payload", [{"tender": 1, "amount": "10.00"},
                                     {"名称": "某某公司", "n": [1, 2.5, None]},
                                     {"z": 1, "a": {"nested": True}}])
def test_the_token_is_byte_for_byte_python_joses_but_the_signature(private_key, resolve, payload):
    from jose import jws as python_jose_jws

    ours = jose.sign(payload, kid=KID, private_key=private_key, typ="ebid-receipt+jws")
    theirs = python_jose_jws.sign(payload, private_key, algorithm="ES256",
                                  headers={"kid": KID, "typ": "ebid-receipt+jws"})
    assert ours.split(".")[:2] == theirs.split(".")[:2]
    assert json.loads(python_jose_jws.verify(ours, private_key.public_key(), algorithms=["ES256"])) == payload
    assert jose.verify(ours, resolve) == payload
