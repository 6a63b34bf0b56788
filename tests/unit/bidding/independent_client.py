"""A minimal envelope opener and verifier written from docs/envelope.md alone.

It deliberately imports nothing of the platform (no `bidding`, no `signing`): only the standard
library and `cryptography`'s primitives (HPKE, AES-GCM, Ed25519, X25519), as an outside
implementer would. Each step cites the section of docs/envelope.md it follows. It works on whole
envelopes in memory: it is a check of the document, not a production reader.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
import tarfile
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TAG = 16
SALT = 32


class Refused(Exception):
    """The envelope does not follow the document, or does not verify."""


def canonical(value: Any) -> bytes:
    """Conventions: RFC 8785 for objects, arrays, strings and integers with ASCII keys."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass
class Parsed:
    version: int
    prefix: bytes  # MAGIC || u32 header_length || header
    header: dict[str, Any]
    records: list[tuple[int, bytes]]  # (flag, ciphertext with its tag), in order
    trailer: dict[str, Any]
    signed_region: bytes  # every byte before trailer_json
    whole: bytes


MAGICS = {b"EBIDENV1": 1, b"EBIDENV2": 2}
END = b"EBIDEND1"


def parse(data: bytes) -> Parsed:
    """Layout: MAGIC || u32 header_length || header || chunk* || trailer_json || u32 trailer_length || END."""
    version = MAGICS.get(data[:8])
    if version is None:
        raise Refused("bad magic")
    (header_length,) = struct.unpack(">I", data[8:12])
    if not 1 <= header_length <= 65536:
        raise Refused("header length")
    header_bytes = data[12:12 + header_length]
    header = json.loads(header_bytes)
    if canonical(header) != header_bytes:  # Header: byte-for-byte canonical
        raise Refused("header not canonical")
    if header["v"] != version:
        raise Refused("header version differs from the magic")
    if data[-8:] != END:
        raise Refused("no end marker")
    (trailer_length,) = struct.unpack(">I", data[-12:-8])  # the byte length of trailer_json
    if trailer_length > 4096:
        raise Refused("trailer too long")
    trailer_start = len(data) - 12 - trailer_length
    trailer_bytes = data[trailer_start:-12]
    trailer = json.loads(trailer_bytes)
    if canonical(trailer) != trailer_bytes:
        raise Refused("trailer not canonical")
    records, at = [], 12 + header_length
    chunk_size = header["chunk_size"]
    while True:  # chunk record = u8 flag || u32 length || ciphertext[length]
        flag, length = struct.unpack(">BI", data[at:at + 5])
        if flag not in (0, 1) or (flag == 0 and length != chunk_size + TAG) or length > chunk_size + TAG:
            raise Refused("chunk framing")
        records.append((flag, data[at + 5:at + 5 + length]))
        at += 5 + length
        if flag == 1:
            break
    if at != trailer_start:  # the trailer starts exactly where the last chunk record ends
        raise Refused("bytes between the last chunk and the trailer")
    return Parsed(version, data[:12 + header_length], header, records, trailer, data[:trailer_start], data)


def info_bytes(header: dict[str, Any]) -> bytes:
    """Header: info = "ebid-envelope-v1" 0x00 tender 0x00 lot 0x00 bidder (decimal ASCII); the same in v2."""
    return b"\x00".join([b"ebid-envelope-v1", str(header["tender"]).encode(), str(header["lot"]).encode(),
                         header["bidder"].encode()])


def unwrap(parsed: Parsed, private_raw: bytes, role: str) -> bytes:
    """HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, single shot, aad empty."""
    recipient = next(r for r in parsed.header["recipients"] if r["role"] == role)
    private = X25519PrivateKey.from_private_bytes(private_raw)
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    blob = base64.b64decode(recipient["enc"]) + base64.b64decode(recipient["ct"])
    return suite.decrypt(blob, private, info=info_bytes(parsed.header))


def statement(parsed: Parsed) -> bytes:
    """Trailer and signature: the label, 0x0A, then the canonical JSON statement."""
    h = parsed.header
    if parsed.version == 1:
        body = {"v": 1, "tender": h["tender"], "lot": h["lot"], "bidder": h["bidder"], "kid": h["kid"],
                "envelope": sha256(parsed.signed_region).hex(), "commitment": parsed.trailer["commitment"]}
        return b"ebid-envelope-signature-v1\n" + canonical(body)
    tags = b"".join(ciphertext[-TAG:] for _flag, ciphertext in parsed.records)
    plaintext = sum(len(ciphertext) - TAG for _flag, ciphertext in parsed.records)
    body = {"v": 2, "tender": h["tender"], "lot": h["lot"], "bidder": h["bidder"], "kid": h["kid"],
            "header": sha256(parsed.prefix).hex(), "plaintext_size": plaintext,
            "tags": sha256(tags).hex(), "commitment": parsed.trailer["commitment"]}
    return b"ebid-envelope-signature-v2\n" + canonical(body)


