"""The internal CA issues certificates with the extensions PDF and TSA validators look for."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing.ca import (
    DOCUMENT_SIGNING_OID,
    CertificateAuthority,
    certificate_pem,
    load_certificate_pem,
    load_private_pem,
    private_bytes_pem,
)

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("ebid 测试根 CA", now=NOW, organisation="ebid")


def _ext(cert: x509.Certificate, cls: type) -> x509.Extension:
    return cert.extensions.get_extension_for_class(cls)


def test_root_is_a_self_signed_p256_ca(ca: CertificateAuthority) -> None:
    cert = ca.certificate
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    assert cert.subject == cert.issuer
    cert.verify_directly_issued_by(cert)
    bc = _ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
    assert _ext(cert, x509.SubjectKeyIdentifier).value.digest
    assert cert.not_valid_after_utc - NOW >= timedelta(days=3650)
    assert cert.not_valid_before_utc <= NOW
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ebid 测试根 CA"


def test_document_signer_certificate(ca: CertificateAuthority) -> None:
    key, cert = ca.issue("张三", organisation="某某招标代理有限公司", kind="document_signer", now=NOW)
    assert key is not None
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    cert.verify_directly_issued_by(ca.certificate)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "某某招标代理有限公司"
    assert not _ext(cert, x509.BasicConstraints).value.ca
    ku = _ext(cert, x509.KeyUsage).value
    assert ku.digital_signature and ku.content_commitment and not ku.key_cert_sign
    eku = _ext(cert, x509.ExtendedKeyUsage)
    assert not eku.critical
    assert set(eku.value) == {ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING_OID}
    aki = _ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(ca.certificate, x509.SubjectKeyIdentifier).value.digest
    assert _ext(cert, x509.SubjectKeyIdentifier).value.digest


def test_timestamping_certificate_has_only_critical_timestamping_eku(ca: CertificateAuthority) -> None:
    _key, cert = ca.issue("ebid TSA", kind="timestamping", now=NOW)
    eku = _ext(cert, x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    ku = _ext(cert, x509.KeyUsage).value
    assert ku.digital_signature and not ku.content_commitment


def test_issue_for_a_callers_public_key_returns_no_private_key(ca: CertificateAuthority) -> None:
    own = ec.generate_private_key(ec.SECP256R1())
    key, cert = ca.issue("李四", kind="document_signer", public_key=own.public_key(), now=NOW)
    assert key is None
    assert cert.public_key().public_numbers() == own.public_key().public_numbers()


def test_end_entity_never_outlives_the_root(ca: CertificateAuthority) -> None:
    _key, cert = ca.issue("late", kind="document_signer", now=NOW, validity=timedelta(days=20 * 365))
    assert cert.not_valid_after_utc == ca.certificate.not_valid_after_utc


def test_naive_time_and_unknown_kind_are_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CertificateAuthority.create("x", now=datetime(2025, 1, 1))  # noqa: DTZ001 -- the point of the test
    with pytest.raises(ValueError, match="unknown certificate kind"):
        ca.issue("x", kind="code_signing", now=NOW)  # type: ignore[arg-type]


def test_pem_round_trips(ca: CertificateAuthority) -> None:
    pem = private_bytes_pem(ca.private_key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_private_pem(pem)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers() == ca.private_key.private_numbers()
    assert load_certificate_pem(certificate_pem(ca.certificate)) == ca.certificate
