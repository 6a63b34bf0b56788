"""The sealed-bid envelope of docs/envelope.md, versions 1 and 2: seal, parse while streaming, verify, open.

Pure: no Flask, no database. The bidder's `ebid seal` and the server's intake and opening all go
through this module, so the format has one implementation in Python (the browser has the other,
checked against `tests/unit/bidding/envelope_vectors.json`).

Everything streams: sealing and opening hold at most two chunks in memory, the server-side
`EnvelopeReader` holds none (only the header, ≤ 64 KiB, and the trailer, ≤ 4 KiB).

Version 2 has version 1's framing, header, chunks and key wrapping; its bidder signs the header's hash,
the plaintext's length and every chunk's GCM tag instead of a SHA-256 of every ciphertext byte, its
commitment has its own label, and its bid.json lists each document's name and size without a SHA-256.
So sealing hashes the input once (the package, for the commitment) and the opening and the server's
intake never hash the ciphertext for the signature. Readers take both versions; `seal` writes the
version it is asked for (`ebid seal` and the browser write version 2).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import queue
import re
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from signing.canonical import canonical_json, reject_duplicate_keys

MAGIC = b"EBIDENV1"
MAGIC_V2 = b"EBIDENV2"
#: The magic of each version, and the version of each magic.
MAGICS = {1: MAGIC, 2: MAGIC_V2}
_VERSION_OF = {magic: version for version, magic in MAGICS.items()}
END = b"EBIDEND1"  # the end marker is the framing's, the same in both versions
VERSION = 1
VERSIONS = (1, 2)
LATEST = 2
SUITE = "HPKE-X25519-HKDF-SHA256-AES-256-GCM"
#: HPKE `info` prefix (data-key wrapping), commitment label and signature label.
WRAP_LABEL = b"ebid-envelope-v1"
COMMITMENT_LABEL = b"ebid-commitment-v1"
SIGNATURE_LABEL = b"ebid-envelope-signature-v1"
COMMITMENT_LABELS = {1: COMMITMENT_LABEL, 2: b"ebid-commitment-v2"}
SIGNATURE_LABELS = {1: SIGNATURE_LABEL, 2: b"ebid-envelope-signature-v2"}
ROLES = ("opening", "bidder")

MAX_HEADER = 65_536
MAX_TRAILER = 4_096
MIN_CHUNK = 4_096
MAX_CHUNK = 16_777_216
DEFAULT_CHUNK = 65_536
TAG = 16
SALT_SIZE = 32
DATA_KEY_SIZE = 32
NONCE_PREFIX_SIZE = 7
MAX_CHUNKS = 2**32  # the nonce's counter is a u32
_MAX_ID = 2**53 - 1  # I-JSON integers

_HPKE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: A unified social credit code's shape: 18 of the digits and upper-case letters less I, O, S, V, Z.
_BIDDER = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")
_CREATED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_READ = 1 << 20
#: Sealing and checking work on about this much plaintext at a time (whole chunks).
_BATCH = 1 << 19


class EnvelopeError(ValueError):
    """An envelope that is malformed, does not verify or does not open; the message says what is wrong."""


# --- small helpers ----------------------------------------------------------------------------------------


def kid_of(raw_public: bytes) -> str:
    """A key's id: hex SHA-256 of its 32 raw public bytes."""
    if len(raw_public) != 32:
        raise ValueError(f"a raw public key has 32 bytes, not {len(raw_public)}")
    return hashlib.sha256(raw_public).hexdigest()


