"""Offline verification of receipts, exports, consistency proofs and signed PDFs (signing/verify.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verify_fixtures import KID, ORIGIN, RECEIPT_TYPE, Log, b64

from signing import merkle
from signing.ca import CertificateAuthority, certificate_pem
from signing.checkpoint import Checkpoint, sign_checkpoint
from signing.pdf import render_document, sign_pdf
from signing.timestamps import LocalTimestamper
from signing.verify import (
    CompactRange,
    VerificationError,
    jwks_resolver,
    log_vkey_from_jwks,
    verify_consistency,
    verify_log_export,
    verify_pdf,
    verify_receipt,
)


@pytest.fixture(scope="module")
def log() -> Log:
    return Log(13)


def _refused(match: str) -> Any:
    return pytest.raises(VerificationError, match=match)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _raw_token(header: dict[str, Any], payload: dict[str, Any], sign: Any) -> str:
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{_b64url(sign(signing_input.encode()))}"


# --- receipts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "tree_size"), [(0, 13), (6, 13), (12, 13), (0, 1), (4, 5), (7, 8)])
def test_valid_receipt_verifies(log: Log, index: int, tree_size: int) -> None:
    result = verify_receipt(log.receipt(index, tree_size), log.jwks, log.vkey)
    assert result.kid == KID
    assert result.issuer == ORIGIN
    assert (result.index, result.tree_size) == (index, tree_size)
    assert result.kind == log.entries[index]["event"]
    assert result.subject == {"tender": 7, "bid": index}
    assert result.entry == log.entries[index]
    assert result.actor["username"] == f"bidder{index}"
    assert result.checkpoint.size == tree_size
    assert result.root_hash == log.root(tree_size)
    assert result.log_key == "+".join(log.vkey.split("+")[:2])


def test_receipt_with_surrounding_whitespace_verifies(log: Log) -> None:
    assert verify_receipt(f"\n {log.receipt(3)}\n", log.jwks, log.vkey).index == 3


def test_receipt_signed_by_unknown_key_is_refused(log: Log) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = log.sign_receipt(log.receipt_payload(2), key=stranger, kid="stranger")
    with _refused("receipt signature refused: signed by an unknown key 'stranger'"):
        verify_receipt(token, log.jwks, log.vkey)


def test_receipt_signed_by_another_key_under_a_known_kid_is_refused(log: Log) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = log.sign_receipt(log.receipt_payload(2), key=stranger)
    with _refused("receipt signature refused: signature does not verify"):
        verify_receipt(token, log.jwks, log.vkey)


def test_alg_none_is_refused(log: Log) -> None:
    header = {"alg": "none", "kid": KID, "typ": RECEIPT_TYPE}
    token = _raw_token(header, log.receipt_payload(2), lambda _: b"")
    with _refused("algorithm 'none' refused: only ES256"):
        verify_receipt(token, log.jwks, log.vkey)


def test_hs256_keyed_with_the_public_key_is_refused(log: Log) -> None:
    public_pem = log.jws_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = _raw_token(
        {"alg": "HS256", "kid": KID, "typ": RECEIPT_TYPE},
        log.receipt_payload(2),
        lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
    )
    with _refused("algorithm 'HS256' refused"):
        verify_receipt(token, log.jwks, log.vkey)


def test_token_of_another_type_is_not_a_receipt(log: Log) -> None:
    token = log.sign_receipt(log.receipt_payload(2), typ="JWT")
    with _refused("not a receipt: its type is 'JWT'"):
        verify_receipt(token, log.jwks, log.vkey)


def test_altered_entry_is_a_leaf_hash_mismatch(log: Log) -> None:
    payload = log.receipt_payload(4)
    payload["entry"] = payload["entry"].replace('"amount":"1004.00"', '"amount":"9004.00"')
    with _refused("leaf hash mismatch: the entry hashes to .*, the receipt says"):
        verify_receipt(log.sign_receipt(payload), log.jwks, log.vkey)


def test_altered_entry_with_matching_leaf_hash_fails_the_inclusion_proof(log: Log) -> None:
    payload = log.receipt_payload(4)
    payload["entry"] = payload["entry"].replace('"amount":"1004.00"', '"amount":"9004.00"')
    payload["log"]["leaf_hash"] = b64(merkle.leaf_hash(payload["entry"].encode()))
    with _refused("inclusion proof for entry 4 refused: root mismatch"):
        verify_receipt(log.sign_receipt(payload), log.jwks, log.vkey)


def test_non_canonical_entry_is_refused(log: Log) -> None:
    payload = log.receipt_payload(4)
    payload["entry"] = json.dumps(log.entries[4])  # spaces after separators, keys in insertion order
    with _refused("the receipt's entry is not in canonical JSON form"):
        verify_receipt(log.sign_receipt(payload), log.jwks, log.vkey)


def test_entry_of_another_index_is_refused(log: Log) -> None:
    payload = log.receipt_payload(4)
    payload["entry"] = log.bodies[5].decode()
    payload["log"]["leaf_hash"] = b64(log.leaves[5])
    with _refused("the entry's index 5 is not the receipt's 4"):
        verify_receipt(log.sign_receipt(payload), log.jwks, log.vkey)


def test_truncated_proof_is_refused(log: Log) -> None:
    payload = log.receipt_payload(4)
    payload["log"]["inclusion_proof"] = payload["log"]["inclusion_proof"][:-1]
    with _refused("proof for entry 4 refused: inclusion proof is truncated: expected 4 hashes, got 3"):
        verify_receipt(log.sign_receipt(payload), log.jwks, log.vkey)


@pytest.mark.parametrize(
    ("encode", "problem"),
    [
        (lambda raw: raw.hex(), "is 48 bytes, expected 32"),
        (lambda raw: b64(raw).rstrip("="), "is not valid base64"),
        (lambda raw: b64(raw)[:-2] + "B=", "is not in canonical base64"),  # non-zero padding bits
    ],
)
def test_proof_hash_in_another_encoding_is_refused(log: Log, encode: Any, problem: str) -> None:
    payload = log.receipt_payload(4)
    payload["log"]["inclusion_proof"][0] = encode(log.tree.inclusion_proof(4)[0])
    with _refused(f"the receipt's inclusion proof hash 0 {problem}"):
        verify_receipt(log.sign_receipt(payload), log.jwks, log.vkey)


def test_checkpoint_signed_by_another_key_is_refused(log: Log) -> None:
    payload = log.receipt_payload(4)
    payload["checkpoint"] = log.checkpoint(key=Ed25519PrivateKey.generate())
    with _refused("the receipt's checkpoint refused: unknown key: no signature by"):
        verify_receipt(log.sign_receipt(payload), log.jwks, log.vkey)


def test_checkpoint_of_another_size_is_refused(log: Log) -> None:
    payload = log.receipt_payload(4, tree_size=8)
    payload["checkpoint"] = log.checkpoint(9)
    with _refused("the checkpoint's tree size 9 differs from the receipt's tree size 8"):
        verify_receipt(log.sign_receipt(payload), log.jwks, log.vkey)


def test_checkpoint_with_another_root_is_refused(log: Log) -> None:
    payload = log.receipt_payload(4, tree_size=8)
    payload["checkpoint"] = sign_checkpoint(Checkpoint(ORIGIN, 8, log.root(9)), ORIGIN, log.log_key)
    with _refused("the checkpoint's root hash .* differs from the receipt's root hash"):
        verify_receipt(log.sign_receipt(payload), log.jwks, log.vkey)


def test_receipt_issued_for_another_origin_is_refused(log: Log) -> None:
    payload = log.receipt_payload(4)
    payload["iss"] = "elsewhere.example"
    with _refused("the receipt's issuer 'elsewhere.example' is not the log's origin"):
        verify_receipt(log.sign_receipt(payload), log.jwks, log.vkey)


def test_receipt_missing_its_log_object_is_refused(log: Log) -> None:
    payload = log.receipt_payload(4)
    del payload["log"]
    with _refused("the receipt lacks 'log'"):
        verify_receipt(log.sign_receipt(payload), log.jwks, log.vkey)


def test_malformed_log_key_is_refused(log: Log) -> None:
    with _refused("the log key is unusable: malformed verifier key"):
        verify_receipt(log.receipt(1), log.jwks, "not-a-key")


def test_jwks_resolver_knows_only_es256_keys(log: Log) -> None:
    resolve = jwks_resolver(log.jwks)
    assert resolve(KID).public_numbers() == log.jws_key.public_key().public_numbers()
    with pytest.raises(LookupError, match="no key 'nobody'"):
        resolve("nobody")
    with pytest.raises(LookupError, match="not a P-256 key"):
        resolve("log-key")


def test_jwks_resolver_refuses_a_non_es256_ec_key(log: Log) -> None:
    jwk = dict(log.jwks["keys"][1], alg="ES384")
    with pytest.raises(LookupError, match="is for 'ES384'"):
        jwks_resolver({"keys": [jwk]})(KID)


def test_malformed_jwks_is_refused(log: Log) -> None:
    with _refused("the JWKS is malformed"):
        verify_receipt(log.receipt(1), {"keys": "none"}, log.vkey)


def test_log_vkey_from_jwks_names_the_ed25519_key(log: Log) -> None:
    assert log_vkey_from_jwks(log.jwks, ORIGIN) == log.vkey


def test_receipt_verifies_during_a_log_key_rotation(log: Log) -> None:
    newer = Log(0, log_key=Ed25519PrivateKey.generate()).vkey
    result = verify_receipt(log.receipt(2), log.jwks, [newer, log.vkey])
    assert result.log_key == "+".join(log.vkey.split("+")[:2])
    assert verify_receipt(log.receipt(2), log.jwks, f"{newer}\n{log.vkey}\n").index == 2


def test_checkpoint_by_none_of_several_log_keys_is_refused(log: Log) -> None:
    others = [Log(0, log_key=Ed25519PrivateKey.generate()).vkey for _ in range(2)]
    with _refused("the receipt's checkpoint refused: not signed by any of the 2 log keys: unknown key"):
        verify_receipt(log.receipt(2), log.jwks, others)


# --- exports --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(0, 70))
def test_compact_range_root_matches_the_rfc_root(size: int) -> None:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(size)]
    compact = CompactRange()
    for leaf in leaves:
        compact.append(leaf)
    assert compact.root() == merkle.root(leaves)
    assert len(compact._stack) == size.bit_count()


def test_export_verifies(log: Log) -> None:
    calls: list[tuple[int, int]] = []
    result = verify_log_export(log.export_lines(), log.vkey, progress=lambda d, t: calls.append((d, t)))
    assert (result.origin, result.tree_size, result.root_hash) == (ORIGIN, 13, log.root())
    assert result.checkpoint.size == 13 and result.previous is None
    assert calls == [(0, 13), (13, 13)]


def test_export_as_bytes_with_crlf_verifies(log: Log) -> None:
    lines = [line.replace("\n", "\r\n").encode() for line in log.export_lines()]
    assert verify_log_export(lines, log.vkey).tree_size == 13


def test_empty_log_export_verifies(log: Log) -> None:
    result = verify_log_export(log.export_lines(0), log.vkey)
    assert (result.tree_size, result.root_hash) == (0, merkle.EMPTY_ROOT)


def test_export_with_one_entry_changed_is_a_root_mismatch(log: Log) -> None:
    lines = log.export_lines()
    lines[6] = lines[6].replace('"amount":"1005.00"', '"amount":"1006.00"')
    with _refused(
        rf"root mismatch: the 13 entries of the export hash to .*, but the signed checkpoint "
        rf"\('{ORIGIN}' at size 13\) has root"
    ):
        verify_log_export(lines, log.vkey)


def test_export_with_reordered_lines_is_refused(log: Log) -> None:
    lines = log.export_lines()
    lines[4], lines[5] = lines[5], lines[4]
    with _refused("index out of order at line 5: expected 3, found 4"):
        verify_log_export(lines, log.vkey)


def test_export_missing_a_line_is_refused(log: Log) -> None:
    lines = log.export_lines()
    del lines[8]
    with _refused("index out of order at line 9: expected 7, found 8"):
        verify_log_export(lines, log.vkey)


def test_export_missing_its_last_line_is_truncated(log: Log) -> None:
    with _refused("the export is truncated: it has 12 entries, its header and checkpoint say 13"):
        verify_log_export(log.export_lines()[:-1], log.vkey)


def test_export_with_an_extra_line_is_refused(log: Log) -> None:
    lines = [*log.export_lines(12), log.bodies[12].decode() + "\n"]
    with _refused("more entries than its header's tree size 12 \\(extra line 14\\)"):
        verify_log_export(lines, log.vkey)


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda text: json.dumps(json.loads(text)),  # spaces after separators
        lambda text: json.dumps(json.loads(text), separators=(",", ":")),  # keys not sorted
        lambda text: json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True),  # \u escapes
        lambda text: text.replace('"v":1', '"v":1.0'),
        lambda text: " " + text,
    ],
)
def test_non_canonical_line_is_refused(log: Log, rewrite: Any) -> None:
    lines = log.export_lines()
    lines[3] = rewrite(lines[3].rstrip("\n")) + "\n"
    with _refused("line 4 is not in canonical JSON form"):
        verify_log_export(lines, log.vkey)


def test_line_whose_index_is_not_an_integer_is_refused(log: Log) -> None:
    lines = log.export_lines()
    lines[2] = lines[2].replace('"index":1,', '"index":true,')
    with _refused("index out of order at line 3: expected 1, found True"):
        verify_log_export(lines, log.vkey)


def test_line_that_is_not_json_is_refused(log: Log) -> None:
    lines = log.export_lines()
    lines[3] = "{not json\n"
    with _refused("line 4 is not JSON"):
        verify_log_export(lines, log.vkey)


def test_export_without_header_is_refused(log: Log) -> None:
    with _refused("line 1 is not an ebid log export header"):
        verify_log_export(log.export_lines()[1:], log.vkey)
    with _refused("the export is empty"):
        verify_log_export([], log.vkey)


def test_export_header_disagreeing_with_its_checkpoint_is_refused(log: Log) -> None:
    lines = log.export_lines()
    header = json.loads(lines[0])
    header["root_hash"] = b64(log.root(12))
    lines[0] = json.dumps(header) + "\n"
    with _refused("the export's checkpoint has root hash .*, the header says"):
        verify_log_export(lines, log.vkey)


def test_export_checkpoint_by_another_key_is_refused(log: Log) -> None:
    other = Log(13)  # same entries, another key
    with _refused("the export's checkpoint refused: unknown key"):
        verify_log_export(other.export_lines(), log.vkey)


@pytest.mark.parametrize("previous_size", [0, 1, 5, 8, 12, 13])
def test_export_extending_the_previous_checkpoint_verifies(log: Log, previous_size: int) -> None:
    result = verify_log_export(log.export_lines(), log.vkey, log.checkpoint(previous_size))
    assert result.previous is not None and result.previous.size == previous_size


def test_export_not_extending_the_previous_checkpoint_is_refused(log: Log) -> None:
    forked = Log(6, log_key=log.log_key)
    forked.entries[2]["data"]["amount"] = "0.01"  # a log that once said something else at index 2
    forked.leaves[2] = merkle.leaf_hash(json.dumps(forked.entries[2]).encode())
    with _refused(
        rf"the export does not extend the previous checkpoint \('{ORIGIN}' at size 6\): "
        "its first 6 entries hash to .*, the checkpoint says"
    ):
        verify_log_export(log.export_lines(), log.vkey, forked.checkpoint(6))


def test_previous_checkpoint_larger_than_the_export_is_refused(log: Log) -> None:
    with _refused("the export does not extend the previous checkpoint: it has 8 entries, the previous"):
        verify_log_export(log.export_lines(8), log.vkey, log.checkpoint(9))


def test_previous_checkpoint_by_another_key_is_refused(log: Log) -> None:
    with _refused("the previous checkpoint refused: unknown key"):
        verify_log_export(log.export_lines(), log.vkey, log.checkpoint(5, key=Ed25519PrivateKey.generate()))


_SMALL_MEMORY_CHECK = """
import sys, tracemalloc
from pathlib import Path
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verify_fixtures import Log, write_big_export
from signing.verify import verify_log_export

