"""Internal certificate authority issuing document-signing and time-stamping certificates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes, PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

CertKind = Literal["document_signer", "timestamping"]

# id-kp-documentSigning (RFC 9336); NSS (poppler's pdfsig) and Adobe insist on emailProtection instead,
# so document signers carry both.
DOCUMENT_SIGNING_OID = ObjectIdentifier("1.3.6.1.5.5.7.3.36")

CA_VALIDITY = timedelta(days=3652)
SIGNER_VALIDITY = timedelta(days=3 * 365)
TSA_VALIDITY = timedelta(days=5 * 365)
# Certificates start a little in the past so that a validator whose clock lags ours still accepts them.
BACKDATE = timedelta(minutes=5)


def _aware(now: datetime) -> datetime:
    """Refuse naive datetimes: certificate validity is absolute time."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now


def _name(common_name: str, organisation: str | None) -> x509.Name:
    """Build a subject/issuer name from a common name and an optional organisation."""
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    return x509.Name(attrs)


def _new_key() -> ec.EllipticCurvePrivateKey:
    """Generate a fresh P-256 key."""
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class CertificateAuthority:
    """A root CA certificate with its private key."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, name: str, *, now: datetime, organisation: str | None = None) -> CertificateAuthority:
        """Make a self-signed ECDSA P-256 root valid for ten years from ``now``."""
        now = _aware(now)
        key = _new_key()
        subject = _name(name, organisation)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CA_VALIDITY)
            # pathlen 0: this root only ever signs end-entity certificates.
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate=cert, private_key=key)

    def issue(
        self,
        subject_cn: str,
        *,
        organisation: str | None = None,
        kind: CertKind,
        public_key: CertificatePublicKeyTypes | None = None,
        now: datetime,
        validity: timedelta | None = None,
    ) -> tuple[ec.EllipticCurvePrivateKey | None, x509.Certificate]:
        """Issue an end-entity certificate; the key is None when the caller supplied ``public_key``."""
        now = _aware(now)
        if kind not in ("document_signer", "timestamping"):
            raise ValueError(f"unknown certificate kind {kind!r}")
        key = None
        if public_key is None:
            key = _new_key()
            public_key = key.public_key()
        if validity is None:
            validity = SIGNER_VALIDITY if kind == "document_signer" else TSA_VALIDITY
        # An end-entity certificate outliving its issuer would fail path validation after the root expires.
        not_after = min(now + validity, self.certificate.not_valid_after_utc)
        if kind == "document_signer":
            eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING_OID])
            eku_critical = False
        else:
            # RFC 3161 section 2.3: exactly one EKU, timeStamping, and critical.
            eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING])
            eku_critical = True
        ca_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(subject_cn, organisation))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=kind == "document_signer",
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(eku, critical=eku_critical)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
            )
            .sign(self.private_key, hashes.SHA256())
        )
        return key, cert


def certificate_pem(cert: x509.Certificate) -> bytes:
    """Serialise a certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def load_certificate_pem(data: bytes) -> x509.Certificate:
    """Parse a PEM certificate."""
    return x509.load_pem_x509_certificate(data)


def private_bytes_pem(key: PrivateKeyTypes) -> bytes:
    """Serialise a private key as unencrypted PKCS#8 PEM; the key store encrypts it at rest."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_pem(data: bytes) -> PrivateKeyTypes:
    """Parse an unencrypted PEM private key."""
    return serialization.load_pem_private_key(data, password=None)