def raw_public(key: X25519PrivateKey | Ed25519PrivateKey | X25519PublicKey | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a key's public half."""
    public = key.public_key() if isinstance(key, (X25519PrivateKey, Ed25519PrivateKey)) else key
    return public.public_bytes(*_RAW)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _unb64(value: Any, what: str, size: int) -> bytes:
    """Strict, canonical base64 of exactly `size` bytes (the encoding is unique: the header is signed)."""
    if not isinstance(value, str):
        raise EnvelopeError(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError(f"{what} is not valid base64") from None
    if len(raw) != size:
        raise EnvelopeError(f"{what} must be {size} bytes, not {len(raw)}")
    if _b64(raw) != value:
        raise EnvelopeError(f"{what} is not in canonical base64")
    return raw


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_id(value: Any, what: str) -> int:
    if not _is_int(value) or not 1 <= value <= _MAX_ID:
        raise EnvelopeError(f"{what} must be a positive integer")
    return value


def is_bidder_code(value: Any) -> bool:
    """Whether `value` has the shape of a unified social credit code (the check digits are not checked)."""
    return isinstance(value, str) and _BIDDER.fullmatch(value) is not None


def _check_bidder(value: Any) -> str:
    if not isinstance(value, str) or not _BIDDER.fullmatch(value):
        raise EnvelopeError("bidder must be an 18-character unified social credit code "
                            "(digits and upper-case letters other than I, O, S, V, Z)")
    return value


def _check_hex(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise EnvelopeError(f"{what} must be 64 lower-case hex digits")
    return value


_no_duplicates = reject_duplicate_keys(lambda key: EnvelopeError(f"the key {key!r} appears twice"))


def _bad_constant(name: str) -> Any:
    raise EnvelopeError(f"{name} is not JSON")


def _parse_json(raw: bytes, what: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvelopeError(f"the {what} is not UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_bad_constant)
    except EnvelopeError as exc:
        raise EnvelopeError(f"the {what} is not valid JSON: {exc}") from None
    except ValueError:
        raise EnvelopeError(f"the {what} is not valid JSON") from None


def _exact_fields(obj: Any, expected: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise EnvelopeError(f"the {what} must be a JSON object")
    missing = [k for k in expected if k not in obj]
    if missing:
        raise EnvelopeError(f"the {what} lacks {', '.join(repr(k) for k in missing)}")
    extra = sorted(set(obj) - set(expected))
    if extra:
        raise EnvelopeError(f"the {what} has unknown field{'s' if len(extra) > 1 else ''} "
                            f"{', '.join(repr(k) for k in extra)}")
    return obj


def wrap_info(tender: int, lot: int, bidder: str) -> bytes:
    """HPKE `info` binding the wrapped data key to tender, lot and bidder."""
    return b"\x00".join([WRAP_LABEL, str(tender).encode(), str(lot).encode(), bidder.encode()])


def commitment(tender: int, lot: int, bidder: str, salt: bytes, package_sha256: bytes,
               version: int = 1) -> str:
    """C, hex: SHA-256(label, tender, lot, bidder, 0x00-separated; 0x00; salt; SHA-256(package)).

    The label is the version's: "ebid-commitment-v1" or "ebid-commitment-v2"."""
    if len(salt) != SALT_SIZE or len(package_sha256) != 32:
        raise ValueError("the salt and the package hash are 32 bytes each")
    label = COMMITMENT_LABELS[version]
    prefix = b"\x00".join([label, str(tender).encode(), str(lot).encode(), bidder.encode()])
    return hashlib.sha256(prefix + b"\x00" + salt + package_sha256).hexdigest()


def chunk_nonce(nonce_prefix: bytes, index: int, last: bool) -> bytes:
    """The AES-GCM nonce of chunk `index`: prefix (7) || u32 index || u8 last."""
    return nonce_prefix + struct.pack(">IB", index, 1 if last else 0)


# --- header and trailer -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """One HPKE-wrapped copy of the data key: `enc` (32 bytes) and `ct` (48 bytes)."""

    role: str
    kid: str
    enc: bytes
    ct: bytes

    def to_json(self) -> dict[str, str]:
        return {"role": self.role, "kid": self.kid, "enc": _b64(self.enc), "ct": _b64(self.ct)}


_HEADER_FIELDS = ("v", "suite", "tender", "lot", "bidder", "kid", "recipients", "chunk_size",
                  "nonce_prefix", "created")
_RECIPIENT_FIELDS = ("role", "kid", "enc", "ct")
_TRAILER_FIELDS = ("commitment", "signer", "signature")


@dataclass(frozen=True)
class Header:
    """The parsed header; `raw` is its canonical JSON exactly as in the envelope."""

    tender: int
    lot: int
    bidder: str
    kid: str
    recipients: tuple[Recipient, ...]
    chunk_size: int
    nonce_prefix: bytes
    created: str
    raw: bytes = field(repr=False)
    version: int = VERSION

    @property
    def prefix(self) -> bytes:
        """MAGIC || u32 header_length || header: the envelope's first bytes (the version's magic)."""
        return MAGICS[self.version] + struct.pack(">I", len(self.raw)) + self.raw

    @property
    def hash(self) -> bytes:
        """SHA-256(MAGIC || u32 header_length || header): every chunk's associated data."""
        return hashlib.sha256(self.prefix).digest()

    def recipient(self, role: str) -> Recipient:
        for recipient in self.recipients:
            if recipient.role == role:
                return recipient
        raise EnvelopeError(f"the envelope has no {role} recipient")

    @property
    def created_at(self) -> datetime:
        return datetime.strptime(self.created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    @classmethod
    def parse(cls, raw: bytes, version: int = VERSION) -> Header:
        """Validate the header bytes against docs/envelope.md: exact fields, types, sizes, canonical.

        `version` is the one the envelope's magic announced; the header's `v` must be the same."""
        obj = _exact_fields(_parse_json(raw, "header"), _HEADER_FIELDS, "header")
        if not _is_int(obj["v"]) or obj["v"] != version:
            raise EnvelopeError(f"the header's version is {obj['v']!r}; the envelope's magic says version "
                                f"{version}")
        if obj["suite"] != SUITE:
            raise EnvelopeError(f"the header's suite is {obj['suite']!r}, not {SUITE!r}")
        tender = _check_id(obj["tender"], "the header's tender")
        lot = _check_id(obj["lot"], "the header's lot")
        bidder = _check_bidder(obj["bidder"])
        kid = _check_hex(obj["kid"], "the header's kid")
        chunk_size = obj["chunk_size"]
        if (not _is_int(chunk_size) or not MIN_CHUNK <= chunk_size <= MAX_CHUNK
                or chunk_size & (chunk_size - 1)):
            raise EnvelopeError(f"chunk_size must be a power of two from {MIN_CHUNK:,} to {MAX_CHUNK:,}")
        nonce_prefix = _unb64(obj["nonce_prefix"], "nonce_prefix", NONCE_PREFIX_SIZE)
        created = obj["created"]
        if not isinstance(created, str) or not _CREATED.fullmatch(created):
            raise EnvelopeError("created must be a UTC time such as 2026-12-01T08:00:00Z")
        try:
            datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ")  # noqa: DTZ007 - the Z is checked above
        except ValueError:
            raise EnvelopeError(f"created is not a real time: {created}") from None
        items = obj["recipients"]
        if not isinstance(items, list) or len(items) != len(ROLES):
            raise EnvelopeError("the header must have exactly two recipients: opening, then bidder")
        recipients = []
        for role, item in zip(ROLES, items, strict=True):
            item = _exact_fields(item, _RECIPIENT_FIELDS, f"{role} recipient")
            if item["role"] != role:
                raise EnvelopeError(f"the recipients must be opening, then bidder; found {item['role']!r} "
                                    f"where {role!r} belongs")
            recipients.append(Recipient(
                role, _check_hex(item["kid"], f"the {role} recipient's kid"),
                _unb64(item["enc"], f"the {role} recipient's enc", 32),
                _unb64(item["ct"], f"the {role} recipient's ct", DATA_KEY_SIZE + TAG)))
        if recipients[0].kid != kid:
            raise EnvelopeError("the opening recipient's kid differs from the header's kid")
        if canonical_json(obj) != raw:
            raise EnvelopeError("the header is not canonical JSON (RFC 8785)")
        return cls(tender, lot, bidder, kid, tuple(recipients), chunk_size, nonce_prefix, created, raw,
                   version)

    @classmethod
    def build(cls, *, tender: int, lot: int, bidder: str, recipients: list[Recipient], chunk_size: int,
              nonce_prefix: bytes, created: str, version: int = VERSION) -> Header:
        if version not in VERSIONS:
            raise ValueError(f"the envelope's version is one of {VERSIONS}")
        obj = {"v": version, "suite": SUITE, "tender": tender, "lot": lot, "bidder": bidder,
               "kid": recipients[0].kid, "recipients": [r.to_json() for r in recipients],
               "chunk_size": chunk_size, "nonce_prefix": _b64(nonce_prefix), "created": created}
        raw = canonical_json(obj)
        if len(raw) > MAX_HEADER:
            raise EnvelopeError("the header is too long")
        return cls.parse(raw, version)


@dataclass(frozen=True)
class Trailer:
    """The commitment C and the bidder's signature."""

    commitment: str
    signer: str
    signature: bytes
    raw: bytes = field(repr=False)

    @classmethod
    def parse(cls, raw: bytes) -> Trailer:
        obj = _exact_fields(_parse_json(raw, "trailer"), _TRAILER_FIELDS, "trailer")
        trailer = cls(_check_hex(obj["commitment"], "the trailer's commitment"),
                      _check_hex(obj["signer"], "the trailer's signer"),
                      _unb64(obj["signature"], "the trailer's signature", 64), raw)
        if canonical_json(obj) != raw:
            raise EnvelopeError("the trailer is not canonical JSON (RFC 8785)")
        return trailer

    @classmethod
    def build(cls, commitment: str, signer: str, signature: bytes) -> Trailer:
        return cls.parse(canonical_json({"commitment": commitment, "signer": signer,
                                         "signature": _b64(signature)}))

    @property
    def record(self) -> bytes:
        """trailer_json || u32 trailer_length || END: the envelope's last bytes."""
        return self.raw + struct.pack(">I", len(self.raw)) + END


@dataclass(frozen=True)
class EnvelopeInfo:
    """What the framing says: header, trailer, the signed-over hash, the whole file's hash and size."""

    header: Header
    trailer: Trailer
    #: What the signature covers, as one hex SHA-256: in version 1 the hash of everything before the
    #: trailer (the statement's `envelope`); in version 2 the hash of the signed bytes themselves.
    envelope_hash: str
    #: hex SHA-256 of the whole file: the envelope's name in the blob store, receipt and log. Empty for a
    #: version 2 envelope read or sealed without hashing the file (`hash_file=False`): the blob store
    #: hashes what it stores, and version 2 needs no other hash of the ciphertext.
    sha256: str
    size: int
    chunks: int
    package_size: int  # plaintext bytes after the salt
    #: Version 2: hex SHA-256 of every chunk's 16-byte tag, in order (the statement's `tags`).
    tags: str = ""

    @property
    def version(self) -> int:
        return self.header.version


# --- the streaming parser ---------------------------------------------------------------------------------

_MAGIC, _HEADER_LENGTH, _HEADER, _CHUNK_HEAD, _CHUNK_BODY, _TRAILER, _DONE = range(7)


class EnvelopeReader:
    """A push parser: `feed` it the envelope's bytes in any split, then `finish()`.

    It checks the framing as the bytes arrive and raises `EnvelopeError` at the first fault, so a
    server can stop reading an upload as soon as it is wrong. Memory is constant apart from the
    header (≤ 64 KiB) and the trailer (≤ 4 KiB). The optional expectations (tender, lot, bidder,
    opening and bidder kids) are checked as soon as the header is complete; `signer_public` (the
    bidder's registered Ed25519 key) is checked by `finish()`.

    `on_chunk(index, last, ciphertext)` — when given — receives every complete chunk (used for
    opening; the chunk is then buffered, at most chunk_size + 16 bytes), as bytes or, when it lay
    whole in one block of bytes fed, a read-only view of them (valid during the call).

    A version 1 envelope is hashed as it streams (its signature covers every byte). A version 2 one
    is hashed only if `hash_file` (to give `EnvelopeInfo.sha256`); its signature needs only the chunks'
    tags, which are collected as they pass. The server's intake passes `hash_file=False`: the blob
    store hashes what it stores, so the bytes are hashed once.
    """

    def __init__(self, max_size: int | None = None, *, tender: int | None = None, lot: int | None = None,
                 bidder: str | None = None, opening_kid: str | None = None, bidder_kid: str | None = None,
                 signer_public: bytes | None = None,
                 on_chunk: Callable[[int, bool, bytes], None] | None = None, hash_file: bool = True) -> None:
        self.max_size = max_size
        self._hash_file = hash_file
        self._hashing = True  # until the magic says version 2 and the file's hash is not wanted
        self.version: int | None = None
        self._tags = hashlib.sha256()
        self._tag = bytearray()
        self._expect = {"tender": tender, "lot": lot, "bidder": bidder, "opening_kid": opening_kid,
                        "bidder_kid": bidder_kid}
        self._signer_public = signer_public
        self._on_chunk = on_chunk
        self._state = _MAGIC
        self._need = len(MAGIC)
        self._buf = bytearray()
        self._body = bytearray()
        self._whole: memoryview | None = None
        self._immutable = False
        self._hash = hashlib.sha256()  # everything before the trailer
        self._size = 0
        self._chunks = 0  # chunks seen completely
        self._plaintext = 0
        self._flag = 0
        self._remaining = 0
        self._trailer = bytearray()
        self._trailer_offset = 0
        self._error: EnvelopeError | None = None
        self.header: Header | None = None

    @property
    def size(self) -> int:
        """Bytes fed so far."""
        return self._size

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Parse the next bytes; raises EnvelopeError (again on every later call) once the envelope is bad."""
        if self._error is not None:
            raise self._error
        if self._state == _DONE:
            raise EnvelopeError("the envelope was already finished")
        # A chunk wholly inside immutable bytes goes to `on_chunk` as a view of them, without a copy.
        self._immutable = isinstance(data, bytes)
        try:
            self._feed(memoryview(data).cast("B"))
        except EnvelopeError as exc:
            self._error = exc
            raise

    def _feed(self, view: memoryview) -> None:
        total = len(view)
        self._size += total
        if self.max_size is not None and self._size > self.max_size:
            raise EnvelopeError(f"the envelope is larger than the limit of {self.max_size:,} bytes")
        pos = 0
        while pos < total:
            state = self._state
            if state == _CHUNK_BODY:
                take = min(self._remaining, total - pos)
                piece = view[pos:pos + take]
                if self._hashing:
                    self._hash.update(piece)
                if self.version == 2 and (start := self._remaining - TAG) < take:
                    self._tag += piece[max(start, 0):]  # the chunk's last 16 bytes: its GCM tag
                if self._on_chunk is not None:
                    if self._immutable and take == self._remaining and not self._body:
                        self._whole = piece  # the whole chunk, in bytes nobody can change
                    else:
                        self._body += piece
                self._remaining -= take
                pos += take
                if self._remaining == 0:
                    self._end_chunk()
            elif state == _TRAILER:
                if not self._trailer:
                    self._trailer_starts(view[pos])
                    self._trailer_offset = self._size - (total - pos)
                room = MAX_TRAILER + 13 - len(self._trailer)  # one byte over the limit is enough to tell
                self._trailer += view[pos:pos + room]
                pos = total
                if len(self._trailer) > MAX_TRAILER + 12:
                    self._trailer_fault(final=False)
            else:
                take = min(self._need - len(self._buf), total - pos)
                self._buf += view[pos:pos + take]
                pos += take
                if state == _MAGIC and not (MAGIC.startswith(self._buf) or MAGIC_V2.startswith(self._buf)):
                    raise EnvelopeError("not an ebid envelope (bad magic)")
                if len(self._buf) == self._need:
                    self._field_done()

    def _field_done(self) -> None:
        data = bytes(self._buf)
        self._buf.clear()
        if self._hashing:
            self._hash.update(data)
        if self._state == _MAGIC:
            self.version = _VERSION_OF[data]
            self._hashing = self.version == 1 or self._hash_file
            self._state, self._need = _HEADER_LENGTH, 4
        elif self._state == _HEADER_LENGTH:
            (length,) = struct.unpack(">I", data)
            if length == 0:
                raise EnvelopeError("the header is empty")
            if length > MAX_HEADER:
                raise EnvelopeError(f"the header is {length:,} bytes long; the limit is {MAX_HEADER:,}")
            self._state, self._need = _HEADER, length
        elif self._state == _HEADER:
            assert self.version is not None
            self.header = Header.parse(data, self.version)
            check_header(self.header, **self._expect)
            self._state, self._need = _CHUNK_HEAD, 5
        else:
            self._chunk_head(data)

    def _chunk_head(self, data: bytes) -> None:
        assert self.header is not None
        index = self._chunks
        flag, length = data[0], struct.unpack(">I", data[1:])[0]
        if flag not in (0, 1):
            raise EnvelopeError(f"chunk {index} has flag 0x{flag:02x}, not 0x00 (more follow) or 0x01 (last)")
        if index >= MAX_CHUNKS:
            raise EnvelopeError("the envelope has more chunks than the nonce's counter allows")
        full = self.header.chunk_size + TAG
        if flag == 0 and length != full:
            raise EnvelopeError(f"chunk {index} is {length:,} bytes long; every chunk but the last is "
                                f"chunk_size + 16 = {full:,}")
        if flag == 1:
            smallest = SALT_SIZE + TAG if index == 0 else 1 + TAG
            if not smallest <= length <= full:
                raise EnvelopeError(f"the last chunk (chunk {index}) is {length:,} bytes long; it must be "
                                    f"{smallest} to {full:,}")
        self._flag, self._remaining = flag, length
        self._plaintext += length - TAG
        self._state = _CHUNK_BODY

    def _end_chunk(self) -> None:
        index, last = self._chunks, self._flag == 1
        self._chunks += 1
        if self.version == 2:
            self._tags.update(self._tag)
            self._tag.clear()
        if self._on_chunk is not None:
            if self._whole is not None:
                body: bytes | memoryview = self._whole
                self._whole = None
            else:
                body = bytes(self._body)
                self._body.clear()
            self._on_chunk(index, last, body)  # type: ignore[arg-type]
        if last:
            self._state = _TRAILER
        else:
            self._state, self._need = _CHUNK_HEAD, 5

    def _trailer_starts(self, first: int) -> None:
        if first in (0, 1):
            raise EnvelopeError(f"a chunk follows the last chunk (chunk {self._chunks - 1})")
        if first != ord("{"):
            raise EnvelopeError(f"the trailer is not a JSON object (it starts with byte 0x{first:02x})")

    def _end_marker(self) -> int | None:
        """Where a well-formed trailer's END marker sits in the bytes after the last chunk, if anywhere."""
        data = bytes(self._trailer)
        start = 0
        while (at := data.find(END, start)) >= 0:
            if at >= 4 and struct.unpack(">I", data[at - 4:at])[0] == at - 4:
                return at
            start = at + 1
        return None

    def _trailer_fault(self, *, final: bool) -> None:
        at = self._end_marker()
        if at is not None and at - 4 <= MAX_TRAILER and at + len(END) < len(self._trailer):
            extra = self._size - (self._trailer_offset + at + len(END))
            verb = "byte follows" if extra == 1 else "bytes follow"
            raise EnvelopeError(f"{extra:,} {verb} the end of the envelope")
        if len(self._trailer) > MAX_TRAILER + 12 or (at is not None and at - 4 > MAX_TRAILER):
            raise EnvelopeError(f"the trailer is too long (the limit is {MAX_TRAILER:,} bytes)")
        if final:
            raise EnvelopeError("the envelope ends inside its trailer")

    def finish(self) -> EnvelopeInfo:
        """Check that the envelope is complete and its trailer well formed; its description."""
        if self._error is not None:
            raise self._error
        try:
            info = self._finish()
        except EnvelopeError as exc:
            self._error = exc
            raise
        self._state = _DONE
        return info

    def _finish(self) -> EnvelopeInfo:
        state, have = self._state, len(self._buf)
        if state == _MAGIC:
            raise EnvelopeError("the envelope is empty" if self._size == 0
                                else "the envelope ends inside its magic")
        if state == _HEADER_LENGTH:
            raise EnvelopeError("the envelope ends inside its header length")
        if state == _HEADER:
            raise EnvelopeError(f"the envelope ends inside its header ({have:,} of {self._need:,} bytes)")
        if state == _CHUNK_HEAD:
            if self._chunks == 0 and have == 0:
                raise EnvelopeError("the envelope has no chunk")
            if have == 0:
                raise EnvelopeError(f"the envelope ends after chunk {self._chunks - 1}, "
                                    "before its last chunk")
            raise EnvelopeError(f"the envelope ends inside the framing of chunk {self._chunks}")
        if state == _CHUNK_BODY:
            raise EnvelopeError(f"chunk {self._chunks} is truncated (the envelope ends inside it)")
        if state == _DONE:
            raise EnvelopeError("the envelope was already finished")
        data = bytes(self._trailer)
        if not data:
            raise EnvelopeError("the envelope ends after its last chunk, without a trailer")
        if len(data) < 12 or data[-8:] != END or struct.unpack(">I", data[-12:-8])[0] != len(data) - 12:
            self._trailer_fault(final=True)
        trailer = Trailer.parse(data[:-12])
        assert self.header is not None
        whole = self._hash.copy()
        whole.update(data)
        sha256 = whole.hexdigest() if self._hashing else ""
        if self.version == 1:
            info = EnvelopeInfo(self.header, trailer, self._hash.hexdigest(), sha256, self._size,
                                self._chunks, self._plaintext - SALT_SIZE)
        else:
            info = _v2_info(self.header, trailer, sha256, self._size, self._chunks,
                            self._plaintext - SALT_SIZE, self._tags.hexdigest())
        if self._signer_public is not None:
            verify_signature(info, self._signer_public)
        return info


def check_header(header: Header, *, tender: int | None = None, lot: int | None = None,
                 bidder: str | None = None, opening_kid: str | None = None,
                 bidder_kid: str | None = None) -> None:
    """Refuse an envelope meant for another tender, lot, bidder or key (whatever is given is checked)."""
    if tender is not None and header.tender != tender:
        raise EnvelopeError(f"the header names tender {header.tender} but the envelope was given for "
                            f"tender {tender}")
    if lot is not None and header.lot != lot:
        raise EnvelopeError(f"the header names lot {header.lot} but the envelope was given for lot {lot}")
    if bidder is not None and header.bidder != bidder:
        raise EnvelopeError(f"the header names bidder {header.bidder} but the envelope was given by {bidder}")
    if opening_kid is not None and header.kid != opening_kid:
        raise EnvelopeError(f"the envelope is sealed to opening key {header.kid}, not to the tender's "
                            f"opening key {opening_kid}")
    if bidder_kid is not None and header.recipient("bidder").kid != bidder_kid:
        raise EnvelopeError(f"the envelope's bidder recipient is key {header.recipient('bidder').kid}, "
                            f"not the bidder's registered encryption key {bidder_kid}")


def read_envelope_info(stream: BinaryIO, max_size: int | None = None, *, hash_file: bool = True,
                       **expect: Any) -> EnvelopeInfo:
    """Parse a whole envelope from a stream (constant memory); `expect` as for `EnvelopeReader`."""
    reader = EnvelopeReader(max_size, hash_file=hash_file, **expect)
    while block := stream.read(_READ):
        reader.feed(block)
    return reader.finish()


def read_header(stream: BinaryIO) -> Header:
    """Only the header, from the start of an envelope (to unwrap its data key before reading the rest)."""
    reader = EnvelopeReader()
    while reader.header is None:
        block = stream.read(reader._need - len(reader._buf))  # exactly the field being read
        if not block:
            reader.finish()  # raises: the envelope ends before its header does
        reader.feed(block)
    return reader.header


# --- the signature ---------------------------------------------------------------------------------------


def _statement(header: Header, envelope_hash: str, commitment_hex: str, *, tags: str = "",
               package_size: int = 0) -> bytes:
    if header.version == 1:
        statement = canonical_json({"v": 1, "tender": header.tender, "lot": header.lot,
                                    "bidder": header.bidder, "kid": header.kid, "envelope": envelope_hash,
                                    "commitment": commitment_hex})
    else:
        statement = canonical_json({"v": 2, "tender": header.tender, "lot": header.lot,
                                    "bidder": header.bidder, "kid": header.kid, "header": header.hash.hex(),
                                    "plaintext_size": package_size + SALT_SIZE, "tags": tags,
                                    "commitment": commitment_hex})
    return SIGNATURE_LABELS[header.version] + b"\n" + statement


def signed_statement(info: EnvelopeInfo) -> bytes:
    """The exact bytes the bidder signs: the version's label, 0x0A, then the canonical JSON statement."""
    return _statement(info.header, info.envelope_hash, info.trailer.commitment, tags=info.tags,
                      package_size=info.package_size)


def _v2_info(header: Header, trailer: Trailer, sha256: str, size: int, chunks: int, package_size: int,
             tags: str) -> EnvelopeInfo:
    """A version 2 envelope's description; its `envelope_hash` is the SHA-256 of the bytes signed."""
    signed = _statement(header, "", trailer.commitment, tags=tags, package_size=package_size)
    return EnvelopeInfo(header, trailer, hashlib.sha256(signed).hexdigest(), sha256, size, chunks,
                        package_size, tags)


def verify_signature(info: EnvelopeInfo, ed25519_public_raw: bytes) -> None:
    """Check the trailer's signature with the bidder's (registered) Ed25519 public key."""
    kid = kid_of(ed25519_public_raw)
    if info.trailer.signer != kid:
        raise EnvelopeError(f"the envelope is signed by key {info.trailer.signer}, not by the bidder's "
                            f"registered key {kid}")
    try:
        Ed25519PublicKey.from_public_bytes(ed25519_public_raw).verify(info.trailer.signature,
                                                                      signed_statement(info))
    except InvalidSignature:
        raise EnvelopeError("the signature does not verify with the bidder's registered key") from None


# --- sealing ---------------------------------------------------------------------------------------------


def wrap_data_key(data_key: bytes, recipient_public: bytes, info: bytes) -> tuple[bytes, bytes]:
    """HPKE base-mode single-shot Seal of the data key (aad empty): (enc, ct)."""
    blob = _HPKE.encrypt(data_key, X25519PublicKey.from_public_bytes(recipient_public), info=info)
    return blob[:32], blob[32:]


def _read_full(stream: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes, fewer only at the end of the stream."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    have = len(data)
    while have < size and (more := stream.read(size - have)):
        parts.append(more)
        have += len(more)
    return b"".join(parts)


def _utc_text(moment: datetime | None) -> str:
    moment = datetime.now(UTC) if moment is None else moment
    if moment.tzinfo is None:
        raise ValueError("created must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _HashThread:
    """SHA-256 of a sequence of pieces, computed on a helper thread.

    hashlib releases the GIL on large buffers, so sealing and opening hash the plaintext on one core
    while the other encrypts and hashes the ciphertext. The queue is bounded to a few items (a piece,
    or a list of pieces hashed in order: handing over a batch costs less than a piece at a time), so
    memory stays constant; pieces must be immutable bytes.
    """

    def __init__(self, piece_size: int) -> None:
        self._digest = hashlib.sha256()
        self._queue: queue.Queue[bytes | list[bytes] | None] = queue.Queue(
            maxsize=max(2, (1 << 20) // piece_size))
        self._thread = threading.Thread(target=self._run, name="ebid-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, list):
                for piece in item:
                    self._digest.update(piece)
            else:
                self._digest.update(item)

    def update(self, piece: bytes | list[bytes]) -> None:
        """Hash `piece` next (or each of a list of pieces, in order)."""
        self._queue.put(piece)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def digest(self) -> bytes:
        self.close()
        return self._digest.digest()


def seal(package: BinaryIO, out: BinaryIO, *, tender: int, lot: int, bidder: str, opening_public: bytes,
         bidder_public: bytes, signing_key: Ed25519PrivateKey, chunk_size: int = DEFAULT_CHUNK,
         created: datetime | None = None, progress: Callable[[int], None] | None = None,
         version: int = VERSION, signer_public: bytes | None = None, _data_key: bytes | None = None,
         _salt: bytes | None = None, _nonce_prefix: bytes | None = None,
         _recipients: list[Recipient] | None = None) -> EnvelopeInfo:
    """Seal the package to the tender's opening key and the bidder's own key, in one streaming pass.

    `progress(n)` is called with the number of package bytes just consumed. `version` 2 hashes only
    the package (for the commitment) and signs the chunks' tags; its `EnvelopeInfo.sha256` is empty
    (the file's SHA-256 is computed where it is needed: by the blob store, and by `ebid submit`).
    The package must be of the same version (bid.json's `v`). `signing_key` needs only a
    `sign(bytes)` method, called once at the end, if `signer_public` (its raw public key) is given:
    `ebid seal` opens the key file meanwhile. The underscored arguments exist for
    test vectors only (a fixed data key, salt and nonce prefix, and recipients
    wrapped elsewhere with fixed ephemeral keys); never pass them otherwise.
    """
    _check_id(tender, "tender")
    _check_id(lot, "lot")
    _check_bidder(bidder)
    data_key = _data_key if _data_key is not None else os.urandom(DATA_KEY_SIZE)
    salt = _salt if _salt is not None else os.urandom(SALT_SIZE)
    nonce_prefix = _nonce_prefix if _nonce_prefix is not None else os.urandom(NONCE_PREFIX_SIZE)
    if len(data_key) != DATA_KEY_SIZE or len(salt) != SALT_SIZE or len(nonce_prefix) != NONCE_PREFIX_SIZE:
        raise ValueError("wrong size of data key, salt or nonce prefix")
    if _recipients is None:
        info = wrap_info(tender, lot, bidder)
        _recipients = [Recipient(role, kid_of(public), *wrap_data_key(data_key, public, info))
                       for role, public in (("opening", opening_public), ("bidder", bidder_public))]
    header = Header.build(tender=tender, lot=lot, bidder=bidder, recipients=_recipients,
                          chunk_size=chunk_size, nonce_prefix=nonce_prefix, created=_utc_text(created),
                          version=version)
    aad = header.hash
    aead = AESGCM(data_key)
    # version 1: SHA-256 of every byte before the trailer; version 2: SHA-256 of the chunks' tags
    hasher = hashlib.sha256(header.prefix) if version == 1 else hashlib.sha256()
    size = len(header.prefix)
    out.write(header.prefix)
    # This thread reads, encrypts, hashes the ciphertext and writes; a helper hashes the package on the
    # other core, fed a batch of pieces at a time (a hand-over per chunk costs more than it saves).
    package_hash = _HashThread(_batch(chunk_size))
    try:
        index, plaintext, size = _seal_chunks(package, out, package_hash, hasher, aead, aad, salt,
                                              nonce_prefix, chunk_size, size, progress,
                                              tags_only=version == 2)
        package_sha256 = package_hash.digest()
    finally:
        package_hash.close()

    signer_public = signer_public if signer_public is not None else raw_public(signing_key)
    c = commitment(tender, lot, bidder, salt, package_sha256, version)
    if version == 2:
        tags = hasher.hexdigest()
        signed = _statement(header, "", c, tags=tags, package_size=plaintext - SALT_SIZE)
        trailer = Trailer.build(c, kid_of(signer_public), signing_key.sign(signed))
        out.write(trailer.record)
        size += len(trailer.record)
        return EnvelopeInfo(header, trailer, hashlib.sha256(signed).hexdigest(), "", size, index,
                            plaintext - SALT_SIZE, tags)
    envelope_hash = hasher.hexdigest()
    trailer = Trailer.build(c, kid_of(signer_public), signing_key.sign(_statement(header, envelope_hash, c)))
    hasher.update(trailer.record)  # the file's hash continues the signed hash: no extra pass
    out.write(trailer.record)
    size += len(trailer.record)
    return EnvelopeInfo(header, trailer, envelope_hash, hasher.hexdigest(), size, index,
                        plaintext - SALT_SIZE)


def _batch(chunk_size: int) -> int:
    """Plaintext handed to the package's hash thread (and reported as progress) at a time: whole chunks,
    about 512 KiB."""
    return max(chunk_size, _BATCH // chunk_size * chunk_size)


def _seal_chunks(package: BinaryIO, out: BinaryIO, package_hash: _HashThread, hasher: Any, aead: AESGCM,
                 aad: bytes, salt: bytes, nonce_prefix: bytes, chunk_size: int, size: int,
                 progress: Callable[[int], None] | None, *, tags_only: bool = False) -> tuple[int, int, int]:
    """Encrypt and write every chunk; (chunks, plaintext bytes, envelope bytes so far).

    `hasher` takes every record (version 1) or only each ciphertext's last 16 bytes, its tag (version 2).
    """
    batch = _batch(chunk_size)
    pieces: list[bytes] = []
    held = 0

    def hand_over(piece: bytes, *, final: bool = False) -> None:
        nonlocal pieces, held
        if piece:
            pieces.append(bytes(piece))  # immutable: the hash thread reads it later
            held += len(piece)
        if held >= batch or (final and pieces):
            package_hash.update(pieces)
            if progress is not None:
                progress(held)
            pieces, held = [], 0

    pack = struct.Struct(">BI").pack
    first = _read_full(package, chunk_size - SALT_SIZE)
    hand_over(first)
    piece = salt + first
    index = plaintext = 0
    while True:
        if len(piece) < chunk_size:
            following = b""
        else:
            following = _read_full(package, chunk_size)
            hand_over(following)
        last = not following
        if index >= MAX_CHUNKS:
            raise EnvelopeError("the package is too large for this chunk size")
        ciphertext = aead.encrypt(chunk_nonce(nonce_prefix, index, last), piece, aad)
        record_head = pack(1 if last else 0, len(ciphertext))
        if tags_only:
            hasher.update(ciphertext[-TAG:])
        else:
            hasher.update(record_head)
            hasher.update(ciphertext)
        out.write(record_head)
        out.write(ciphertext)
        size += len(record_head) + len(ciphertext)
        plaintext += len(piece)
        index += 1
        if last:
            hand_over(b"", final=True)
            return index, plaintext, size
        piece = following


def check_sealed(stream: BinaryIO, data_key: bytes, expected: EnvelopeInfo, *, keep: int = 0) -> bytes:
    """Check that `stream` holds exactly the envelope `expected` describes, in one cheap pass.

    For the sealer's re-opening of its own output: the header and trailer must be byte for byte
    those sealed, every chunk record must have the framing `expected` implies, and every chunk
    must decrypt with `data_key` (its AES-GCM tag binds its bytes, its position and the last-chunk
    flag to the header), and nothing may follow. Those together prove the stream is the envelope
    sealed, so its SHA-256 values are those computed while sealing and need not be recomputed.
    Returns the first `keep` bytes of the package (after the salt), to read bid.json back.
    """
    header = expected.header
    prefix = header.prefix
    if _read_full(stream, len(prefix)) != prefix:
        raise EnvelopeError("the envelope's header is not the one sealed")
    aead = AESGCM(data_key)
    aad = header.hash
    full = header.chunk_size + TAG + 5
    last_plain = expected.package_size + SALT_SIZE - (expected.chunks - 1) * header.chunk_size
    kept = bytearray()
    buffer = bytearray(_batch(header.chunk_size) // header.chunk_size * full)
    index = 0
    with memoryview(buffer) as view:
        while index < expected.chunks:
            count = min(len(buffer) // full, expected.chunks - index)
            size = count * full
            if index + count == expected.chunks:
                size -= full - (last_plain + TAG + 5)
            got = _readinto_full(stream, view[:size])
            if got != size:
                raise EnvelopeError(f"the envelope ends inside chunk {index + got // full}")
            for at in range(0, size, full):
                last = index == expected.chunks - 1
                length = last_plain + TAG if last else full - 5
                if view[at] != (1 if last else 0) or struct.unpack_from(">I", view, at + 1)[0] != length:
                    raise EnvelopeError(f"chunk {index}'s framing is not the one sealed")
                try:
                    with view[at + 5:at + 5 + length] as ciphertext:
                        plain = aead.decrypt(chunk_nonce(header.nonce_prefix, index, last), ciphertext, aad)
                except InvalidTag:
                    raise EnvelopeError(f"chunk {index} does not decrypt: the envelope is not the one "
                                        "sealed") from None
                if len(kept) < keep + SALT_SIZE:
                    kept += plain[:keep + SALT_SIZE - len(kept)]
                index += 1
    record = expected.trailer.record
    if _read_full(stream, len(record) + 1) != record:
        raise EnvelopeError("the envelope's trailer is not the one sealed, or bytes follow it")
    return bytes(kept[SALT_SIZE:])


def _readinto_full(stream: BinaryIO, view: memoryview) -> int:
    """Fill `view` from the stream; fewer bytes only at the end of the stream."""
    have = 0
    readinto = getattr(stream, "readinto", None)
    while have < len(view):
        if readinto is not None:
            got = readinto(view[have:])
        else:
            data = stream.read(len(view) - have)
            got = len(data)
            view[have:have + got] = data
        if not got:
            break
        have += got
    return have


# --- opening ---------------------------------------------------------------------------------------------


def unwrap(header: Header, private_key: X25519PrivateKey, role: str = "bidder") -> bytes:
    """The data key, unwrapped from the `role` recipient with its private key."""
    if role not in ROLES:
        raise ValueError(f"role is one of {ROLES}")
    recipient = header.recipient(role)
    kid = kid_of(raw_public(private_key))
    if recipient.kid != kid:
        raise EnvelopeError(f"this key ({kid}) is not the envelope's {role} recipient ({recipient.kid})")
    try:
        data_key = _HPKE.decrypt(recipient.enc + recipient.ct, private_key,
                                 info=wrap_info(header.tender, header.lot, header.bidder))
    except (InvalidTag, ValueError):
        raise EnvelopeError("the data key does not unwrap with this key") from None
    if len(data_key) != DATA_KEY_SIZE:
        raise EnvelopeError("the unwrapped data key is not 32 bytes")
    return data_key


@dataclass(frozen=True)
class OpenedEnvelope:
    """An envelope decrypted and checked against its commitment."""

    info: EnvelopeInfo
    bid: dict[str, Any] | None
    package_sha256: str
    salt: bytes


class _Opener:
    """Decrypts each chunk the reader completes, writes the package, keeps its start (for bid.json)."""

    def __init__(self, reader_header: Callable[[], Header | None], data_key: bytes, out: BinaryIO,
                 keep: int) -> None:
        self._header = reader_header
        self._aead = AESGCM(data_key)
        self._out = out
        self._keep = keep
        self.prefix = bytearray()
        self.salt = b""
        self.package_hash: _HashThread | None = None  # started with the first chunk, sized to the chunks
        self._aad = b""
        self._pieces: list[bytes] = []  # plaintext not yet handed to the hash thread
        self._held = 0
        self._batch = 0

    def __call__(self, index: int, last: bool, ciphertext: bytes) -> None:
        header = self._header()
        assert header is not None
        if index == 0:
            self._aad = header.hash
            self._batch = _batch(header.chunk_size)
            self.package_hash = _HashThread(self._batch)
        try:
            plain = self._aead.decrypt(chunk_nonce(header.nonce_prefix, index, last), ciphertext, self._aad)
        except InvalidTag:
            raise EnvelopeError(f"chunk {index} does not decrypt with this data key: a wrong key, or a chunk "
                                "altered, moved or flagged wrongly") from None
        if index == 0:
            self.salt, plain = plain[:SALT_SIZE], plain[SALT_SIZE:]
        assert self.package_hash is not None
        # handed to the hash thread a batch (about 512 KiB) at a time: a hand-over per chunk costs more
        self._pieces.append(plain)
        self._held += len(plain)
        if self._held >= self._batch or last:
            self.package_hash.update(self._pieces)
            self._pieces, self._held = [], 0
        if len(self.prefix) < self._keep:
            self.prefix += plain[:self._keep - len(self.prefix)]
        self._out.write(plain)


def open_envelope(stream: BinaryIO, data_key: bytes, package_out: BinaryIO, *,
                  max_size: int | None = None, read_bid: bool = True, hash_file: bool = False,
                  **expect: Any) -> OpenedEnvelope:
    """Decrypt every chunk in order into `package_out`, check the commitment, and read bid.json.

    `expect` takes the `EnvelopeReader` checks (tender, lot, bidder, opening_kid, bidder_kid,
    signer_public). `package_out` receives plaintext before the whole envelope is verified:
    discard it if this raises. `read_bid=False` skips bid.json (the bid is then None): for
    envelope-layer test vectors whose package is not a tar. A version 2 envelope's file is not hashed
    unless `hash_file` (its tags and the package's hash are all the checks need): one SHA-256 pass.
    """
    from bidding import package

    if len(data_key) != DATA_KEY_SIZE:
        raise EnvelopeError("a data key is 32 bytes")
    reader: EnvelopeReader
    keep = package.MAX_BID_JSON + 4096 if read_bid else 0  # bid.json, its tar header and any pax header
    opener = _Opener(lambda: reader.header, data_key, package_out, keep)
    reader = EnvelopeReader(max_size, on_chunk=opener, hash_file=hash_file, **expect)
    try:
        while block := stream.read(_READ):
            reader.feed(block)
        info = reader.finish()
        assert opener.package_hash is not None  # finish() saw at least one chunk
        package_sha256 = opener.package_hash.digest()
    finally:
        if opener.package_hash is not None:
            opener.package_hash.close()
    header = info.header
    expected = commitment(header.tender, header.lot, header.bidder, opener.salt, package_sha256,
                          header.version)
    if expected != info.trailer.commitment:
        raise EnvelopeError("the commitment does not match the package: this envelope opens to a "
                            "different bid than the one its bidder signed")
    if not read_bid:
        return OpenedEnvelope(info, None, package_sha256.hex(), opener.salt)
    try:
        bid = package.read_bid(io.BytesIO(bytes(opener.prefix)))
    except package.BidError as exc:
        raise EnvelopeError(f"the package's bid.json is not valid: {exc}") from None
    if bid["v"] != header.version:
        raise EnvelopeError(f"bid.json is version {bid['v']} but the envelope is version {header.version}")
    for name in ("tender", "lot", "bidder"):
        if bid[name] != getattr(header, name):
            raise EnvelopeError(f"bid.json names {name} {bid[name]} but the envelope is for {name} "
                                f"{getattr(header, name)}")
    return OpenedEnvelope(info, bid, package_sha256.hex(), opener.salt)

