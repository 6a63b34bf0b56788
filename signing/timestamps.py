"""RFC 3161 time-stamping: an in-process TSA, the TSA selection, and token verification."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from signing.loops import outside_event_loop

# Digest lengths we accept in a message imprint; SHA-1 and MD5 are refused outright.
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}

# A UUID-derived OID (ITU-T X.667, arc 2.25) naming this platform's TSA policy; no registration needed.
DEFAULT_POLICY_OID = "2.25.229341358930411062330718530766331587443"


class TimestampError(Exception):
    """A time-stamp token or response failed a check."""


class TimeStampResp(tsp.TimeStampResp):
    """TimeStampResp with the token OPTIONAL as in RFC 3161 (asn1crypto makes it mandatory)."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def as_asn1_cert(cert: x509.Certificate | asn1_x509.Certificate) -> asn1_x509.Certificate:
    """Convert a cryptography certificate to the asn1crypto form pyHanko speaks."""
    if isinstance(cert, asn1_x509.Certificate):
        return cert
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def build_request(data_digest: bytes, *, hash_algorithm: str = "sha256", cert_req: bool = True) -> bytes:
    """Build a DER TimeStampReq for a digest, with a random nonce."""
    req = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": {"algorithm": hash_algorithm},
                "hashed_message": data_digest,
            },
            "nonce": secrets.randbits(63) | 1,
            "cert_req": cert_req,
        }
    )
    return req.dump()


def token_from_response(response_der: bytes) -> bytes:
    """Return the DER TimeStampToken from a granted TimeStampResp, or raise TimestampError."""
    try:
        resp = TimeStampResp.load(response_der)
        status = resp["status"]["status"].native
    except ValueError as exc:
        raise TimestampError(f"malformed time-stamp response: {exc}") from exc
    if status not in ("granted", "granted_with_mods"):
        text = "; ".join(resp["status"]["status_string"].native or [])
        raise TimestampError(f"time-stamp request refused ({status}): {text or 'no reason given'}")
    return resp["time_stamp_token"].dump()


def _refusal(fail_info: str, text: str) -> TimeStampResp:
    """Build a rejection response carrying a failure bit and a human explanation."""
    return TimeStampResp(
        {
            "status": {
                "status": "rejection",
                "status_string": [text],
                "fail_info": tsp.PKIFailureInfo({fail_info}),
            }
        }
    )


class LocalTimestamper(TimeStamper):
    """An in-process RFC 3161 TSA that is also a pyHanko TimeStamper."""

    def __init__(
        self,
        tsa_cert: x509.Certificate,
        tsa_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
        *,
        chain: Iterable[x509.Certificate] = (),
        clock: Callable[[], datetime] | None = None,
        policy_oid: str = DEFAULT_POLICY_OID,
    ) -> None:
        """Serve tokens signed by ``tsa_key``; ``chain`` is sent along when the requester asks for certs."""
        super().__init__(include_nonce=True)
        if not isinstance(tsa_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise TypeError("TSA key must be an EC or RSA private key")
        self.tsa_cert = as_asn1_cert(tsa_cert)
        self.tsa_key = tsa_key
        self.chain = [as_asn1_cert(c) for c in chain]
        self.clock = clock or (lambda: datetime.now(UTC))
        self.policy_oid = policy_oid

    def respond(self, request_der: bytes) -> bytes:
        """Answer a DER TimeStampReq with a DER TimeStampResp (the body of an HTTP TSA exchange)."""
        try:
            req = tsp.TimeStampReq.load(request_der)
            req.native  # noqa: B018 -- forces a full parse so garbage is refused here, not later
        except ValueError:
            return _refusal("bad_data_format", "request is not a DER TimeStampReq").dump()
        return self.request_tsa_response(req).dump()

    def timestamp_digest(self, data_digest: bytes, hash_algorithm: str = "sha256") -> bytes:
        """Issue a DER TimeStampToken over a digest without going through pyHanko's async API."""
        return token_from_response(self.respond(build_request(data_digest, hash_algorithm=hash_algorithm)))

    def request_tsa_response(self, req: tsp.TimeStampReq) -> TimeStampResp:
        """Check a parsed request and either refuse it or sign a token for it."""
        if req["version"].native != "v1":
            return _refusal("bad_request", "only version 1 requests are supported")
        imprint = req["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if algorithm not in DIGEST_SIZES:
            return _refusal("bad_alg", f"hash algorithm {algorithm} is not accepted")
        if len(imprint["hashed_message"].native) != DIGEST_SIZES[algorithm]:
            return _refusal("bad_data_format", f"digest length does not match {algorithm}")
        requested_policy = req["req_policy"].dotted if req["req_policy"].native is not None else None
        if requested_policy not in (None, self.policy_oid):
            return _refusal("unaccepted_policy", f"policy {requested_policy} is not offered")
        if req["extensions"].native:
            return _refusal("unaccepted_extensions", "request extensions are not supported")
        gen_time = self.clock().astimezone(UTC)
        tst_info = tsp.TSTInfo(
            {
                "version": "v1",
                "policy": self.policy_oid,
                "message_imprint": imprint,
                "serial_number": secrets.randbits(127) | 1,
                "gen_time": gen_time,
                "accuracy": {"seconds": 1},
                "tsa": asn1_x509.GeneralName(name="directory_name", value=self.tsa_cert.subject),
                **({"nonce": req["nonce"]} if req["nonce"].native is not None else {}),
            }
        )
        token = self._sign(tst_info.dump(), gen_time, include_certs=bool(req["cert_req"].native))
        return TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> TimeStampResp:
        """pyHanko's hook: answer in-process."""
        return self.request_tsa_response(req)

    def _sign(self, tst_info_der: bytes, gen_time: datetime, *, include_certs: bool) -> cms.ContentInfo:
        """Wrap TSTInfo in a CMS SignedData signed with the TSA key (SHA-256, whatever the imprint)."""
        digest = hashes.Hash(hashes.SHA256())
        digest.update(tst_info_der)
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(gen_time)})),
                simple_cms_attribute("signing_certificate_v2", as_signing_certificate_v2(self.tsa_cert)),
                simple_cms_attribute("message_digest", digest.finalize()),
            ]
        )
        if isinstance(self.tsa_key, ec.EllipticCurvePrivateKey):
            signature = self.tsa_key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
            sig_alg = "sha256_ecdsa"
        else:
            signature = self.tsa_key.sign(signed_attrs.dump(), padding.PKCS1v15(), hashes.SHA256())
            sig_alg = "sha256_rsa"
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value={"issuer": self.tsa_cert.issuer, "serial_number": self.tsa_cert.serial_number},
                ),
                "digest_algorithm": {"algorithm": "sha256"},
                "signature_algorithm": {"algorithm": sig_alg},
                "signed_attrs": signed_attrs,
                "signature": signature,
            }
        )
        signed_data: dict[str, Any] = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": cms.ParsableOctetString(tst_info_der),
            },
            "signer_infos": [signer_info],
        }
        # RFC 3161 section 2.4.1: the TSA certificate is present if and only if certReq was set.
        if include_certs:
            signed_data["certificates"] = [self.tsa_cert, *self.chain]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