def verify(parsed: Parsed, ed25519_public: bytes) -> None:
    if parsed.trailer["signer"] != sha256(ed25519_public).hex():
        raise Refused("signed by another key")
    Ed25519PublicKey.from_public_bytes(ed25519_public).verify(
        base64.b64decode(parsed.trailer["signature"]), statement(parsed))


def decrypt(parsed: Parsed, data_key: bytes) -> tuple[bytes, bytes]:
    """Chunks: piece i under nonce prefix || u32 i || u8 last, aad = SHA-256 of the envelope's prefix."""
    aead = AESGCM(data_key)
    prefix = base64.b64decode(parsed.header["nonce_prefix"])
    aad = sha256(parsed.prefix)
    pieces = [aead.decrypt(prefix + struct.pack(">IB", i, flag), ciphertext, aad)
              for i, (flag, ciphertext) in enumerate(parsed.records)]
    plaintext = b"".join(pieces)
    return plaintext[:SALT], plaintext[SALT:]


def commitment(parsed: Parsed, salt: bytes, package: bytes) -> str:
    """Commitment: SHA-256(label 0x00 tender 0x00 lot 0x00 bidder 0x00 || salt || SHA-256(package))."""
    h = parsed.header
    label = b"ebid-commitment-v1" if parsed.version == 1 else b"ebid-commitment-v2"
    fields = b"\x00".join([label, str(h["tender"]).encode(), str(h["lot"]).encode(), h["bidder"].encode()])
    return hashlib.sha256(fields + b"\x00" + salt + sha256(package)).hexdigest()


def read_package(package: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Package: a tar, bid.json first, then exactly the documents it lists, in order."""
    members: dict[str, bytes] = {}
    names: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(package), mode="r|") as tar:
        for member in tar:
            if not member.isreg():
                raise Refused("a member is not a regular file")
            handle = tar.extractfile(member)
            assert handle is not None
            members[member.name] = handle.read()
            names.append(member.name)
    if not names or names[0] != "bid.json":
        raise Refused("bid.json is not the first member")
    bid = json.loads(members["bid.json"])
    listed = [doc["name"] for doc in bid["documents"]]
    if names[1:] != listed:
        raise Refused("the documents are not those bid.json lists")
    for doc in bid["documents"]:
        if len(members[doc["name"]]) != doc["size"]:
            raise Refused(f"{doc['name']} has the wrong size")
        if "sha256" in doc and hashlib.sha256(members[doc["name"]]).hexdigest() != doc["sha256"]:
            raise Refused(f"{doc['name']} has the wrong hash")
    return bid, members


def open_envelope(data: bytes, *, private_raw: bytes, role: str, ed25519_public: bytes,
                  tar: bool = True) -> dict[str, Any]:
    """Opening, steps 1-5: framing and signature, unwrap, decrypt, commitment, bid.json."""
    parsed = parse(data)
    verify(parsed, ed25519_public)
    data_key = unwrap(parsed, private_raw, role)
    salt, package = decrypt(parsed, data_key)
    if commitment(parsed, salt, package) != parsed.trailer["commitment"]:
        raise Refused("the commitment does not match")
    result: dict[str, Any] = {"version": parsed.version, "package": package, "data_key": data_key,
                              "sha256": hashlib.sha256(data).hexdigest(), "header": parsed.header}
    if tar:
        bid, members = read_package(package)
        h = parsed.header
        if (bid["tender"], bid["lot"], bid["bidder"]) != (h["tender"], h["lot"], h["bidder"]):
            raise Refused("bid.json names another tender, lot or bidder")
        result.update(bid=bid, members=members)
    return result


def split_vkey(text: str) -> tuple[str, bytes, bytes]:
    """The receipt's signed note: split the verifier key at the first two '+' only; check its key id."""
    name, key_id_hex, encoded = text.split("+", 2)
    key = base64.b64decode(encoded, validate=True)
    if len(key) != 33 or key[0] != 1:
        raise Refused("not an Ed25519 verifier key")
    key_id = bytes.fromhex(key_id_hex)
    if sha256(name.encode() + b"\n" + key)[:4] != key_id:
        raise Refused("the key id does not match")
    return name, key_id, key[1:]


def receipt_ties(entry: dict[str, Any], envelope: bytes) -> tuple[int, int, str]:
    """The receipt and how it ties to the tender: (tender, lot, bidder) of the envelope it names."""
    named = {"envelope": hashlib.sha256(envelope).hexdigest()}
    if entry["event"] != "bid.submitted" or entry["subject"] != named:
        raise Refused("the receipt names another envelope")
    parsed = parse(envelope)
    if entry["data"]["size"] != len(envelope) or entry["data"]["commitment"] != parsed.trailer["commitment"]:
        raise Refused("the receipt's size or commitment differs")
    return parsed.header["tender"], parsed.header["lot"], parsed.header["bidder"]