key = Ed25519PrivateKey.generate()
path = Path(sys.argv[1])
size = int(sys.argv[2])
write_big_export(path, size, key)
previous = Log(0, log_key=key).checkpoint(0)  # the empty tree, signed by the same key
calls = []
tracemalloc.start()
with path.open("rb") as lines:
    result = verify_log_export(lines, Log(0, log_key=key).vkey, previous,
                               progress=lambda done, _total: calls.append(done))
_current, peak = tracemalloc.get_traced_memory()
print(result.tree_size, calls[0], calls[-1], len(calls), peak)
"""


def test_export_of_100000_entries_verifies_in_small_memory(tmp_path: Path) -> None:
    # In a process of its own: tracemalloc counts every thread, and in the suite other tests leave
    # threads behind (servers, receivers) whose allocations are not the verifier's.
    import subprocess
    import sys

    size = 100_000
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), str(here.parents[2])])}
    command = [sys.executable, "-c", _SMALL_MEMORY_CHECK, str(tmp_path / "export.jsonl"), str(size)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    tree_size, first, last, count, peak = (int(v) for v in done.stdout.split())
    assert tree_size == size
    assert first == 0 and last == size and count == size // 1024 + 2
    # Holding the leaf hashes alone would take 100,000 x (32-byte bytes object ~ 65 bytes) > 6 MiB,
    # the lines several times that; the fold keeps 17 hashes.
    assert peak < 1 * 1024 * 1024, f"peak traced memory {peak} bytes"


# --- consistency ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), [(0, 13), (1, 13), (4, 13), (5, 13), (7, 8), (8, 13), (13, 13)])
def test_consistency_verifies(log: Log, old: int, new: int) -> None:
    verify_consistency(log.checkpoint(old), log.checkpoint(new), log.consistency(old, new), log.vkey)


def test_consistency_with_an_altered_proof_is_refused(log: Log) -> None:
    proof = log.consistency(5, 13)
    proof[1] = b64(bytes(32))
    with _refused("the log at 13 does not provably extend the checkpoint at 5: .*root mismatch"):
        verify_consistency(log.checkpoint(5), log.checkpoint(13), proof, log.vkey)


def test_consistency_with_a_truncated_proof_is_refused(log: Log) -> None:
    with _refused("does not provably extend the checkpoint at 5: consistency proof is truncated"):
        verify_consistency(log.checkpoint(5), log.checkpoint(13), log.consistency(5, 13)[:-1], log.vkey)


def test_consistency_from_a_forked_checkpoint_is_refused(log: Log) -> None:
    forked = Log(5, log_key=log.log_key)
    forked.leaves[0] = merkle.leaf_hash(b"{}")
    with _refused("does not provably extend the checkpoint at 5: old root mismatch"):
        verify_consistency(forked.checkpoint(5), log.checkpoint(13), log.consistency(5, 13), log.vkey)


def test_consistency_to_a_smaller_tree_is_refused(log: Log) -> None:
    with _refused(r"the new checkpoint \(5 entries\) is smaller than the old one \(8\)"):
        verify_consistency(log.checkpoint(8), log.checkpoint(5), [], log.vkey)


def test_consistency_needs_both_signatures(log: Log) -> None:
    stranger = Ed25519PrivateKey.generate()
    with _refused("the new checkpoint refused: unknown key"):
        verify_consistency(log.checkpoint(5), log.checkpoint(13, key=stranger), log.consistency(5), log.vkey)
    with _refused("the old checkpoint refused: unknown key"):
        verify_consistency(log.checkpoint(5, key=stranger), log.checkpoint(13), log.consistency(5), log.vkey)


# --- PDFs -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("ebid 测试根 CA", now=datetime.now(UTC))


@pytest.fixture(scope="module")
def signed_pdf(ca: CertificateAuthority) -> bytes:
    now = datetime.now(UTC)
    tsa_key, tsa_cert = ca.issue("ebid TSA", kind="timestamping", now=now)
    signer_key, signer_cert = ca.issue(
        "张三", organisation="某某招标代理有限公司", kind="document_signer", now=now
    )
    assert tsa_key is not None and signer_key is not None
    document = render_document("招标公告", ["本项目采用电子招标方式。"], None, lang="zh")
    return sign_pdf(
        document,
        signer_key=signer_key,
        signer_cert=signer_cert,
        ca_cert=ca.certificate,
        timestamper=LocalTimestamper(tsa_cert, tsa_key, chain=[ca.certificate]),
        field_name="agency",
        signer_label="张三 某某招标代理有限公司",
        certify=True,
        reason="招标公告发布",
    )


def test_signed_pdf_verifies(ca: CertificateAuthority, signed_pdf: bytes) -> None:
    (report,) = verify_pdf(signed_pdf, certificate_pem(ca.certificate))
    assert report.ok and report.coverage == "entire_file"
    assert report.signer_common_name == "张三" and report.time_from_timestamp


def test_pdf_with_a_flipped_byte_is_refused(ca: CertificateAuthority, signed_pdf: bytes) -> None:
    tampered = bytearray(signed_pdf)
    tampered[tampered.index(b"ReportLab Generated PDF document")] ^= 0x01  # inside the signed range
    with _refused("1 of 1 signatures failed. agency: The document was changed after 张三 signed it") as info:
        verify_pdf(bytes(tampered), certificate_pem(ca.certificate))
    (report,) = info.value.reports
    assert not report.intact


def test_pdf_with_bytes_appended_is_modified_after_signing(
    ca: CertificateAuthority, signed_pdf: bytes
) -> None:
    with _refused(r"modified after signing: 19 bytes after the end of the last signature \(agency\)") as info:
        verify_pdf(signed_pdf + b"% appended comment\n", certificate_pem(ca.certificate))
    assert info.value.reports is not None and info.value.reports[0].intact


def test_pdf_unreadable_after_appended_bytes_is_modified_after_signing(
    ca: CertificateAuthority, signed_pdf: bytes
) -> None:
    # pyHanko cannot read a file ending in a second %%EOF without a startxref; the signed prefix still reads.
    with _refused(r"modified after signing: 6 bytes after the end of the last signature \(agency\)") as info:
        verify_pdf(signed_pdf + b"%%EOF\n", certificate_pem(ca.certificate))
    assert info.value.reports is not None and info.value.reports[0].ok


def test_pdf_under_another_ca_is_untrusted(signed_pdf: bytes) -> None:
    other = CertificateAuthority.create("another CA", now=datetime.now(UTC))
    with _refused("does not chain to a trusted root"):
        verify_pdf(signed_pdf, certificate_pem(other.certificate))


def test_unsigned_pdf_is_refused(ca: CertificateAuthority) -> None:
    with _refused("the PDF has no signatures"):
        verify_pdf(render_document("t", ["p"], None, lang="en"), certificate_pem(ca.certificate))


def test_unreadable_ca_is_refused(signed_pdf: bytes) -> None:
    with _refused("the CA file holds no readable PEM certificate"):
        verify_pdf(signed_pdf, b"not a certificate")
