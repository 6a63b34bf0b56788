"""The in-process RFC 3161 TSA answers like a real one, and its tokens verify only for their data."""

import asyncio
import hashlib
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from pyhanko.sign.timestamps import HTTPTimeStamper

from signing.ca import CertificateAuthority, certificate_pem
from signing.timestamps import (
    DEFAULT_POLICY_OID,
    LocalTimestamper,
    TimestampError,
    TimeStampResp,
    build_request,
    timestamper_from_config,
    token_from_response,
    verify_timestamp_token,
)

NOW = datetime.now(UTC).replace(microsecond=0)
GEN_TIME = NOW + timedelta(seconds=30)
DATA = "开标记录 checkpoint 42".encode()
DIGEST = hashlib.sha256(DATA).digest()


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("ebid TSA test root", now=NOW)


@pytest.fixture(scope="module")
def tsa(ca: CertificateAuthority) -> LocalTimestamper:
    key, cert = ca.issue("ebid TSA", organisation="ebid", kind="timestamping", now=NOW)
    assert key is not None
    return LocalTimestamper(cert, key, chain=[ca.certificate], clock=lambda: GEN_TIME)


def _status(response_der: bytes) -> tuple[str, set[str]]:
    status = TimeStampResp.load(response_der)["status"]
    return status["status"].native, status["fail_info"].native or set()


def test_token_verifies_and_carries_the_tsa_time(tsa: LocalTimestamper, ca: CertificateAuthority) -> None:
    token = tsa.timestamp_digest(DIGEST)
    gen_time = verify_timestamp_token(token, DIGEST, [ca.certificate])
    assert gen_time == GEN_TIME
    assert gen_time.tzinfo is not None and gen_time.utcoffset() == timedelta(0)


def test_token_for_other_data_is_refused(tsa: LocalTimestamper, ca: CertificateAuthority) -> None:
    token = tsa.timestamp_digest(DIGEST)
    with pytest.raises(TimestampError, match="different data"):
        verify_timestamp_token(token, hashlib.sha256(b"other data").digest(), [ca.certificate])


def test_token_from_an_untrusted_tsa_is_refused(tsa: LocalTimestamper) -> None:
    stranger = CertificateAuthority.create("someone else", now=NOW)
    with pytest.raises(TimestampError, match="not signed by a trusted"):
        verify_timestamp_token(tsa.timestamp_digest(DIGEST), DIGEST, [stranger.certificate])


def test_token_with_a_forged_signature_is_refused(tsa: LocalTimestamper, ca: CertificateAuthority) -> None:
    token = cms.ContentInfo.load(tsa.timestamp_digest(DIGEST))
    signer_info = token["content"]["signer_infos"][0]
    signature = bytearray(signer_info["signature"].native)
    signature[-1] ^= 0x01
    signer_info["signature"] = bytes(signature)
    with pytest.raises(TimestampError, match="invalid|could not be checked"):
        verify_timestamp_token(token.dump(force=True), DIGEST, [ca.certificate])


def test_garbage_token_is_refused(ca: CertificateAuthority) -> None:
    with pytest.raises(TimestampError, match="malformed"):
        verify_timestamp_token(b"\x30\x03\x02\x01\x01", DIGEST, [ca.certificate])


def test_response_echoes_nonce_policy_and_includes_certs_on_request(tsa: LocalTimestamper) -> None:
    request = tsp.TimeStampReq.load(build_request(DIGEST))
    response = TimeStampResp.load(tsa.respond(request.dump()))
    assert response["status"]["status"].native == "granted"
    signed_data = response["time_stamp_token"]["content"]
    info = signed_data["encap_content_info"]["content"].parsed
    assert info["nonce"].native == request["nonce"].native
    assert info["policy"].dotted == DEFAULT_POLICY_OID
    assert info["message_imprint"]["hashed_message"].native == DIGEST
    subjects = {c.chosen.subject.native["common_name"] for c in signed_data["certificates"]}
    assert subjects == {"ebid TSA", "ebid TSA test root"}


def test_certificates_are_left_out_unless_requested(tsa: LocalTimestamper) -> None:
    response = TimeStampResp.load(tsa.respond(build_request(DIGEST, cert_req=False)))
    assert response["time_stamp_token"]["content"]["certificates"].native is None


@pytest.mark.parametrize(
    ("request_der", "fail_info"),
    [
        (b"not a request", "bad_data_format"),
        (build_request(b"short"), "bad_data_format"),
        (build_request(hashlib.sha1(DATA).digest(), hash_algorithm="sha1"), "bad_alg"),  # noqa: S324
    ],
    # Named, not shown: the requests carry random nonces, and pytest-xdist needs every worker to
    # collect the same test ids.
    ids=["not-a-request", "short-digest", "sha1"],
)
def test_bad_requests_are_rejected(tsa: LocalTimestamper, request_der: bytes, fail_info: str) -> None:
    response = tsa.respond(request_der)
    assert _status(response) == ("rejection", {fail_info})
    with pytest.raises(TimestampError, match="refused"):
        token_from_response(response)


def test_unknown_policy_is_rejected(tsa: LocalTimestamper) -> None:
    request = tsp.TimeStampReq.load(build_request(DIGEST))
    request["req_policy"] = "1.2.3.4"
    assert _status(tsa.respond(request.dump(force=True))) == ("rejection", {"unaccepted_policy"})


def test_pyhanko_can_use_it_as_its_timestamper(tsa: LocalTimestamper, ca: CertificateAuthority) -> None:
    token = asyncio.run(tsa.async_timestamp(DIGEST, "sha256"))
    assert verify_timestamp_token(token.dump(), DIGEST, [ca.certificate]) == GEN_TIME


def test_openssl_accepts_the_response(
    tsa: LocalTimestamper, ca: CertificateAuthority, tmp_path: Path
) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is missing: apt-get install openssl")
    (tmp_path / "data.bin").write_bytes(DATA)
    (tmp_path / "ca.pem").write_bytes(certificate_pem(ca.certificate))
    (tmp_path / "reply.tsr").write_bytes(tsa.respond(build_request(DIGEST)))
    verify = ["openssl", "ts", "-verify", "-in", "reply.tsr", "-CAfile", "ca.pem", "-data"]
    good = subprocess.run([*verify, "data.bin"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert good.returncode == 0 and "Verification: OK" in good.stdout, good.stderr
    (tmp_path / "other.bin").write_bytes(b"other")
    bad = subprocess.run([*verify, "other.bin"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "message imprint mismatch" in bad.stderr


def test_config_selects_local_or_http(tsa: LocalTimestamper) -> None:
    assert timestamper_from_config({"TIMESTAMP_URL": None}, local=tsa) is tsa
    remote = timestamper_from_config({"TIMESTAMP_URL": "http://tsa.example/tsr"}, local=tsa)
    assert isinstance(remote, HTTPTimeStamper)
    assert remote.url == "http://tsa.example/tsr"
    with pytest.raises(ValueError, match="no local timestamper"):
        timestamper_from_config({"TIMESTAMP_URL": None})
