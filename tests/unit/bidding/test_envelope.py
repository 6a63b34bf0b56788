"""The envelope of docs/envelope.md: sealing, the streaming parser, every bad input it can see, opening.

Also the test vectors (`envelope_vectors.json`, for the browser's implementation) and the check that
`cryptography`'s HPKE is RFC 9180 base mode with an empty aad, against the RFC's own vector.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import random
import struct
import threading
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bidding import envelope as env
from bidding.envelope import (
    END,
    MAGIC,
    EnvelopeError,
    EnvelopeInfo,
    EnvelopeReader,
    Header,
    Recipient,
    Trailer,
    check_header,
    commitment,
    kid_of,
    open_envelope,
    raw_public,
    read_envelope_info,
    read_header,
    seal,
    signed_statement,
    unwrap,
    verify_signature,
    wrap_data_key,
    wrap_info,
)
from bidding.package import verify_package, write_package
from signing.canonical import canonical_json

VECTORS = Path(__file__).with_name("envelope_vectors.json")
BIDDER = "91350100MA000001XY"
CREATED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _seed(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


OPENING = X25519PrivateKey.from_private_bytes(_seed("opening key"))
BIDDER_X = X25519PrivateKey.from_private_bytes(_seed("bidder x25519"))
BIDDER_E = Ed25519PrivateKey.from_private_bytes(_seed("bidder ed25519"))
OTHER_X = X25519PrivateKey.from_private_bytes(_seed("another x25519"))
OTHER_E = Ed25519PrivateKey.from_private_bytes(_seed("another ed25519"))


def bid_for(tender: int = 7, lot: int = 1, bidder: str = BIDDER, version: int = 1) -> dict[str, Any]:
    return {"v": version, "tender": tender, "lot": lot, "bidder": bidder,
            "price": {"amount": "11850000.00", "currency": "CNY"}, "duration_days": 540,
            "criteria": {"施工组织设计": "见 documents/technical.pdf", "企业信誉与业绩": "三项同类工程"}}


def make_package(tender: int = 7, lot: int = 1, documents: list[tuple[str, bytes]] | None = None,
                 version: int = 1) -> tuple[bytes, dict]:
    out = io.BytesIO()
    docs = documents if documents is not None else [("technical.pdf", b"%PDF-1.7 technical proposal\n" * 40)]
    written = write_package(out, bid_for(tender, lot, version=version),
                            [(name, io.BytesIO(data)) for name, data in docs])
    return out.getvalue(), written


def do_seal(package: bytes, *, chunk_size: int = 4096, tender: int = 7, lot: int = 1, bidder: str = BIDDER,
            **kwargs: Any) -> tuple[bytes, EnvelopeInfo]:
    out = io.BytesIO()
    info = seal(io.BytesIO(package), out, tender=tender, lot=lot, bidder=bidder,
                opening_public=raw_public(OPENING), bidder_public=raw_public(BIDDER_X), signing_key=BIDDER_E,
                chunk_size=chunk_size, created=CREATED, **kwargs)
    return out.getvalue(), info


def parse(data: bytes, **kwargs: Any) -> EnvelopeInfo:
    return read_envelope_info(io.BytesIO(data), **kwargs)


def refused(data: bytes, match: str, **kwargs: Any) -> None:
    with pytest.raises(EnvelopeError, match=match):
        parse(data, **kwargs)


def layout(data: bytes) -> tuple[int, list[tuple[int, int, int]], int]:
    """(header length, [(offset, flag, length)] per chunk record, trailer offset), walked independently."""
    header_length = struct.unpack(">I", data[8:12])[0]
    pos, chunks = 12 + header_length, []
    while True:
        flag, length = data[pos], struct.unpack(">I", data[pos + 1:pos + 5])[0]
        chunks.append((pos, flag, length))
        pos += 5 + length
        if flag == 1:
            return header_length, chunks, pos


def records(data: bytes) -> list[bytes]:
    _, chunks, _ = layout(data)
    return [data[offset:offset + 5 + length] for offset, _flag, length in chunks]


def assemble(header: Header, chunk_records: list[bytes], c: str, key: Ed25519PrivateKey = BIDDER_E) -> bytes:
    """An envelope from its parts, signed: for envelopes seal() would never make."""
    body = header.prefix + b"".join(chunk_records)
    envelope_hash = hashlib.sha256(body).hexdigest()
    signer = kid_of(raw_public(key))
    unsigned = EnvelopeInfo(header, Trailer(c, signer, b"", b""), envelope_hash, "", 0, 0, 0)
    return body + Trailer.build(c, signer, key.sign(signed_statement(unsigned))).record


def record(flag: int, body: bytes) -> bytes:
    return struct.pack(">BI", flag, len(body)) + body


@pytest.fixture(scope="module")
def package() -> tuple[bytes, dict]:
    return make_package()


@pytest.fixture(scope="module")
def sealed(package: tuple[bytes, dict]) -> tuple[bytes, EnvelopeInfo]:
    return do_seal(package[0])


# --- HPKE: cryptography's suite is RFC 9180 base mode, single shot, aad "" -------------------------------
# A reference implementation of RFC 9180 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-GCM, base mode),
# checked against the RFC's test vector A.1.1. It can take a fixed ephemeral key, which
# cryptography cannot, so it also makes the deterministic test vectors below.


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out, counter = out + block, counter + 1
    return out[:length]


def _labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite + label + ikm)


def _labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _expand(prk, struct.pack(">H", length) + b"HPKE-v1" + suite + label + info, length)


KEM_SUITE = b"KEM" + struct.pack(">H", 0x20)


def _hpke_suite(aead_id: int) -> bytes:
    return b"HPKE" + struct.pack(">HHH", 0x20, 1, aead_id)


def ref_shared_secret(dh: bytes, enc: bytes, pk_r: bytes) -> bytes:
    eae_prk = _labeled_extract(KEM_SUITE, b"", b"eae_prk", dh)
    return _labeled_expand(KEM_SUITE, eae_prk, b"shared_secret", enc + pk_r, 32)


def ref_key_schedule(shared: bytes, info: bytes, aead_id: int) -> tuple[bytes, bytes]:
    suite = _hpke_suite(aead_id)
    context = (b"\x00" + _labeled_extract(suite, b"", b"psk_id_hash", b"")
               + _labeled_extract(suite, b"", b"info_hash", info))
    secret = _labeled_extract(suite, shared, b"secret", b"")
    key_size = {1: 16, 2: 32}[aead_id]
    return (_labeled_expand(suite, secret, b"key", context, key_size),
            _labeled_expand(suite, secret, b"base_nonce", context, 12))


def ref_seal(pk_r: bytes, info: bytes, aad: bytes, plaintext: bytes, ephemeral: X25519PrivateKey,
             aead_id: int = 2) -> tuple[bytes, bytes]:
    """RFC 9180 single-shot Seal in base mode: (enc, ct)."""
    enc = raw_public(ephemeral)
    shared = ref_shared_secret(ephemeral.exchange(X25519PublicKey.from_public_bytes(pk_r)), enc, pk_r)
    key, nonce = ref_key_schedule(shared, info, aead_id)
    return enc, AESGCM(key).encrypt(nonce, plaintext, aad)


def ref_open(sk_r: X25519PrivateKey, enc: bytes, info: bytes, aad: bytes, ct: bytes) -> bytes:
    shared = ref_shared_secret(sk_r.exchange(X25519PublicKey.from_public_bytes(enc)), enc, raw_public(sk_r))
    key, nonce = ref_key_schedule(shared, info, 2)
    return AESGCM(key).decrypt(nonce, ct, aad)


def test_the_reference_hpke_matches_rfc_9180_appendix_a_1_1() -> None:
    h = bytes.fromhex
    sk_e = X25519PrivateKey.from_private_bytes(
        h("52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736"))
    pk_r = h("3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d")
    info = h("4f6465206f6e2061204772656369616e2055726e")
    enc = raw_public(sk_e)
    assert enc.hex() == "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431"
    shared = ref_shared_secret(sk_e.exchange(X25519PublicKey.from_public_bytes(pk_r)), enc, pk_r)
    assert shared.hex() == "fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc"
    key, nonce = ref_key_schedule(shared, info, 1)
    assert key.hex() == "4531685d41d65f03dc48f6b8302c05b0"
    assert nonce.hex() == "56d890e5accaaf011cff4b7d"
    plaintext = h("4265617574792069732074727574682c20747275746820626561757479")
    _, ct = ref_seal(pk_r, info, h("436f756e742d30"), plaintext, sk_e, aead_id=1)
    assert ct.hex() == ("f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a9"
                        "6d8770ac83d07bea87e13c512a")


def test_cryptography_hpke_is_rfc_9180_base_mode_single_shot_with_an_empty_aad() -> None:
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    info, data_key = wrap_info(7, 1, BIDDER), os.urandom(32)
    ephemeral = X25519PrivateKey.generate()
    enc, ct = ref_seal(raw_public(OPENING), info, b"", data_key, ephemeral)
    assert suite.decrypt(enc + ct, OPENING, info=info) == data_key
    with pytest.raises(InvalidTag):  # the aad really is empty: any other fails
        with_aad = ref_seal(raw_public(OPENING), info, b"x", data_key, ephemeral)[1]
        suite.decrypt(enc + with_aad, OPENING, info=info)
    blob = suite.encrypt(data_key, OPENING.public_key(), info=info)
    assert len(blob) == 32 + 48
    assert ref_open(OPENING, blob[:32], info, b"", blob[32:]) == data_key
    enc, ct = wrap_data_key(data_key, raw_public(BIDDER_X), info)
    assert ref_open(BIDDER_X, enc, info, b"", ct) == data_key


# --- sealing and opening ---------------------------------------------------------------------------------


def test_kid_is_the_sha256_of_the_raw_public_key() -> None:
    assert kid_of(raw_public(OPENING)) == hashlib.sha256(raw_public(OPENING)).hexdigest()
    with pytest.raises(ValueError, match="32 bytes"):
        kid_of(b"short")


def test_seal_then_open_with_either_key_gives_back_the_bid(package, sealed) -> None:
    data, info = sealed
    parsed = parse(data)
    assert parsed == info
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.size == len(data)
    assert info.package_size == len(package[0])
    assert data.startswith(MAGIC) and data.endswith(END)
    header = parsed.header
    assert (header.tender, header.lot, header.bidder) == (7, 1, BIDDER)
    assert header.kid == kid_of(raw_public(OPENING))
    assert [r.role for r in header.recipients] == ["opening", "bidder"]
    assert header.recipient("bidder").kid == kid_of(raw_public(BIDDER_X))
    assert header.created == "2026-12-01T08:00:00Z" and header.created_at == CREATED
    verify_signature(parsed, raw_public(BIDDER_E))
    for role, key in (("bidder", BIDDER_X), ("opening", OPENING)):
        out = io.BytesIO()
        opened = open_envelope(io.BytesIO(data), unwrap(header, key, role), out)
        assert out.getvalue() == package[0]
        assert opened.bid == package[1]
        assert opened.package_sha256 == hashlib.sha256(package[0]).hexdigest()
        package_hash = bytes.fromhex(opened.package_sha256)
        assert commitment(7, 1, BIDDER, opened.salt, package_hash) == info.trailer.commitment
        out.seek(0)
        assert verify_package(out) == package[1]


def test_two_seals_of_the_same_bid_share_nothing_secret(package) -> None:
    first, second = do_seal(package[0])[1], do_seal(package[0])[1]
    assert first.header.nonce_prefix != second.header.nonce_prefix
    assert first.header.recipients != second.header.recipients
    assert first.trailer.commitment != second.trailer.commitment  # a fresh salt each time


@pytest.mark.parametrize(("package_size", "chunks", "last_plaintext"), [
    (0, 1, 32),                     # the salt alone: one last chunk of 48 bytes
    (4096 - 32 - 1, 1, 4095),
    (4096 - 32, 1, 4096),           # exactly one piece: a full last chunk, no empty chunk after it
    (4096 - 32 + 1, 2, 1),
    (3 * 4096 - 32, 3, 4096),
    (3 * 4096 - 31, 4, 1),
])
def test_the_plaintext_is_cut_into_full_chunks_and_a_non_empty_last_one(package_size, chunks,
                                                                         last_plaintext) -> None:
    payload = os.urandom(package_size)
    data, info = do_seal(payload)
    _, layout_chunks, _ = layout(data)
    assert info.chunks == len(layout_chunks) == chunks
    assert [flag for _o, flag, _l in layout_chunks] == [0] * (chunks - 1) + [1]
    assert all(length == 4096 + 16 for _o, _f, length in layout_chunks[:-1])
    assert layout_chunks[-1][2] == last_plaintext + 16
    out = io.BytesIO()
    open_envelope(io.BytesIO(data), unwrap(info.header, BIDDER_X), out, read_bid=False)
    assert out.getvalue() == payload


def test_seal_reads_a_stream_that_returns_short_reads_and_reports_progress(package) -> None:
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data, self.pos = data, 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            piece = self.data[self.pos:self.pos + min(n, 1000)]
            self.pos += len(piece)
            return piece

    seen: list[int] = []
    out = io.BytesIO()
    info = seal(Trickle(package[0]), out, tender=7, lot=1, bidder=BIDDER, opening_public=raw_public(OPENING),
                bidder_public=raw_public(BIDDER_X), signing_key=BIDDER_E, chunk_size=4096,
                progress=seen.append)
    assert sum(seen) == len(package[0])
    opened = open_envelope(io.BytesIO(out.getvalue()), unwrap(info.header, BIDDER_X), io.BytesIO())
    assert opened.bid == package[1]


@pytest.mark.parametrize("chunk_size", [4096, 65536])
@pytest.mark.parametrize("offset", [-33, -32, -31, 0, 1])
def test_sealing_in_batches_gives_the_hashes_of_the_bytes_written(chunk_size, offset) -> None:
    """Sealing reads, encrypts, hashes and writes whole batches of chunks (hashing on helper threads);
    around every batch boundary the envelope must be the one its description and signature name."""
    size = 2 * env._batch(chunk_size) + offset
    payload = os.urandom(size)
    data, info = do_seal(payload, chunk_size=chunk_size)
    parsed = parse(data, signer_public=raw_public(BIDDER_E))
    assert (parsed.sha256, parsed.envelope_hash, parsed.size, parsed.chunks, parsed.package_size) == (
        info.sha256, info.envelope_hash, info.size, info.chunks, info.package_size)
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.size == len(data)
    assert info.chunks == -(-(size + 32) // chunk_size)
    out = io.BytesIO()
    opened = open_envelope(io.BytesIO(data), unwrap(info.header, BIDDER_X), out, read_bid=False)
    assert out.getvalue() == payload and opened.package_sha256 == hashlib.sha256(payload).hexdigest()


# --- the sealer's cheap re-opening (check_sealed) ---------------------------------------------------------


def _big_sealed(package: tuple[bytes, dict]) -> tuple[bytes, EnvelopeInfo]:
    """A package with a large document, so its envelope spans several of check_sealed's batches."""
    big, _ = make_package(documents=[("technical.pdf", os.urandom(3 * env._BATCH + 12345))])
    return do_seal(big)


