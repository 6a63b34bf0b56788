"""The platform's PKI: its CA, its time-stamping unit and its own document seal, kept in the key store.

`ensure_pki` makes whatever is missing (run by `flask keys ensure`). Rotating the CA issues a new
root and new TSA and seal certificates under it; older CA certificates stay trusted for what they
signed until they are retired.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from signing.ca import CertificateAuthority
from signing.keys import KeyPurpose, KeyStore, KeyStoreError, PlatformKey
from signing.timestamps import LocalTimestamper


@dataclass(frozen=True)
class Pki:
    """What signing needs: the active CA, TSA and seal, and every CA certificate still trusted."""

    ca: PlatformKey
    tsa: PlatformKey
    seal: PlatformKey
    trust_roots: list[x509.Certificate]

    @property
    def authority(self) -> CertificateAuthority:
        return CertificateAuthority(certificate=self.ca.certificate, private_key=self.ca.private_key)

    def timestamper(self) -> LocalTimestamper:
        """The platform's own RFC 3161 time-stamping unit."""
        return LocalTimestamper(self.tsa.certificate, self.tsa.private_key, chain=[self.ca.certificate])


def _active_or_none(store: KeyStore, purpose: KeyPurpose) -> PlatformKey | None:
    try:
        return store.active(purpose)
    except KeyStoreError:
        return None


def issued_by(cert: x509.Certificate | None, ca_cert: x509.Certificate) -> bool:
    """Whether `cert` was issued by this very CA key (names can repeat across rotations; key ids don't)."""
    if cert is None:
        return False
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return False
    return aki == ski


def ensure_pki(store: KeyStore, *, name: str, now: dt.datetime | None = None) -> list[PlatformKey]:
    """Make the CA, TSA and seal keys that are missing; returns what it made."""
    now = now or dt.datetime.now(dt.UTC)
    made = []
    ca = _active_or_none(store, KeyPurpose.CA)
    if ca is None:
        authority = CertificateAuthority.create(f"{name} Root CA", now=now, organisation=name)
        ca = store.store(KeyPurpose.CA, authority.private_key, certificate=authority.certificate, now=now)
        made.append(ca)
    authority = CertificateAuthority(certificate=ca.certificate, private_key=ca.private_key)
    for purpose, kind, label in (
        (KeyPurpose.TSA, "timestamping", "Time-Stamping Unit"),
        (KeyPurpose.DOCUMENT, "document_signer", "Document Seal"),
    ):
        current = _active_or_none(store, purpose)
        if current is None or not issued_by(current.certificate, ca.certificate):
            key, cert = authority.issue(f"{name} {label}", organisation=name, kind=kind, now=now)
            made.append(store.store(purpose, key, certificate=cert, now=now))
    return made


def rotate_ca(store: KeyStore, *, name: str, now: dt.datetime | None = None) -> list[PlatformKey]:
    """A new root, with a new TSA and seal under it."""
    now = now or dt.datetime.now(dt.UTC)
    authority = CertificateAuthority.create(f"{name} Root CA", now=now, organisation=name)
    made = [store.store(KeyPurpose.CA, authority.private_key, certificate=authority.certificate, now=now)]
    return made + ensure_pki(store, name=name, now=now)


def load_pki(store: KeyStore) -> Pki:
    """The active PKI, or KeyStoreError telling the operator to run `flask keys ensure`."""
    try:
        return Pki(
            ca=store.active(KeyPurpose.CA),
            tsa=store.active(KeyPurpose.TSA),
            seal=store.active(KeyPurpose.DOCUMENT),
            trust_roots=[k.certificate for k in store.verification_keys(KeyPurpose.CA) if k.certificate],
        )
    except KeyStoreError as exc:
        raise KeyStoreError(
            f"{exc}; run `flask keys ensure` to make the platform's CA, TSA and seal"
        ) from exc