def timestamper_from_config(settings: Mapping[str, Any], *, local: TimeStamper | None = None) -> TimeStamper:
    """Pick the TSA: ``local`` when TIMESTAMP_URL is unset, otherwise an HTTP client for that URL."""
    url = settings.get("TIMESTAMP_URL")
    if url:
        return HTTPTimeStamper(url, timeout=settings.get("TIMESTAMP_TIMEOUT", 10))
    if local is None:
        raise ValueError("TIMESTAMP_URL is not set and no local timestamper was given")
    return local


@outside_event_loop
def verify_timestamp_token(
    token_der: bytes,
    data_digest: bytes,
    trust_roots: Iterable[x509.Certificate | asn1_x509.Certificate],
) -> datetime:
    """Check a token's imprint against ``data_digest`` and its signature chain; return its UTC gen time."""
    try:
        content_info = cms.ContentInfo.load(token_der)
        if content_info["content_type"].native != "signed_data":
            raise TimestampError("time-stamp token is not CMS SignedData")
        signed_data = content_info["content"]
        tst_info = signed_data["encap_content_info"]["content"].parsed
        if not isinstance(tst_info, tsp.TSTInfo):
            raise TimestampError("time-stamp token does not contain a TSTInfo")
        imprint = tst_info["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        hashed = imprint["hashed_message"].native
        gen_time: datetime = tst_info["gen_time"].native
    except (ValueError, KeyError, TypeError) as exc:
        raise TimestampError(f"malformed time-stamp token: {exc}") from exc
    if algorithm not in DIGEST_SIZES:
        raise TimestampError(f"time-stamp token uses unaccepted hash algorithm {algorithm}")
    if not hmac.compare_digest(hashed, data_digest):
        raise TimestampError("time-stamp token was issued for different data (message imprint mismatch)")
    context = ValidationContext(trust_roots=[as_asn1_cert(c) for c in trust_roots], allow_fetching=False)
    try:
        kwargs = asyncio.run(validate_tst_signed_data(signed_data, context, lambda _alg: data_digest))
    except (SignatureValidationError, ValueError) as exc:
        raise TimestampError(f"time-stamp token signature could not be checked: {exc}") from exc
    status = TimestampSignatureStatus(**kwargs)
    if not status.intact or not status.valid:
        raise TimestampError("time-stamp token signature is invalid")
    if not status.trusted:
        raise TimestampError("time-stamp token is not signed by a trusted time-stamping authority")
    return gen_time.astimezone(UTC)