def test_check_sealed_accepts_the_envelope_sealed_and_gives_the_package_start(package) -> None:
    data, info = _big_sealed(package)
    key = unwrap(info.header, BIDDER_X)
    start = env.check_sealed(io.BytesIO(data), key, info, keep=3000)
    out = io.BytesIO()
    open_envelope(io.BytesIO(data), key, out)
    assert len(start) == 3000 and out.getvalue().startswith(start)
    small, small_info = do_seal(package[0])
    assert env.check_sealed(io.BytesIO(small), unwrap(small_info.header, BIDDER_X), small_info,
                            keep=1 << 20) == package[0]  # a keep past the end gives the whole package


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def test_check_sealed_refuses_any_other_bytes(package) -> None:
    data, info = _big_sealed(package)
    key = unwrap(info.header, BIDDER_X)
    header_length, chunks, trailer_at = layout(data)
    last_at = chunks[-1][0]
    cases = {
        "a header byte": (_flip(data, 20), "header"),
        "a flag": (_flip(data, chunks[1][0]), "framing"),
        "a length": (_flip(data, chunks[2][0] + 4), "framing"),
        "a ciphertext byte mid-way": (_flip(data, chunks[len(chunks) // 2][0] + 100), "does not decrypt"),
        "a ciphertext byte in the last chunk": (_flip(data, last_at + 10), "does not decrypt"),
        "a trailer byte": (_flip(data, trailer_at + 5), "trailer"),
        "a byte after the end": (data + b"\0", "trailer"),
        "cut inside a chunk": (data[:chunks[3][0] + 50], "ends inside chunk 3"),
        "cut before the trailer": (data[:trailer_at], "trailer"),
        "two chunks swapped": (data[:chunks[1][0]] + data[chunks[2][0]:chunks[3][0]]
                               + data[chunks[1][0]:chunks[2][0]] + data[chunks[3][0]:], "does not decrypt"),
    }
    for name, (bad, match) in cases.items():
        with pytest.raises(EnvelopeError, match=match):
            env.check_sealed(io.BytesIO(bad), key, info)
            pytest.fail(f"{name} was not refused")
    with pytest.raises(EnvelopeError, match="does not decrypt"):
        env.check_sealed(io.BytesIO(data), os.urandom(32), info)
    other, other_info = do_seal(package[0])
    with pytest.raises(EnvelopeError, match="header"):
        env.check_sealed(io.BytesIO(other), key, info)  # another sealing of the same bid


def test_the_reader_takes_any_split_of_the_bytes(sealed) -> None:
    data, info = sealed
    reader = EnvelopeReader()
    for i in range(len(data)):
        reader.feed(data[i:i + 1])
    assert reader.finish() == info
    rng = random.Random(4)  # noqa: S311 - only to vary the splits
    for _ in range(20):
        reader, pos = EnvelopeReader(), 0
        while pos < len(data):
            step = rng.choice([1, 2, 5, 13, 512, 4101, 9000])
            reader.feed(memoryview(data)[pos:pos + step])
            pos += step
        assert reader.finish() == info


def test_the_reader_checks_expectations_and_the_signer_as_it_goes(sealed) -> None:
    data, info = sealed
    assert parse(data, tender=7, lot=1, bidder=BIDDER, opening_kid=info.header.kid,
                 bidder_kid=kid_of(raw_public(BIDDER_X)), signer_public=raw_public(BIDDER_E)) == info
    header_end = 12 + layout(data)[0]
    for expect, match in [({"tender": 8}, "header names tender 7 but the envelope was given for tender 8"),
                          ({"lot": 2}, "header names lot 1"),
                          ({"bidder": "91110000600037341L"}, "header names bidder"),
                          ({"opening_kid": "0" * 64}, "not to the tender's opening key"),
                          ({"bidder_kid": kid_of(raw_public(OTHER_X))},
                           "not the bidder's registered encryption key")]:
        reader = EnvelopeReader(**expect)
        with pytest.raises(EnvelopeError, match=match):  # refused as soon as the header is in
            reader.feed(data[:header_end])
        with pytest.raises(EnvelopeError, match=match):  # and for good
            reader.feed(data[header_end:])
    refused(data, "signed by key .*, not by the bidder's registered key", signer_public=raw_public(OTHER_E))


def test_read_header_reads_only_the_header(sealed) -> None:
    data, info = sealed
    stream = io.BytesIO(data)
    assert read_header(stream) == info.header
    assert stream.tell() == 12 + len(info.header.raw)
    with pytest.raises(EnvelopeError, match="ends inside its header"):
        read_header(io.BytesIO(data[:40]))


# --- bad input: framing ----------------------------------------------------------------------------------


def test_every_truncation_is_refused(sealed) -> None:
    data, _ = sealed
    for cut in range(len(data)):
        with pytest.raises(EnvelopeError):
            parse(data[:cut])


def test_a_truncation_names_the_region_it_falls_in(sealed) -> None:
    data, _ = sealed
    header_length, chunks, trailer = layout(data)
    second = chunks[1][0]
    cases = [
        (0, "the envelope is empty"),
        (4, "ends inside its magic"),
        (10, "ends inside its header length"),
        (12 + header_length // 2,
         rf"ends inside its header \({header_length // 2:,} of {header_length:,} bytes\)"),
        (12 + header_length, "has no chunk"),
        (12 + header_length + 3, "ends inside the framing of chunk 0"),
        (12 + header_length + 100, "chunk 0 is truncated"),
        (second, "ends after chunk 0, before its last chunk"),
        (second + 2, "ends inside the framing of chunk 1"),
        (second + 5 + 4000, "chunk 1 is truncated"),
        (trailer, "ends after its last chunk, without a trailer"),
        (trailer + 20, "ends inside its trailer"),
        (len(data) - 3, "ends inside its trailer"),
        (len(data) - 8, "ends inside its trailer"),
    ]
    for cut, match in cases:
        refused(data[:cut], match)


def test_bad_magic_is_refused_at_the_first_wrong_byte(sealed) -> None:
    data, _ = sealed
    reader = EnvelopeReader()
    with pytest.raises(EnvelopeError, match=r"not an ebid envelope \(bad magic\)"):
        reader.feed(b"EBIDX")
    refused(b"%PDF-1.7" + data[8:], "bad magic")
    refused(b"EBIDENV3" + data[8:], "bad magic")
    # a version 1 header behind version 2's magic: the magic and the header's `v` must agree
    refused(b"EBIDENV2" + data[8:], "the header's version is 1; the envelope's magic says version 2")


def test_header_length_bounds(sealed) -> None:
    data, _ = sealed
    refused(MAGIC + struct.pack(">I", 0) + data[12:], "the header is empty")
    refused(MAGIC + struct.pack(">I", 65_537), "the header is 65,537 bytes long; the limit is 65,536")


def test_reordered_chunks_frame_well_but_neither_verify_nor_decrypt(sealed) -> None:
    data, info = sealed
    parts = records(data)
    swapped = info.header.prefix + parts[1] + parts[0] + b"".join(parts[2:]) + info.trailer.record
    parsed = parse(swapped)  # the framing alone cannot tell
    with pytest.raises(EnvelopeError, match="signature does not verify"):
        verify_signature(parsed, raw_public(BIDDER_E))
    with pytest.raises(EnvelopeError, match="chunk 0 does not decrypt"):
        open_envelope(io.BytesIO(swapped), unwrap(info.header, BIDDER_X), io.BytesIO())


def test_chunks_cut_off_and_the_last_flag_moved_are_caught_by_the_nonce(sealed) -> None:
    data, info = sealed
    parts = records(data)
    assert len(parts) >= 3
    cut = info.header.prefix + parts[0] + b"\x01" + parts[1][1:] + info.trailer.record
    parsed = parse(cut)  # a full chunk may be the last one
    with pytest.raises(EnvelopeError, match="signature does not verify"):
        verify_signature(parsed, raw_public(BIDDER_E))
    with pytest.raises(EnvelopeError, match="chunk 1 does not decrypt"):
        open_envelope(io.BytesIO(cut), unwrap(info.header, BIDDER_X), io.BytesIO())


def test_flipped_flags_and_two_last_chunks(sealed) -> None:
    data, info = sealed
    _, chunks, _ = layout(data)
    flipped = bytearray(data)
    flipped[chunks[0][0]] = 1
    refused(bytes(flipped), r"a chunk follows the last chunk \(chunk 0\)")
    flipped = bytearray(data)
    flipped[chunks[-1][0]] = 0
    refused(bytes(flipped), rf"chunk {len(chunks) - 1} is [\d,]+ bytes long; every chunk but the last is "
                            "chunk_size \\+ 16 = 4,112")
    flipped = bytearray(data)
    flipped[chunks[1][0]] = 2
    refused(bytes(flipped), "chunk 1 has flag 0x02")
    parts = records(data)
    two_last = info.header.prefix + parts[-1] + parts[-1] + info.trailer.record
    refused(two_last, "a chunk follows the last chunk")


def test_chunk_lengths_are_bounded(sealed) -> None:
    data, info = sealed
    prefix = info.header.prefix
    refused(prefix + record(0, b"x" * 100), r"chunk 0 is 100 bytes long")
    refused(prefix + record(1, b"x" * 47),
            r"the last chunk \(chunk 0\) is 47 bytes long; it must be 48 to 4,112")
    refused(prefix + record(0, b"x" * 4112) + record(1, b"x" * 16), "it must be 17 to 4,112")
    refused(prefix + record(1, b"x" * 4113), "it must be 48 to 4,112")


def test_nothing_may_follow_the_end(sealed) -> None:
    data, _ = sealed
    refused(data + b"x", "1 byte follows the end of the envelope")
    refused(data + data, f"{len(data):,} bytes follow the end of the envelope")
    refused(data[:-12] + b" " * 5000, "the trailer is too long")
    reader = EnvelopeReader()
    with pytest.raises(EnvelopeError, match="10,485,760 bytes follow the end"):
        reader.feed(data + bytes(10 << 20))  # one huge block: still only the trailer's bytes are kept
    assert len(reader._trailer) <= env.MAX_TRAILER + 13


def test_the_trailer_is_checked(sealed) -> None:
    data, info = sealed
    body = data[:layout(data)[2]]
    trailer = json.loads(info.trailer.raw)

    def with_trailer(raw: bytes) -> bytes:
        return body + raw + struct.pack(">I", len(raw)) + END

    refused(with_trailer(json.dumps(trailer).encode()), "the trailer is not canonical JSON")
    refused(with_trailer(canonical_json({**trailer, "extra": 1})), "the trailer has unknown field 'extra'")
    unsigned = {k: v for k, v in trailer.items() if k != "signer"}
    refused(with_trailer(canonical_json(unsigned)), "lacks 'signer'")
    refused(with_trailer(canonical_json({**trailer, "signature": "AAAA"})), "signature must be 64 bytes")
    refused(with_trailer(canonical_json({**trailer, "commitment": "ABC"})),
            "commitment must be 64 lower-case hex")
    refused(with_trailer(b"[1]"), r"the trailer is not a JSON object \(it starts with byte 0x5b\)")
    refused(with_trailer(b"{}"), "the trailer lacks 'commitment', 'signer', 'signature'")
    refused(body + b"x" + data[len(body):], r"the trailer is not a JSON object \(it starts with byte 0x78\)")


def test_the_size_limit_is_enforced_while_reading(sealed) -> None:
    data, _ = sealed
    assert parse(data, max_size=len(data)).size == len(data)
    refused(data, f"larger than the limit of {len(data) - 1:,} bytes", max_size=len(data) - 1)
    reader = EnvelopeReader(max_size=100)
    with pytest.raises(EnvelopeError, match="larger than the limit of 100 bytes"):
        reader.feed(data[:101])


def test_a_reader_that_failed_stays_failed(sealed) -> None:
    data, _ = sealed
    reader = EnvelopeReader()
    with pytest.raises(EnvelopeError, match="bad magic"):
        reader.feed(b"nope")
    with pytest.raises(EnvelopeError, match="bad magic"):
        reader.feed(data)
    with pytest.raises(EnvelopeError, match="bad magic"):
        reader.finish()
    reader = EnvelopeReader()
    reader.feed(data)
    reader.finish()
    with pytest.raises(EnvelopeError, match="already finished"):
        reader.feed(b"x")


# --- bad input: the header -------------------------------------------------------------------------------


def _header_obj(info: EnvelopeInfo) -> dict[str, Any]:
    return json.loads(info.header.raw)


def _with_header(raw: bytes) -> bytes:
    return MAGIC + struct.pack(">I", len(raw)) + raw


def _recipients(obj: dict, **changes: Any) -> dict:
    return {**obj, "recipients": [{**obj["recipients"][0], **changes}, obj["recipients"][1]]}


HEADER_CASES: list[tuple[str, Any, str]] = [
    ("missing field", lambda o: {k: v for k, v in o.items() if k != "created"}, "the header lacks 'created'"),
    ("unknown field", lambda o: {**o, "note": "x"}, "the header has unknown field 'note'"),
    ("version 2", lambda o: {**o, "v": 2}, "version is 2; the envelope.s magic says version 1"),
    ("version 3", lambda o: {**o, "v": 3}, "version is 3; the envelope.s magic says version 1"),
    ("version true", lambda o: {**o, "v": True}, "version is True"),
    ("suite", lambda o: {**o, "suite": "HPKE-X25519-HKDF-SHA256-CHACHA20POLY1305"}, "the header's suite is"),
    ("tender zero", lambda o: {**o, "tender": 0}, "tender must be a positive integer"),
    ("tender string", lambda o: {**o, "tender": "7"}, "tender must be a positive integer"),
    ("lot float", lambda o: {**o, "lot": 1.5}, "lot must be a positive integer"),
    ("bidder", lambda o: {**o, "bidder": "91350100MA000001XI"}, "bidder must be an 18-character"),
    ("bidder lower case", lambda o: {**o, "bidder": BIDDER.lower()}, "bidder must be an 18-character"),
    ("kid", lambda o: {**o, "kid": "ABC"}, "the header's kid must be 64 lower-case hex"),
    ("chunk size not a power of two", lambda o: {**o, "chunk_size": 5000}, "must be a power of two"),
    ("chunk size too small", lambda o: {**o, "chunk_size": 2048}, "chunk_size must be a power of two"),
    ("chunk size too big", lambda o: {**o, "chunk_size": 1 << 25}, "chunk_size must be a power of two"),
    ("nonce prefix", lambda o: {**o, "nonce_prefix": "AAAAAAAAAAA="}, "nonce_prefix must be 7 bytes, not 8"),
    ("nonce prefix not base64", lambda o: {**o, "nonce_prefix": "!!!!"}, "nonce_prefix is not valid base64"),
    ("created", lambda o: {**o, "created": "2026-12-01 08:00:00"}, "created must be a UTC time"),
    ("created offset", lambda o: {**o, "created": "2026-12-01T08:00:00+08:00"}, "created must be a UTC time"),
    ("created impossible", lambda o: {**o, "created": "2026-02-30T08:00:00Z"}, "created is not a real time"),
    ("one recipient", lambda o: {**o, "recipients": o["recipients"][:1]}, "exactly two recipients"),
    ("three recipients", lambda o: {**o, "recipients": o["recipients"] * 2}, "exactly two recipients"),
    ("reversed recipients", lambda o: {**o, "recipients": o["recipients"][::-1]}, "opening, then bidder"),
    ("recipients not a list", lambda o: {**o, "recipients": {}}, "exactly two recipients"),
    ("recipient field", lambda o: _recipients(o, extra=1), "opening recipient has unknown field 'extra'"),
    ("recipient enc", lambda o: _recipients(o, enc="AAAA"), "opening recipient's enc must be 32 bytes"),
    ("recipient ct", lambda o: _recipients(o, ct="AAAA"), "opening recipient's ct must be 48 bytes"),
    ("recipient kid", lambda o: _recipients(o, kid="0" * 64), "opening recipient's kid differs"),
    ("header not an object", lambda o: [o], "the header must be a JSON object"),
]


@pytest.mark.parametrize(("case", "mutate", "match"), HEADER_CASES, ids=[c[0] for c in HEADER_CASES])
def test_wrong_header_fields_are_refused(sealed, case, mutate, match) -> None:
    data, info = sealed
    raw = json.dumps(mutate(_header_obj(info)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with pytest.raises(EnvelopeError, match=match):
        EnvelopeReader().feed(_with_header(raw.encode()))


def test_the_header_must_be_canonical_json(sealed) -> None:
    data, info = sealed
    obj = _header_obj(info)
    for raw in (json.dumps(obj).encode(),  # spaces
                json.dumps(dict(reversed(obj.items())), separators=(",", ":")).encode(),  # key order
                info.header.raw.replace(b'"bidder":"9', b'"bidder":"\\u0039')):  # an escape RFC 8785 omits
        with pytest.raises(EnvelopeError, match="not canonical JSON"):
            Header.parse(raw)
    with pytest.raises(EnvelopeError, match="version is 1.0"):
        Header.parse(info.header.raw.replace(b'"v":1', b'"v":1.0'))
    with pytest.raises(EnvelopeError, match="canonical base64"):
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        prefix = obj["nonce_prefix"]  # 7 bytes: "....XY==", Y's low four bits are padding
        sloppy = prefix[:-3] + alphabet[alphabet.index(prefix[-3]) ^ 1] + "=="
        Header.parse(canonical_json({**obj, "nonce_prefix": sloppy}))
    for raw, match in ((b"\xff", "not UTF-8"), (b"{", "not valid JSON"), (b'{"v":1,"v":1}', "appears twice"),
                       (b'{"v":NaN}', "NaN is not JSON")):
        with pytest.raises(EnvelopeError, match=match):
            Header.parse(raw)


# --- bad input: signature and keys -----------------------------------------------------------------------


def test_a_bad_signature_is_refused(sealed) -> None:
    data, info = sealed
    body = data[:layout(data)[2]]
    forged = Trailer.build(info.trailer.commitment, info.trailer.signer,
                           OTHER_E.sign(signed_statement(info))).record  # claims the bidder's kid
    with pytest.raises(EnvelopeError, match="the signature does not verify with the bidder's registered key"):
        verify_signature(parse(body + forged), raw_public(BIDDER_E))
    other_commitment = Trailer.build("0" * 64, info.trailer.signer, info.trailer.signature).record
    with pytest.raises(EnvelopeError, match="signature does not verify"):
        verify_signature(parse(body + other_commitment), raw_public(BIDDER_E))


def test_an_envelope_signed_by_another_key_is_refused(package) -> None:
    data, info = do_seal(package[0])
    resigned = assemble(info.header, records(data), info.trailer.commitment, key=OTHER_E)
    parsed = parse(resigned)
    verify_signature(parsed, raw_public(OTHER_E))  # valid, but not by the registered key:
    other_kid = kid_of(raw_public(OTHER_E))
    with pytest.raises(EnvelopeError, match=f"signed by key {other_kid}, not by the bidder's"):
        verify_signature(parsed, raw_public(BIDDER_E))


def test_the_statement_names_everything_the_bidder_vouches_for(sealed) -> None:
    _, info = sealed
    label, _, statement = signed_statement(info).partition(b"\n")
    assert label == b"ebid-envelope-signature-v1"
    assert json.loads(statement) == {"v": 1, "tender": 7, "lot": 1, "bidder": BIDDER, "kid": info.header.kid,
                                      "envelope": info.envelope_hash, "commitment": info.trailer.commitment}
    assert canonical_json(json.loads(statement)) == statement


def test_unwrap_needs_the_recipients_own_key(sealed) -> None:
    _, info = sealed
    with pytest.raises(EnvelopeError, match="is not the envelope's bidder recipient"):
        unwrap(info.header, OPENING, "bidder")
    with pytest.raises(EnvelopeError, match="is not the envelope's opening recipient"):
        unwrap(info.header, OTHER_X, "opening")
    with pytest.raises(ValueError, match="role is one of"):
        unwrap(info.header, OPENING, "auditor")


def test_a_data_key_wrapped_for_another_tender_does_not_unwrap(package) -> None:
    data_key = os.urandom(32)
    elsewhere = wrap_info(8, 1, BIDDER)  # replaying the wrapped key into tender 7 breaks HPKE's info binding
    recipients = [Recipient(role, kid_of(raw_public(key)),
                            *wrap_data_key(data_key, raw_public(key), elsewhere))
                  for role, key in (("opening", OPENING), ("bidder", BIDDER_X))]
    _, info = do_seal(package[0], _data_key=data_key, _recipients=recipients)
    for role, key in (("opening", OPENING), ("bidder", BIDDER_X)):
        with pytest.raises(EnvelopeError, match="the data key does not unwrap with this key"):
            unwrap(info.header, key, role)


def test_a_wrong_data_key_does_not_open(sealed) -> None:
    data, _ = sealed
    threads = threading.active_count()
    with pytest.raises(EnvelopeError, match="chunk 0 does not decrypt with this data key"):
        open_envelope(io.BytesIO(data), os.urandom(32), io.BytesIO())
    with pytest.raises(EnvelopeError, match="a data key is 32 bytes"):
        open_envelope(io.BytesIO(data), b"short", io.BytesIO())
    assert threading.active_count() == threads  # the hashing thread ends with a failed opening too


# --- one plaintext only (P5) ------------------------------------------------------------------------------


def test_recipients_given_different_data_keys_are_caught_at_the_opening(package) -> None:
    """A bidder wraps a different data key to the opening key: its bid would open for itself only."""
    good, other = os.urandom(32), os.urandom(32)
    info_bytes = wrap_info(7, 1, BIDDER)
    recipients = [Recipient("opening", kid_of(raw_public(OPENING)), *wrap_data_key(other, raw_public(OPENING),
                                                                                    info_bytes)),
                  Recipient("bidder", kid_of(raw_public(BIDDER_X)), *wrap_data_key(good, raw_public(BIDDER_X),
                                                                                   info_bytes))]
    data, info = do_seal(package[0], _data_key=good, _recipients=recipients)
    verify_signature(parse(data), raw_public(BIDDER_E))  # well formed and signed
    assert open_envelope(io.BytesIO(data), unwrap(info.header, BIDDER_X), io.BytesIO()).bid == package[1]
    with pytest.raises(EnvelopeError, match="chunk 0 does not decrypt"):
        open_envelope(io.BytesIO(data), unwrap(info.header, OPENING, "opening"), io.BytesIO())


_R = 0xE1 << 120


def _gf_mul(x: int, y: int) -> int:
    """Multiplication in GCM's GF(2^128) (NIST SP 800-38D, algorithm 1)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def _gf_inverse(x: int) -> int:
    result, power, exponent = 1 << 127, x, 2**128 - 2  # 1 is the bit string 100...0
    while exponent:
        if exponent & 1:
            result = _gf_mul(result, power)
        power = _gf_mul(power, power)
        exponent >>= 1
    return result


def _blocks(data: bytes) -> list[int]:
    padded = data + bytes(-len(data) % 16)
    return [int.from_bytes(padded[i:i + 16], "big") for i in range(0, len(padded), 16)]


def _ghash(h: int, blocks: list[int]) -> int:
    y = 0
    for block in blocks:
        y = _gf_mul(y ^ block, h)
    return y


def _aes_block(key: bytes, block: bytes) -> int:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - one raw block for GCM's maths
    return int.from_bytes(encryptor.update(block) + encryptor.finalize(), "big")


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.CTR(nonce + b"\x00\x00\x00\x02")).encryptor()
    return encryptor.update(bytes(length)) + encryptor.finalize()


def salamander(k1: bytes, k2: bytes, nonce: bytes, aad: bytes, plaintext: bytes, free_block: int) -> bytes:
    """A GCM ciphertext+tag that decrypts under both keys: `plaintext` under k1 except one free block."""
    stream = _keystream(k1, nonce, len(plaintext))
    ciphertext = bytearray(a ^ b for a, b in zip(plaintext, stream, strict=True))
    ciphertext[16 * free_block:16 * free_block + 16] = bytes(16)
    h1, h2 = _aes_block(k1, bytes(16)), _aes_block(k2, bytes(16))
    j0 = nonce + b"\x00\x00\x00\x01"
    lengths = [(8 * len(aad) << 64) | 8 * len(ciphertext)]

    def tag(h: int, key: bytes, c: bytes) -> int:
        return _ghash(h, _blocks(aad) + _blocks(c) + lengths) ^ _aes_block(key, j0)

    # The tag difference is affine in the free block: d(x) = d(0) + x * (H1^e + H2^e).
    difference = tag(h1, k1, bytes(ciphertext)) ^ tag(h2, k2, bytes(ciphertext))
    total = len(_blocks(aad)) + len(_blocks(bytes(ciphertext))) + 1
    exponent = total - (len(_blocks(aad)) + free_block)
    p1, p2 = 1 << 127, 1 << 127
    for _ in range(exponent):
        p1, p2 = _gf_mul(p1, h1), _gf_mul(p2, h2)
    x = _gf_mul(difference, _gf_inverse(p1 ^ p2))
    ciphertext[16 * free_block:16 * free_block + 16] = x.to_bytes(16, "big")
    final = bytes(ciphertext)
    assert tag(h1, k1, final) == tag(h2, k2, final)
    return final + tag(h1, k1, final).to_bytes(16, "big")


def test_an_envelope_that_opens_to_two_plaintexts_is_caught_by_the_commitment(package) -> None:
    """AES-GCM is not key-committing: one ciphertext can be valid under two keys (an "invisible
    salamander"). A bidder wraps one key for itself and the other for the custodians; the chunk
    decrypts under both, to different plaintexts. Only the commitment tells which one was signed.
    """
    k1, k2, salt = os.urandom(32), os.urandom(32), os.urandom(32)
    info_bytes = wrap_info(7, 1, BIDDER)
    recipients = [Recipient(role, kid_of(raw_public(key)),
                            *wrap_data_key(data_key, raw_public(key), info_bytes))
                  for role, key, data_key in (("opening", OPENING, k2), ("bidder", BIDDER_X, k1))]
    header = Header.build(tender=7, lot=1, bidder=BIDDER, recipients=recipients, chunk_size=16384,
                          nonce_prefix=os.urandom(7), created="2026-12-01T08:00:00Z")
    plaintext = salt + package[0]
    assert len(plaintext) < 16384 and len(package[0]) >= 4096  # one chunk; the tar ends in zero padding
    nonce = env.chunk_nonce(header.nonce_prefix, 0, True)
    sealed_chunk = salamander(k1, k2, nonce, header.hash, plaintext, free_block=(len(plaintext) - 64) // 16)
    for_bidder = AESGCM(k1).decrypt(nonce, sealed_chunk, header.hash)
    for_custodians = AESGCM(k2).decrypt(nonce, sealed_chunk, header.hash)
    assert for_bidder != for_custodians and for_bidder[:-64] == plaintext[:-64]
    package_bytes = for_bidder[32:]
    c = commitment(7, 1, BIDDER, salt, hashlib.sha256(package_bytes).digest())
    data = assemble(header, [record(1, sealed_chunk)], c)
    verify_signature(parse(data), raw_public(BIDDER_E))
    opened = open_envelope(io.BytesIO(data), unwrap(header, BIDDER_X), io.BytesIO())
    assert opened.bid == package[1]
    with pytest.raises(EnvelopeError, match="the commitment does not match the package"):
        open_envelope(io.BytesIO(data), unwrap(header, OPENING, "opening"), io.BytesIO())


def test_a_signed_commitment_to_another_package_is_caught(package) -> None:
    data, info = do_seal(package[0])
    other = commitment(7, 1, BIDDER, os.urandom(32), hashlib.sha256(b"another bid").digest())
    lying = assemble(info.header, records(data), other)
    verify_signature(parse(lying), raw_public(BIDDER_E))
    with pytest.raises(EnvelopeError, match="the commitment does not match the package"):
        open_envelope(io.BytesIO(lying), unwrap(info.header, BIDDER_X), io.BytesIO())


def test_bid_json_must_name_the_envelopes_tender_lot_and_bidder() -> None:
    for tender, lot, match in ((8, 1, "bid.json names tender 8 but the envelope is for tender 7"),
                               (7, 2, "bid.json names lot 2 but the envelope is for lot 1")):
        data, info = do_seal(make_package(tender, lot)[0])
        with pytest.raises(EnvelopeError, match=match):
            open_envelope(io.BytesIO(data), unwrap(info.header, BIDDER_X), io.BytesIO())
    data, info = do_seal(b"not a tar archive" * 100)
    with pytest.raises(EnvelopeError, match="the package's bid.json is not valid: .*not a .*tar archive"):
        open_envelope(io.BytesIO(data), unwrap(info.header, BIDDER_X), io.BytesIO())


def test_seal_refuses_what_the_format_cannot_carry(package) -> None:
    for kwargs, match in (({"tender": 0}, "tender must be a positive integer"),
                          ({"lot": True}, "lot must be a positive integer"),
                          ({"bidder": "ACME"}, "bidder must be an 18-character"),
                          ({"chunk_size": 1000}, "chunk_size must be a power of two")):
        with pytest.raises(EnvelopeError, match=match):
            do_seal(package[0], **kwargs)
    with pytest.raises(ValueError, match="timezone-aware"):
        seal(io.BytesIO(b""), io.BytesIO(), tender=7, lot=1, bidder=BIDDER,
             opening_public=raw_public(OPENING), bidder_public=raw_public(BIDDER_X), signing_key=BIDDER_E,
             created=datetime(2026, 1, 1))  # noqa: DTZ001


def test_check_header_names_each_mismatch(sealed) -> None:
    _, info = sealed
    check_header(info.header, tender=7, lot=1, bidder=BIDDER, opening_kid=info.header.kid)
    with pytest.raises(EnvelopeError, match="sealed to opening key"):
        check_header(info.header, opening_kid="1" * 64)


# --- size: any envelope in constant memory ---------------------------------------------------------------


class Generated(io.RawIOBase):
    """`size` bytes of a repeating pattern, made as they are read; seekable, never held whole."""

    def __init__(self, size: int) -> None:
        self.size, self.pos = size, 0
        self.pattern = hashlib.sha256(b"pattern").digest() * 4096  # 128 KiB

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else (self.pos + offset if whence == 1 else self.size + offset)
        return self.pos

    def read(self, n: int = -1) -> bytes:
        n = min(self.size - self.pos if n < 0 else n, self.size - self.pos, len(self.pattern) - 32)
        start = self.pos % 32
        self.pos += n
        return self.pattern[start:start + n]


class HashSink:
    def __init__(self) -> None:
        self.digest, self.size = hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def test_a_200_mib_envelope_seals_and_opens_in_constant_memory(tmp_path: Path) -> None:
    size = 200 << 20
    package_path, envelope_path = tmp_path / "package.tar", tmp_path / "envelope.bin"
    with package_path.open("wb") as out:
        written = write_package(out, bid_for(), [("large.bin", Generated(size))])
    package_sha256 = hashlib.sha256()
    with package_path.open("rb") as stream:
        while block := stream.read(1 << 20):
            package_sha256.update(block)

    tracemalloc.start()
    try:
        with package_path.open("rb") as package_in, envelope_path.open("wb") as out:
            info = seal(package_in, out, tender=7, lot=1, bidder=BIDDER, opening_public=raw_public(OPENING),
                        bidder_public=raw_public(BIDDER_X), signing_key=BIDDER_E)
        seal_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        sink = HashSink()
        with envelope_path.open("rb") as stream:
            opened = open_envelope(stream, unwrap(info.header, OPENING, "opening"), sink,  # type: ignore[arg-type]
                                   signer_public=raw_public(BIDDER_E))
        open_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert envelope_path.stat().st_size == info.size > size
    assert opened.bid == written and sink.size == package_path.stat().st_size
    assert opened.package_sha256 == sink.digest.hexdigest() == package_sha256.hexdigest()
    assert seal_peak < 8 << 20, f"sealing peaked at {seal_peak / 2**20:.1f} MiB"
    assert open_peak < 8 << 20, f"opening peaked at {open_peak / 2**20:.1f} MiB"


# --- test vectors for other implementations ---------------------------------------------------------------


def _vector(name: str, package_bytes: bytes, *, chunk_size: int, is_tar: bool, label: str,
            version: int = 1) -> dict[str, Any]:
    """One deterministic envelope: every input fixed, HPKE's ephemeral keys included."""
    keys = {role: X25519PrivateKey.from_private_bytes(_seed(f"{label} {role}")) for role in
            ("opening", "bidder x25519", "ephemeral opening", "ephemeral bidder")}
    signing = Ed25519PrivateKey.from_private_bytes(_seed(f"{label} bidder ed25519"))
    data_key, salt = _seed(f"{label} data key"), _seed(f"{label} salt")
    nonce_prefix = _seed(f"{label} nonce prefix")[:7]
    tender, lot = 7, 1
    info_bytes = wrap_info(tender, lot, BIDDER)
    recipients = [
        Recipient(role, kid_of(raw_public(keys[name])),
                  *ref_seal(raw_public(keys[name]), info_bytes, b"", data_key, keys[f"ephemeral {role}"]))
        for role, name in (("opening", "opening"), ("bidder", "bidder x25519"))
    ]
    out = io.BytesIO()
    info = seal(io.BytesIO(package_bytes), out, tender=tender, lot=lot, bidder=BIDDER,
                opening_public=raw_public(keys["opening"]), bidder_public=raw_public(keys["bidder x25519"]),
                signing_key=signing, chunk_size=chunk_size, created=CREATED, _data_key=data_key, _salt=salt,
                _nonce_prefix=nonce_prefix, _recipients=recipients, version=version)
    opened = open_envelope(io.BytesIO(out.getvalue()), unwrap(info.header, keys["opening"], "opening"),
                           io.BytesIO(), read_bid=is_tar)
    return {
        "name": name,
        "inputs": {
            "tender": tender, "lot": lot, "bidder": BIDDER, "chunk_size": chunk_size,
            "created": "2026-12-01T08:00:00Z",
            "opening_private": _seed(f"{label} opening").hex(),
            "opening_public": raw_public(keys["opening"]).hex(),
            "bidder_x25519_private": _seed(f"{label} bidder x25519").hex(),
            "bidder_x25519_public": raw_public(keys["bidder x25519"]).hex(),
            "bidder_ed25519_private": _seed(f"{label} bidder ed25519").hex(),
            "bidder_ed25519_public": raw_public(signing).hex(),
            "ephemeral_opening_private": _seed(f"{label} ephemeral opening").hex(),
            "ephemeral_bidder_private": _seed(f"{label} ephemeral bidder").hex(),
            "data_key": data_key.hex(), "salt": salt.hex(), "nonce_prefix": nonce_prefix.hex(),
            "package": package_bytes.hex(), "package_is_tar": is_tar, "version": version,
        },
        "intermediate": {
            "hpke_info": info_bytes.hex(),
            "recipients": [{"role": r.role, "kid": r.kid, "enc": r.enc.hex(), "ct": r.ct.hex()}
                           for r in recipients],
            "header": info.header.raw.decode("utf-8"),
            "header_hash": info.header.hash.hex(),
            "package_sha256": hashlib.sha256(package_bytes).hexdigest(),
            "chunks": info.chunks,
            "envelope_hash": info.envelope_hash,
            "commitment": info.trailer.commitment,
            **({"tags": info.tags} if version == 2 else {}),
            "signed": signed_statement(info).decode("utf-8"),
            "signature": info.trailer.signature.hex(),
        },
        "envelope": out.getvalue().hex(),
        "envelope_sha256": hashlib.sha256(out.getvalue()).hexdigest(),
        "bid": opened.bid,
    }


def build_vectors() -> dict[str, Any]:
    documents = [("技术标.pdf", b"%PDF-1.7 technical proposal\n" * 20)]
    tar, _ = make_package(documents=documents)
    tar_v2, _ = make_package(documents=documents, version=2)
    layer_full = bytes(range(256)) * 47 + bytes(range(256))[:224]
    return {
        "description": "Deterministic envelopes of docs/envelope.md, format versions 1 and 2 "
                       "(`inputs.version`). Binary values are lower-case hex. "
                       "Given `inputs` (HPKE's ephemeral private keys included, so the wrapped keys are "
                       "fixed), a sealer must produce `envelope` byte for byte; given `envelope` and a "
                       "recipient's private key, an opener must find `intermediate.commitment`, the package "
                       "and (for a tar) `bid`. Made by tests/unit/bidding/test_envelope.py "
                       "(EBID_WRITE_VECTORS=1 rewrites this file).",
        "suite": env.SUITE,
        "vectors": [
            _vector("a bid package (tar with bid.json and a document with a Chinese name), 3 chunks", tar,
                    chunk_size=4096, is_tar=True, label="vector 1"),
            _vector("envelope layer only: salt + package exactly 3 x chunk_size, so the last chunk is full",
                    layer_full, chunk_size=4096, is_tar=False, label="vector 2"),
            _vector("envelope layer only: a short package in a single last chunk", b"ebid" * 25,
                    chunk_size=4096, is_tar=False, label="vector 3"),
            _vector("version 2: a bid package (bid.json lists names and sizes), 3 chunks", tar_v2,
                    chunk_size=4096, is_tar=True, label="vector 4", version=2),
            _vector("version 2, envelope layer only: salt + package exactly 3 x chunk_size", layer_full,
                    chunk_size=4096, is_tar=False, label="vector 5", version=2),
            _vector("version 2, envelope layer only: a short package in a single last chunk", b"ebid" * 25,
                    chunk_size=4096, is_tar=False, label="vector 6", version=2),
        ],
    }


def test_the_vectors_file_is_current() -> None:
    vectors = build_vectors()
    assert len(bytes.fromhex(vectors["vectors"][1]["inputs"]["package"])) + 32 == 3 * 4096
    text = json.dumps(vectors, ensure_ascii=False, indent=1) + "\n"
    if os.environ.get("EBID_WRITE_VECTORS"):
        VECTORS.write_text(text, encoding="utf-8")
    assert VECTORS.read_text(encoding="utf-8") == text, "run with EBID_WRITE_VECTORS=1 to rewrite the vectors"


@pytest.mark.parametrize("number", range(6))
def test_the_vectors_open_with_either_recipient(number: int) -> None:
    vector = json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"][number]
    inputs, expected = vector["inputs"], vector["intermediate"]
    data = bytes.fromhex(vector["envelope"])
    info = parse(data, signer_public=bytes.fromhex(inputs["bidder_ed25519_public"]))
    verify_signature(info, bytes.fromhex(inputs["bidder_ed25519_public"]))
    assert info.sha256 == vector["envelope_sha256"] and info.chunks == expected["chunks"]
    assert info.header.raw.decode() == expected["header"]
    for role, private in (("opening", "opening_private"), ("bidder", "bidder_x25519_private")):
        key = X25519PrivateKey.from_private_bytes(bytes.fromhex(inputs[private]))
        assert unwrap(info.header, key, role).hex() == inputs["data_key"]
        out = io.BytesIO()
        opened = open_envelope(io.BytesIO(data), bytes.fromhex(inputs["data_key"]), out,
                               read_bid=inputs["package_is_tar"])
        assert out.getvalue().hex() == inputs["package"]
        assert opened.info.trailer.commitment == expected["commitment"]
        assert opened.bid == vector["bid"]


# --- version 2: one hash of the input, the tags signed -----------------------------------------------------


def assemble_v2(header: Header, chunk_records: list[bytes], c: str, package_size: int,
                key: Ed25519PrivateKey = BIDDER_E) -> bytes:
    """A version 2 envelope from its parts, signed over its tags: for envelopes seal() would never make."""
    tags = hashlib.sha256(b"".join(r[-16:] for r in chunk_records)).hexdigest()
    signer = kid_of(raw_public(key))
    unsigned = EnvelopeInfo(header, Trailer(c, signer, b"", b""), "", "", 0, len(chunk_records), package_size,
                            tags)
    body = header.prefix + b"".join(chunk_records)
    return body + Trailer.build(c, signer, key.sign(signed_statement(unsigned))).record


@pytest.fixture(scope="module")
def package_v2() -> tuple[bytes, dict]:
    return make_package(version=2)


@pytest.fixture(scope="module")
def sealed_v2(package_v2: tuple[bytes, dict]) -> tuple[bytes, EnvelopeInfo]:
    return do_seal(package_v2[0], version=2)


def _content(data: bytes, key: X25519PrivateKey, role: str) -> tuple[dict, dict[str, bytes]]:
    """What an envelope opens to: bid.json less its version and document hashes, and the documents."""
    header = read_header(io.BytesIO(data))
    plain = io.BytesIO()
    opened = open_envelope(io.BytesIO(data), unwrap(header, key, role), plain,
                           signer_public=raw_public(BIDDER_E))
    plain.seek(0)
    verified = verify_package(plain)
    assert opened.bid is not None
    bid = {k: v for k, v in opened.bid.items() if k not in ("v", "documents")}
    bid["documents"] = [(d["name"], d["size"], d["sha256"]) for d in verified["documents"]]
    return bid, {"package_sha256": opened.package_sha256}


def test_the_same_bid_sealed_as_version_1_and_version_2_opens_to_the_same_content(tmp_path: Path) -> None:
    documents = [("技术标.pdf", os.urandom(20_000)), ("商务标.pdf", b"%PDF-1.7 business\n" * 900),
                 ("empty.txt", b"")]
    sealed: dict[int, bytes] = {}
    for version in (1, 2):
        data, _ = do_seal(make_package(documents=documents, version=version)[0], version=version)
        assert data[:8] == env.MAGICS[version]
        sealed[version] = data
    for key, role in ((OPENING, "opening"), (BIDDER_X, "bidder")):
        first, second = _content(sealed[1], key, role)[0], _content(sealed[2], key, role)[0]
        assert first == second
        assert first["price"] == {"amount": "11850000.00", "currency": "CNY"}
        assert [name for name, _size, _sha in first["documents"]] == [f"documents/{n}" for n, _ in documents]
        assert [sha for _name, _size, sha in second["documents"]] == [
            hashlib.sha256(data).hexdigest() for _n, data in documents]
    # both read back through the reader the server uses, each signed by the bidder
    for data in sealed.values():
        info = parse(data, signer_public=raw_public(BIDDER_E), hash_file=False)
        assert info.envelope_hash == hashlib.sha256(signed_statement(info)).hexdigest() or info.version == 1


def test_version_2_bid_json_lists_names_and_sizes_only(package_v2, sealed_v2) -> None:
    data, info = sealed_v2
    opened = open_envelope(io.BytesIO(data), unwrap(info.header, BIDDER_X), io.BytesIO())
    assert opened.bid == package_v2[1] and opened.bid["v"] == 2
    assert opened.bid["documents"] == [{"name": "documents/technical.pdf", "size": 1120}]
    # a version 1 package in a version 2 envelope (or the other way round) is refused
    v1_in_v2, _ = do_seal(make_package()[0], version=2)
    with pytest.raises(EnvelopeError, match="bid.json is version 1 but the envelope is version 2"):
        open_envelope(io.BytesIO(v1_in_v2), unwrap(read_header(io.BytesIO(v1_in_v2)), BIDDER_X), io.BytesIO())
    v2_in_v1, _ = do_seal(package_v2[0], version=1)
    with pytest.raises(EnvelopeError, match="bid.json is version 2 but the envelope is version 1"):
        open_envelope(io.BytesIO(v2_in_v1), unwrap(read_header(io.BytesIO(v2_in_v1)), BIDDER_X), io.BytesIO())


class _CountingHash:
    def __init__(self, counter: list[int], inner: Any) -> None:
        self.counter, self.inner = counter, inner

    def update(self, data: Any) -> None:
        self.counter[0] += len(memoryview(data).cast("B"))
        self.inner.update(data)

    def copy(self) -> _CountingHash:
        return _CountingHash(self.counter, self.inner.copy())

    def digest(self) -> bytes:
        return self.inner.digest()

    def hexdigest(self) -> str:
        return self.inner.hexdigest()


def _bytes_hashed(monkeypatch: pytest.MonkeyPatch, work: Any) -> int:
    """How many bytes bidding.envelope hands to SHA-256 while `work()` runs."""
    counter = [0]

    class CountingHashlib:
        @staticmethod
        def sha256(data: bytes = b"") -> _CountingHash:
            counted = _CountingHash(counter, hashlib.sha256())
            counted.update(data)
            return counted

    monkeypatch.setattr(env, "hashlib", CountingHashlib)
    work()
    monkeypatch.undo()
    return counter[0]


def test_version_2_hashes_the_input_once_and_never_the_ciphertext(monkeypatch: pytest.MonkeyPatch) -> None:
    package_bytes = make_package(documents=[("big.bin", os.urandom(1 << 20))], version=2)[0]
    size = len(package_bytes)
    results: dict[str, Any] = {}

    def seal_v(version: int) -> Any:
        return lambda: results.__setitem__(version, do_seal(package_bytes, chunk_size=65536, version=version))

    sealing = {version: _bytes_hashed(monkeypatch, seal_v(version)) for version in (1, 2)}
    assert 2 * size < sealing[1] < 2 * size + 100_000  # the package, then every ciphertext byte
    assert size < sealing[2] < size + 20_000  # the package once; then 16 bytes a chunk and the header
    data = results[2][0]
    key = unwrap(results[2][1].header, BIDDER_X)

    def open_v2() -> None:
        results["opened"] = open_envelope(io.BytesIO(data), key, io.BytesIO(),
                                          signer_public=raw_public(BIDDER_E))

    assert size < _bytes_hashed(monkeypatch, open_v2) < size + 20_000  # the opening: the package only
    assert _bytes_hashed(monkeypatch, lambda: parse(data, hash_file=False)) < 20_000  # the server's reader
    info = parse(data, hash_file=False, signer_public=raw_public(BIDDER_E))
    assert info.sha256 == "" and parse(data).sha256 == hashlib.sha256(data).hexdigest()
    # a version 1 envelope is always hashed: its signature covers that hash
    assert parse(results[1][0], hash_file=False).sha256 == hashlib.sha256(results[1][0]).hexdigest()


def test_version_2_tampering_is_detected(sealed_v2) -> None:
    data, info = sealed_v2
    key = unwrap(info.header, BIDDER_X)
    signer = raw_public(BIDDER_E)
    _, chunks, _ = layout(data)
    parts = records(data)
    assert len(parts) >= 3

    def opens(envelope: bytes, match: str) -> None:
        with pytest.raises(EnvelopeError, match=match):
            open_envelope(io.BytesIO(envelope), key, io.BytesIO(), signer_public=signer)

    # a ciphertext byte: the signature (over the tags) still verifies, the chunk's tag does not
    body = bytearray(data)
    body[chunks[1][0] + 5 + 100] ^= 1
    parse(bytes(body), signer_public=signer, hash_file=False)
    opens(bytes(body), "chunk 1 does not decrypt")
    # a tag byte: the signature fails as soon as the server has read the envelope
    tag = bytearray(data)
    tag[chunks[1][0] + 5 + chunks[1][2] - 1] ^= 1
    refused(bytes(tag), "signature does not verify", signer_public=signer, hash_file=False)
    # chunks reordered, cut off with the last flag moved, or the header altered
    swapped = info.header.prefix + parts[1] + parts[0] + b"".join(parts[2:]) + info.trailer.record
    refused(swapped, "signature does not verify", signer_public=signer)
    opens(swapped, "chunk 0 does not decrypt")  # the opening decrypts as it reads: the first fault
    cut = info.header.prefix + parts[0] + b"\x01" + parts[1][1:] + info.trailer.record
    refused(cut, "signature does not verify", signer_public=signer)
    later = Header.build(tender=7, lot=1, bidder=BIDDER, recipients=list(info.header.recipients),
                         chunk_size=4096, nonce_prefix=info.header.nonce_prefix,
                         created="2026-12-02T08:00:00Z", version=2)
    moved = later.prefix + b"".join(parts) + info.trailer.record
    refused(moved, "signature does not verify", signer_public=signer)
    # the magic says version 1: its header's `v` says 2
    refused(env.MAGIC + data[8:], "the header's version is 2; the envelope's magic says version 1")
    # the bidder signs a commitment to another package: the opening tells
    other = commitment(7, 1, BIDDER, os.urandom(32), hashlib.sha256(b"another bid").digest(), 2)
    lying = assemble_v2(info.header, parts, other, info.package_size)
    parse(lying, signer_public=signer)
    opens(lying, "the commitment does not match the package")
    # a version 1 commitment (label ebid-commitment-v1) does not do for version 2
    opened = open_envelope(io.BytesIO(data), key, io.BytesIO())
    v1_label = commitment(7, 1, BIDDER, opened.salt, bytes.fromhex(opened.package_sha256), 1)
    opens(assemble_v2(info.header, parts, v1_label, info.package_size), "the commitment does not match")


def test_version_2_envelope_that_opens_to_two_plaintexts_is_caught_by_the_commitment(package_v2) -> None:
    """The invisible salamander of version 1's test, in version 2: the tags are signed, but GCM is not
    key-committing, so only the commitment tells which plaintext the bidder signed."""
    k1, k2, salt = os.urandom(32), os.urandom(32), os.urandom(32)
    info_bytes = wrap_info(7, 1, BIDDER)
    recipients = [Recipient(role, kid_of(raw_public(key)),
                            *wrap_data_key(data_key, raw_public(key), info_bytes))
                  for role, key, data_key in (("opening", OPENING, k2), ("bidder", BIDDER_X, k1))]
    header = Header.build(tender=7, lot=1, bidder=BIDDER, recipients=recipients, chunk_size=16384,
                          nonce_prefix=os.urandom(7), created="2026-12-01T08:00:00Z", version=2)
    plaintext = salt + package_v2[0]
    assert len(plaintext) < 16384
    nonce = env.chunk_nonce(header.nonce_prefix, 0, True)
    sealed_chunk = salamander(k1, k2, nonce, header.hash, plaintext, free_block=(len(plaintext) - 64) // 16)
    for_bidder = AESGCM(k1).decrypt(nonce, sealed_chunk, header.hash)
    c = commitment(7, 1, BIDDER, salt, hashlib.sha256(for_bidder[32:]).digest(), 2)
    data = assemble_v2(header, [record(1, sealed_chunk)], c, len(plaintext) - 32)
    parse(data, signer_public=raw_public(BIDDER_E))  # the tag is the same under both keys: signed, valid
    assert open_envelope(io.BytesIO(data), unwrap(header, BIDDER_X), io.BytesIO()).bid == package_v2[1]
    with pytest.raises(EnvelopeError, match="the commitment does not match the package"):
        open_envelope(io.BytesIO(data), unwrap(header, OPENING, "opening"), io.BytesIO())


def test_check_sealed_accepts_a_version_2_envelope_and_refuses_any_other_bytes(package_v2, sealed_v2) -> None:
    data, info = sealed_v2
    key = unwrap(info.header, BIDDER_X)
    assert env.check_sealed(io.BytesIO(data), key, info, keep=512) == package_v2[0][:512]
    for at in (3, len(info.header.prefix) + 40, len(data) - 100, len(data) - 3):
        with pytest.raises(EnvelopeError):
            env.check_sealed(io.BytesIO(_flip(data, at)), key, info)
