"""The platform's own keys: made by a CLI command, kept encrypted at rest, rotated by purpose.

Each key lives in one JSON file under `KEY_DIR`: its id, purpose, algorithm, creation time, public
half, and private half sealed with AES-256-GCM under the key-encryption key (KEK) from
configuration, the key id and purpose bound as associated data. The newest key of a purpose signs;
older ones stay to verify what they signed until they are retired.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyPurpose(StrEnum):
    """What a platform key is for."""

    #: ES256 (ECDSA P-256): receipts, callbacks, API tokens.
    JWS = "jws"
    #: Ed25519: audit-log checkpoints.
    CHECKPOINT = "checkpoint"
    #: ECDSA P-256 root of the internal certificate authority (signing/pki.py).
    CA = "ca"
    #: ECDSA P-256 key of the platform's RFC 3161 time-stamping unit, certified by the CA.
    TSA = "tsa"
    #: ECDSA P-256 key of the platform's own seal on the documents it issues, certified by the CA.
    DOCUMENT = "document"


ALGORITHMS = {KeyPurpose.JWS: "ES256", KeyPurpose.CHECKPOINT: "EdDSA", KeyPurpose.CA: "ES256",
              KeyPurpose.TSA: "ES256", KeyPurpose.DOCUMENT: "ES256"}
#: Purposes whose keys `ensure` makes on its own; the others come with a certificate (signing/pki.py).
PLAIN_PURPOSES = (KeyPurpose.JWS, KeyPurpose.CHECKPOINT)


class KeyStoreError(RuntimeError):
    """A key store that is missing, unreadable, or sealed under another KEK."""


class UnknownKey(KeyStoreError, LookupError):
    """No usable key has that id."""


@dataclass(frozen=True)
class PlatformKey:
    """One key: its id, purpose, algorithm and the private key object."""

    kid: str
    purpose: KeyPurpose
    algorithm: str
    created_at: dt.datetime
    private_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    retired: bool = False
    certificate: x509.Certificate | None = None
    sequence: int = 0

    @functools.cached_property
    def public_key(self):
        """The public half, made once per key (a verifier looks it up for every token it checks)."""
        return self.private_key.public_key()

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def parse_kek(value: str | bytes | None) -> bytes:
    """The 32-byte KEK from its base64 form in configuration."""
    if not value:
        raise KeyStoreError("KEY_ENCRYPTION_KEY is not set: the platform's keys cannot be opened")
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError) as exc:
        raise KeyStoreError("KEY_ENCRYPTION_KEY is not valid base64") from exc
    if len(raw) != 32:
        raise KeyStoreError(f"KEY_ENCRYPTION_KEY must decode to 32 bytes, not {len(raw)}")
    return raw


def new_kek() -> str:
    """A fresh KEK in its configuration form."""
    return base64.b64encode(os.urandom(32)).decode()


def _kid(public_der: bytes) -> str:
    # The kid is derived from the public key so anyone can recompute it from the JWKS.
    return base64.urlsafe_b64encode(hashlib.sha256(public_der).digest()[:16]).rstrip(b"=").decode()


class KeyStore:
    """Platform keys in a directory, sealed under a KEK."""

    def __init__(self, directory: Path, kek: bytes) -> None:
        self.directory = Path(directory)
        self._aead = AESGCM(kek)
        self._cache: dict[str, PlatformKey] | None = None

    @classmethod
    def from_config(cls, config) -> KeyStore:
        return cls(Path(config["KEY_DIR"]), parse_kek(config.get("KEY_ENCRYPTION_KEY")))

    # -- making keys ---------------------------------------------------------------------------
    def create(self, purpose: KeyPurpose, *, now: dt.datetime | None = None) -> PlatformKey:
        """Make a new key for `purpose`; it becomes the active one."""
        private = ed25519.Ed25519PrivateKey.generate() if purpose == KeyPurpose.CHECKPOINT \
            else ec.generate_private_key(ec.SECP256R1())
        return self.store(purpose, private, now=now)

    def store(self, purpose: KeyPurpose, private, *, certificate: x509.Certificate | None = None,
              now: dt.datetime | None = None) -> PlatformKey:
        """Keep a key (and its certificate) sealed under the KEK; it becomes the active one."""
        public_der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        kid = _kid(public_der)
        created = now or dt.datetime.now(dt.UTC)
        pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        # The sequence orders keys made within the same instant (a CA rotation and its reissues).
        sequence = max((k.sequence for k in self.all()), default=0) + 1
        record = {
            "kid": kid, "purpose": purpose.value, "algorithm": ALGORITHMS[purpose],
            "created_at": created.isoformat(), "sequence": sequence, "retired": False,
            "public_spki": base64.b64encode(public_der).decode(),
            "sealed_private": base64.b64encode(self.seal(pkcs8, f"{kid}|{purpose.value}")).decode(),
        }
        if certificate is not None:
            record["certificate_pem"] = certificate.public_bytes(serialization.Encoding.PEM).decode()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / f"{purpose.value}-{kid}.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh, indent=1)
        os.replace(tmp, path)
        self._cache = None
        return self.get(kid)

    def seal(self, data: bytes, context: str) -> bytes:
        """AES-256-GCM under the KEK, bound to `context` (nonce || ciphertext)."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, context.encode())

    def unseal(self, blob: bytes, context: str) -> bytes:
        """The plaintext of `seal`, or KeyStoreError if the KEK or context differ."""
        try:
            return self._aead.decrypt(blob[:12], blob[12:], context.encode())
        except Exception as exc:  # cryptography raises InvalidTag
            raise KeyStoreError(f"sealed data for {context!r} cannot be opened: wrong KEY_ENCRYPTION_KEY "
                                "or damaged") from exc

    def ensure(self) -> list[PlatformKey]:
        """Make a key for every purpose that has none; return the ones made."""
        made = []
        for purpose in PLAIN_PURPOSES:
            if not any(k.purpose == purpose for k in self.all()):
                made.append(self.create(purpose))
        return made

    def retire(self, kid: str) -> None:
        """Stop using a key for anything, even verification."""
        path = self._path(kid)
        record = json.loads(path.read_text())
        record["retired"] = True
        path.write_text(json.dumps(record, indent=1))
        self._cache = None

    # -- reading keys --------------------------------------------------------------------------
    def all(self) -> list[PlatformKey]:
        """Every key, oldest first."""
        if self._cache is None:
            keys = {}
            if self.directory.is_dir():
                for path in sorted(self.directory.glob("*.json")):
                    key = self._load(json.loads(path.read_text()))
                    keys[key.kid] = key
            self._cache = keys
        return sorted(self._cache.values(), key=lambda k: (k.created_at, k.sequence))

    def active(self, purpose: KeyPurpose) -> PlatformKey:
        """The newest unretired key for `purpose`."""
        candidates = [k for k in self.all() if k.purpose == purpose and not k.retired]
        if not candidates:
            raise KeyStoreError(f"no {purpose.value} key: run `flask keys create`")
        return candidates[-1]

    def get(self, kid: str) -> PlatformKey:
        """A key by id, for verification; retired keys are not returned."""
        if self._cache is None:
            self.all()
        key = self._cache.get(kid) if self._cache else None
        if key is None or key.retired:
            raise UnknownKey(f"unknown key id {kid!r}")
        return key

    def verification_keys(self, purpose: KeyPurpose) -> list[PlatformKey]:
        """Every unretired key of a purpose (published in the JWKS)."""
        return [k for k in self.all() if k.purpose == purpose and not k.retired]

    def _path(self, kid: str) -> Path:
        matches = list(self.directory.glob(f"*-{kid}.json"))
        if len(matches) != 1:
            raise UnknownKey(f"unknown key id {kid!r}")
        return matches[0]

    def _load(self, record: dict) -> PlatformKey:
        blob = base64.b64decode(record["sealed_private"])
        try:
            pkcs8 = self.unseal(blob, f"{record['kid']}|{record['purpose']}")
        except KeyStoreError as exc:
            raise KeyStoreError(
                f"key {record['kid']} cannot be opened: wrong KEY_ENCRYPTION_KEY or a damaged file") from exc
        cert_pem = record.get("certificate_pem")
        return PlatformKey(
            kid=record["kid"], purpose=KeyPurpose(record["purpose"]), algorithm=record["algorithm"],
            created_at=dt.datetime.fromisoformat(record["created_at"]),
            private_key=serialization.load_der_private_key(pkcs8, password=None),
            retired=bool(record.get("retired")),
            certificate=x509.load_pem_x509_certificate(cert_pem.encode()) if cert_pem else None,
            sequence=int(record.get("sequence", 0)),
        )
