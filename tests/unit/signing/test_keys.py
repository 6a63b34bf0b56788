"""The platform's key store: sealed at rest, bound to its KEK, rotated and retired by purpose."""

from __future__ import annotations

import base64
import json
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from signing import jose
from signing.jose import TokenError
from signing.keys import KeyPurpose, KeyStore, KeyStoreError, UnknownKey, new_kek, parse_kek


@pytest.fixture
def kek() -> bytes:
    return parse_kek(new_kek())


@pytest.fixture
def store(tmp_path, kek) -> KeyStore:
    return KeyStore(tmp_path / "keys", kek)


def _secret_forms(key) -> list[bytes]:
    """The ways a private key's secret could show up in a file."""
    der = key.private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    pem = key.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    if isinstance(key.private_key, ec.EllipticCurvePrivateKey):
        raw = key.private_key.private_numbers().private_value.to_bytes(32, "big")
    else:
        raw = key.private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                            serialization.NoEncryption())
    forms = [der, pem, raw, raw.hex().encode(), base64.b64encode(der), base64.b64encode(raw),
             base64.urlsafe_b64encode(raw).rstrip(b"=")]
    return forms


@pytest.mark.parametrize("purpose", list(KeyPurpose))
def test_private_keys_are_sealed_at_rest(store, purpose):
    key = store.create(purpose)
    files = list(store.directory.glob("*.json"))
    assert [f.name for f in files] == [f"{purpose.value}-{key.kid}.json"]
    content = files[0].read_bytes()
    for secret in _secret_forms(key):
        assert secret not in content
    record = json.loads(content)
    assert {"kid", "purpose", "algorithm", "public_spki", "sealed_private"} <= set(record)
    assert record["kid"] == key.kid and record["purpose"] == purpose.value
    assert b"PRIVATE KEY" not in content
    sealed = base64.b64decode(record["sealed_private"])
    assert not any(secret in sealed for secret in _secret_forms(key))
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_reopening_with_the_same_kek_gives_the_same_key(store, kek):
    key = store.create(KeyPurpose.JWS)
    again = KeyStore(store.directory, kek).get(key.kid)
    assert again.public_pem() == key.public_pem()
    assert again.private_key.private_numbers() == key.private_key.private_numbers()
    assert again.algorithm == "ES256"
    store.ensure()
    assert isinstance(KeyStore(store.directory, kek).active(KeyPurpose.CHECKPOINT).private_key,
                      ed25519.Ed25519PrivateKey)


def test_a_wrong_kek_cannot_open_the_keys_and_names_the_key(store):
    key = store.create(KeyPurpose.JWS)
    other = KeyStore(store.directory, parse_kek(new_kek()))
    with pytest.raises(KeyStoreError, match=rf"key {key.kid} cannot be opened: wrong KEY_ENCRYPTION_KEY"):
        other.all()
    with pytest.raises(KeyStoreError, match=key.kid):
        other.active(KeyPurpose.JWS)


def test_a_sealed_key_cannot_be_moved_to_another_purpose(store, kek):
    key = store.create(KeyPurpose.JWS)
    path = store.directory / f"jws-{key.kid}.json"
    record = json.loads(path.read_text())
    record["purpose"] = "checkpoint"
    path.write_text(json.dumps(record))
    with pytest.raises(KeyStoreError, match=key.kid):
        KeyStore(store.directory, kek).all()


@pytest.mark.parametrize("value, message", [
    (None, "not set"), ("", "not set"), ("not base64!", "not valid base64"),
    (base64.b64encode(b"short").decode(), "32 bytes, not 5"),
])
def test_bad_kek_configuration_is_refused(value, message):
    with pytest.raises(KeyStoreError, match=message):
        parse_kek(value)


def test_ensure_makes_the_signing_keys_once(store):
    made = store.ensure()
    by_purpose = {k.purpose: k for k in made}
    assert by_purpose[KeyPurpose.JWS].algorithm == "ES256"
    assert by_purpose[KeyPurpose.CHECKPOINT].algorithm == "EdDSA"
    assert isinstance(by_purpose[KeyPurpose.CHECKPOINT].private_key, ed25519.Ed25519PrivateKey)
    assert store.ensure() == []
    assert len(store.all()) == len(made)


def test_no_key_means_a_clear_error(store):
    with pytest.raises(KeyStoreError, match="no jws key"):
        store.active(KeyPurpose.JWS)


def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_verifying(store):
    old = store.create(KeyPurpose.JWS)
    old_token = jose.sign({"n": 1}, kid=old.kid, private_key=old.private_key)
    new = store.create(KeyPurpose.JWS)
    assert new.kid != old.kid
    assert store.active(KeyPurpose.JWS).kid == new.kid
    assert [k.kid for k in store.verification_keys(KeyPurpose.JWS)] == [old.kid, new.kid]
    resolve = lambda kid: store.get(kid).public_key  # noqa: E731
    assert jose.verify(old_token, resolve) == {"n": 1}
    new_token = jose.sign({"n": 2}, kid=new.kid, private_key=new.private_key)
    assert jose.verify(new_token, resolve) == {"n": 2}


def test_retire_removes_a_key_from_use(store, kek):
    old = store.create(KeyPurpose.JWS)
    old_token = jose.sign({"n": 1}, kid=old.kid, private_key=old.private_key)
    new = store.create(KeyPurpose.JWS)
    store.retire(old.kid)
    with pytest.raises(UnknownKey, match=old.kid):
        store.get(old.kid)
    assert [k.kid for k in store.verification_keys(KeyPurpose.JWS)] == [new.kid]
    resolve = lambda kid: store.get(kid).public_key  # noqa: E731
    with pytest.raises(TokenError, match=f"unknown key '{old.kid}'"):
        jose.verify(old_token, resolve)
    # Retirement is on disk, not just in this process.
    with pytest.raises(UnknownKey):
        KeyStore(store.directory, kek).get(old.kid)


def test_retiring_the_only_key_leaves_no_active_key(store):
    key = store.create(KeyPurpose.CHECKPOINT)
    store.retire(key.kid)
    with pytest.raises(KeyStoreError, match="no checkpoint key"):
        store.active(KeyPurpose.CHECKPOINT)


def test_unknown_key_ids_are_refused(store):
    store.ensure()
    with pytest.raises(UnknownKey, match="unknown key id 'nope'"):
        store.get("nope")
    with pytest.raises(UnknownKey):
        store.retire("nope")
    assert issubclass(UnknownKey, LookupError)


def test_kid_is_derived_from_the_public_key(store):
    import hashlib

    key = store.create(KeyPurpose.JWS)
    der = key.public_key.public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.kid == base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:16]).rstrip(b"=").decode()


def test_a_key_hands_out_one_public_key_object(tmp_path):
    """Verifiers resolve a key id for every token: the same public key object each time, made once."""
    store = KeyStore(tmp_path, parse_kek(new_kek()))
    key = store.create(KeyPurpose.JWS)
    assert store.get(key.kid).public_key is store.get(key.kid).public_key
    assert store.get(key.kid).public_key == key.private_key.public_key()
