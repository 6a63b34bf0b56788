"""The platform's CA, TSA and seal in the key store: made once, reissued under a rotated root."""

from __future__ import annotations

import base64
import datetime as dt
import os

import pytest
from cryptography import x509

from signing.keys import KeyPurpose, KeyStore, KeyStoreError
from signing.pki import ensure_pki, issued_by, load_pki, rotate_ca


@pytest.fixture
def store(tmp_path) -> KeyStore:
    return KeyStore(tmp_path / "keys", os.urandom(32))


def test_ensure_makes_ca_tsa_and_seal_once(store: KeyStore) -> None:
    made = ensure_pki(store, name="测试平台")
    assert sorted(k.purpose for k in made) == sorted([KeyPurpose.CA, KeyPurpose.TSA, KeyPurpose.DOCUMENT])
    assert ensure_pki(store, name="测试平台") == []
    pki = load_pki(store)
    assert issued_by(pki.tsa.certificate, pki.ca.certificate)
    assert issued_by(pki.seal.certificate, pki.ca.certificate)
    usage = pki.tsa.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert usage.critical and x509.oid.ExtendedKeyUsageOID.TIME_STAMPING in usage.value


def test_private_keys_and_certificates_survive_reopening(tmp_path) -> None:
    kek = os.urandom(32)
    ensure_pki(KeyStore(tmp_path / "keys", kek), name="P")
    first = load_pki(KeyStore(tmp_path / "keys", kek))
    second = load_pki(KeyStore(tmp_path / "keys", kek))
    assert second.ca.certificate == first.ca.certificate
    assert second.seal.kid == first.seal.kid
    with pytest.raises(KeyStoreError, match="wrong KEY_ENCRYPTION_KEY"):
        load_pki(KeyStore(tmp_path / "keys", os.urandom(32)))


def test_rotating_the_ca_reissues_and_keeps_the_old_root_trusted(store: KeyStore) -> None:
    now = dt.datetime.now(dt.UTC)
    ensure_pki(store, name="P", now=now)
    old = load_pki(store)
    made = rotate_ca(store, name="P", now=now)
    assert {k.purpose for k in made} == {KeyPurpose.CA, KeyPurpose.TSA, KeyPurpose.DOCUMENT}
    new = load_pki(store)
    assert new.ca.kid != old.ca.kid
    assert issued_by(new.seal.certificate, new.ca.certificate)
    assert not issued_by(new.seal.certificate, old.ca.certificate)
    assert {c.fingerprint(c.signature_hash_algorithm) for c in new.trust_roots} >= {
        old.ca.certificate.fingerprint(old.ca.certificate.signature_hash_algorithm)}


def test_no_pki_tells_the_operator_what_to_run(store: KeyStore) -> None:
    with pytest.raises(KeyStoreError, match="flask keys ensure"):
        load_pki(store)


def test_sealed_blobs_are_bound_to_their_context(store: KeyStore) -> None:
    sealed = store.seal(b"secret", "user-signing-key|1")
    assert store.unseal(sealed, "user-signing-key|1") == b"secret"
    with pytest.raises(KeyStoreError, match="cannot be opened"):
        store.unseal(sealed, "user-signing-key|2")
    other = KeyStore(store.directory, base64.b64decode(base64.b64encode(os.urandom(32))))
    with pytest.raises(KeyStoreError):
        other.unseal(sealed, "user-signing-key|1")
