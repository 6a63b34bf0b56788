"""The bid package inside an envelope (docs/envelope.md, "Package"): a tar whose first member is bid.json.

Version 1's bid.json lists each document's name, SHA-256 and size, so every document is read twice
(hashed, then copied into the tar). Version 2's lists name and size only (the envelope's commitment
binds every byte of the package, documents included), so a version 2 package is made in one read.

Pure: no Flask, no database. Writing and reading stream, so a package of any size is handled in
constant memory; only bid.json itself (≤ 1 MiB) is read whole. Writing uses tarfile's own headers
(ustar, pax where needed) and copies the data itself; reading uses tarfile's stream mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from signing.canonical import canonical_json, reject_duplicate_keys

BID_JSON = "bid.json"
DOCUMENTS = "documents/"
MAX_BID_JSON = 1 << 20
VERSION = 1
VERSIONS = (1, 2)
#: A document's fields in bid.json, by version.
DOCUMENT_FIELDS = {1: {"name", "sha256", "size"}, 2: {"name", "size"}}

_FIELDS = ("v", "tender", "lot", "bidder", "price", "duration_days", "criteria", "documents")
_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BIDDER = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")
_MAX_ID = 2**53 - 1
_BLOCK = 1 << 20


class BidError(ValueError):
    """A package or bid.json that does not follow docs/envelope.md; the message says what is wrong."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_document_name(name: str) -> str:
    """A document's file name as it goes under documents/: one path component, printable, ≤ 255 bytes."""
    if not isinstance(name, str) or not name or name in (".", ".."):
        raise BidError(f"{name!r} is not a usable document name")
    if "/" in name or "\\" in name:
        raise BidError(f"a document name is a plain file name, without folders: {name!r}")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise BidError(f"a document name has no control characters: {name!r}")
    if len(name.encode("utf-8")) > 255:
        raise BidError(f"the document name is longer than 255 bytes: {name!r}")
    return name


def validate_bid(bid: Any) -> dict[str, Any]:
    """Check bid.json's structure: exactly the fields of docs/envelope.md, each of the right type."""
    if not isinstance(bid, dict):
        raise BidError("bid.json must be a JSON object")
    missing = [k for k in _FIELDS if k not in bid]
    if missing:
        raise BidError(f"bid.json lacks {', '.join(repr(k) for k in missing)}")
    extra = sorted(set(bid) - set(_FIELDS))
    if extra:
        raise BidError(f"bid.json has unknown field{'s' if len(extra) > 1 else ''} "
                       f"{', '.join(repr(k) for k in extra)}")
    if not _is_int(bid["v"]) or bid["v"] not in VERSIONS:
        raise BidError(f"bid.json's version is {bid['v']!r}; this reader knows versions 1 and 2")
    fields = DOCUMENT_FIELDS[bid["v"]]
    for name in ("tender", "lot"):
        if not _is_int(bid[name]) or not 1 <= bid[name] <= _MAX_ID:
            raise BidError(f"{name} must be a positive integer")
    if not isinstance(bid["bidder"], str) or not _BIDDER.fullmatch(bid["bidder"]):
        raise BidError("bidder must be an 18-character unified social credit code")
    price = bid["price"]
    if not isinstance(price, dict) or set(price) != {"amount", "currency"}:
        raise BidError('price must be {"amount": "<decimal>", "currency": "<ISO 4217 code>"}')
    amount = price["amount"]
    if not isinstance(amount, str) or not _AMOUNT.fullmatch(amount):
        raise BidError(f"price.amount must be a decimal string with at most two places, such as "
                       f"\"11850000.00\", not {amount!r}")
    if not any(ch in "123456789" for ch in amount):
        raise BidError("price.amount must be greater than zero")
    if not isinstance(price["currency"], str) or not _CURRENCY.fullmatch(price["currency"]):
        raise BidError("price.currency must be three upper-case letters (ISO 4217), "
                       f"not {price['currency']!r}")
    if not _is_int(bid["duration_days"]) or not 1 <= bid["duration_days"] <= 36_500:
        raise BidError("duration_days must be a positive whole number of days")
    criteria = bid["criteria"]
    if not isinstance(criteria, dict):
        raise BidError("criteria must be an object of criterion name to response text")
    for key, value in criteria.items():
        if not key.strip() or not isinstance(value, str):
            raise BidError(f"criteria: the response to {key!r} must be text under a non-empty name")
    documents = bid["documents"]
    if not isinstance(documents, list):
        raise BidError("documents must be a list")
    seen: set[str] = set()
    for n, doc in enumerate(documents):
        if not isinstance(doc, dict) or set(doc) != fields:
            raise BidError(f"documents[{n}] must be {{{', '.join(sorted(fields))}}}")
        name = doc["name"]
        if not isinstance(name, str) or not name.startswith(DOCUMENTS):
            raise BidError(f"documents[{n}].name must start with {DOCUMENTS!r}")
        check_document_name(name[len(DOCUMENTS):])
        if name in seen:
            raise BidError(f"the document {name} is listed twice")
        seen.add(name)
        if "sha256" in fields and (not isinstance(doc["sha256"], str) or not _HEX64.fullmatch(doc["sha256"])):
            raise BidError(f"documents[{n}].sha256 must be 64 lower-case hex digits")
        if not _is_int(doc["size"]) or not 0 <= doc["size"] <= _MAX_ID:
            raise BidError(f"documents[{n}].size must be a whole number of bytes")
    return bid


# --- writing ---------------------------------------------------------------------------------------------


def _hash_stream(stream: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while block := stream.read(_BLOCK):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0  # reproducible packages; the envelope's header carries the time
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class PreparedPackage:
    """A package whose bid.json is final, ready to be written (once).

    Version 2 (bid.json's `v` is 2): preparing only finds each document's size (a file's from the
    file system; a stream that cannot seek is spooled first), so writing reads each document once.
    A file must keep its size, inode and modification time while it is copied.

    Version 1: preparing reads every document once (bid.json leads the tar and lists their SHA-256); writing
    reads them again. A document that changes in between fails the writing rather than producing
    a package whose bid.json does not match it: a file must keep its size, inode and modification
    time (checked after it is copied; hashing it twice would cost a third of `ebid seal`), a
    stream is hashed again as it is copied.
    """

    def __init__(self, bid: dict[str, Any], documents: list[tuple[str, Path | BinaryIO]]) -> None:
        self.bid = {k: v for k, v in bid.items() if k != "documents"}
        self._sources: list[tuple[str, Path | IO[bytes], int, str]] = []
        self._stats: dict[str, tuple[int, int, int, int]] = {}
        self._spooled: list[IO[bytes]] = []
        self.version = bid.get("v")
        try:
            if self.version == 2:
                listed = [self._size(name, source) for name, source in documents]
            else:
                listed = [self._hash(name, source) for name, source in documents]
            self.bid["documents"] = listed
            validate_bid(self.bid)
            self.raw = canonical_json(self.bid)
            if len(self.raw) > MAX_BID_JSON:
                raise BidError(f"bid.json is larger than {MAX_BID_JSON:,} bytes")
        except BaseException:
            self.close()
            raise

    def _hash(self, name: str, source: Path | BinaryIO) -> dict[str, Any]:
        member = DOCUMENTS + check_document_name(name)
        if isinstance(source, (str, Path)):
            path = Path(source)
            with path.open("rb") as handle:
                before = _identity(os.fstat(handle.fileno()))
                sha, size = _hash_stream(handle)
                if _identity(os.fstat(handle.fileno())) != before or size != before[0]:
                    raise BidError(f"{member} changed while it was being read")
            self._stats[member] = before
            self._sources.append((member, path, size, sha))
        else:
            stream = self._seekable(source)
            start = stream.tell()
            sha, size = _hash_stream(stream)
            stream.seek(start)
            self._sources.append((member, stream, size, sha))
        return {"name": member, "sha256": sha, "size": size}

    def _seekable(self, stream: IO[bytes]) -> IO[bytes]:
        """The stream itself, or a spooled copy of it (closed by close()) when it cannot seek."""
        if hasattr(stream, "seekable") and stream.seekable():
            return stream
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._spooled.append(spool)
        shutil.copyfileobj(stream, spool, _BLOCK)
        spool.seek(0)
        return spool

    def _size(self, name: str, source: Path | BinaryIO) -> dict[str, Any]:
        """Version 2: a document's size, without reading it."""
        member = DOCUMENTS + check_document_name(name)
        if isinstance(source, (str, Path)):
            path = Path(source)
            try:
                before = _identity(path.stat())
            except OSError as exc:
                raise BidError(f"cannot read {member}: {exc.strerror or exc}") from None
            self._stats[member] = before
            self._sources.append((member, path, before[0], ""))
            return {"name": member, "size": before[0]}
        stream = self._seekable(source)
        start = stream.tell()
        size = stream.seek(0, os.SEEK_END) - start
        stream.seek(start)
        self._sources.append((member, stream, size, ""))
        return {"name": member, "size": size}

    @property
    def documents_size(self) -> int:
        """The documents' bytes: nearly all of the package for any sizeable bid."""
        return sum(size for _m, _s, size, _h in self._sources)

    def write(self, out: BinaryIO) -> None:
        """Stream the tar to `out`: bid.json, then each document, checked to be the bytes hashed."""
        for piece in self._pieces():
            out.write(piece)

    def open(self) -> BinaryIO:
        """The tar as a readable stream, made as it is read (for sealing without a temporary file)."""
        return _PieceReader(self._pieces())  # type: ignore[return-value]

    def _pieces(self) -> Iterator[bytes]:
        """The tar in pieces. The headers are tarfile's own (`TarInfo.tobuf`, pax where needed); the
        data goes in 1 MiB blocks, which is what tarfile's stream mode does at a tenth of the cost.
        The archive ends as tarfile ends it: two zero blocks, padded to 10,240-byte records.
        """
        written = 0

        def padding(boundary: int) -> bytes:
            return tarfile.NUL * (-written % boundary)

        def header(name: str, size: int) -> bytes:
            return _member(name, size).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

        for piece in (header(BID_JSON, len(self.raw)), self.raw):
            written += len(piece)
            yield piece
        yield (piece := padding(tarfile.BLOCKSIZE))
        written += len(piece)
        for member, src, size, sha in self._sources:
            piece = header(member, size)
            written += len(piece)
            yield piece
            if isinstance(src, Path):
                with src.open("rb") as handle:
                    yield from _blocks(_Exact(handle, size, None, member), size)
                    if _identity(os.fstat(handle.fileno())) != self._stats[member]:
                        raise BidError(f"{member} changed while the package was written")
            else:
                yield from _blocks(_Exact(src, size, sha or None, member), size)
            written += size
            yield (piece := padding(tarfile.BLOCKSIZE))
            written += len(piece)
        written += 2 * tarfile.BLOCKSIZE
        yield tarfile.NUL * (2 * tarfile.BLOCKSIZE) + padding(tarfile.RECORDSIZE)

    def close(self) -> None:
        for spool in self._spooled:
            spool.close()
        self._spooled.clear()

    def __enter__(self) -> PreparedPackage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prepare_package(bid: dict[str, Any], documents: list[tuple[str, Path | BinaryIO]]) -> PreparedPackage:
    """Hash the documents and fix bid.json (validated); `write` it afterwards, then `close` it."""
    return PreparedPackage(bid, documents)


def write_package(out: BinaryIO, bid: dict[str, Any],
                  documents: list[tuple[str, Path | BinaryIO]]) -> dict[str, Any]:
    """Write the package tar to `out` (streamed); the bid as written, with its `documents` list filled in.

    Each document is (name under documents/, a path or a binary stream). Sizes and SHA-256 are
    computed first (a stream that cannot seek is spooled to a temporary file), so bid.json can
    lead the archive.
    """
    with prepare_package(bid, documents) as prepared:
        prepared.write(out)
        return prepared.bid


def _blocks(source: _Exact, size: int) -> Iterator[bytes]:
    left = size
    while left:
        block = source.read(min(_BLOCK, left))
        left -= len(block)
        yield block


class _PieceReader:
    """A read-only stream over an iterator of byte pieces."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._piece = b""
        self._at = 0

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            rest = [self._piece[self._at:], *self._pieces]
            self._piece, self._at = b"", 0
            return b"".join(rest)
        while self._at >= len(self._piece):
            piece = next(self._pieces, None)
            if piece is None:
                return b""
            self._piece, self._at = piece, 0
        data = self._piece[self._at:self._at + n]
        self._at += len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Stop early: the document being read is closed at once."""
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    return stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev


class _Exact:
    """Gives exactly `size` bytes, or raises; with `sha256`, also checks they are the bytes hashed."""

    def __init__(self, stream: IO[bytes], size: int, sha256: str | None, name: str) -> None:
        self.stream, self.left, self.sha256, self.name = stream, size, sha256, name
        self.digest = hashlib.sha256() if sha256 is not None else None

    def read(self, n: int = -1) -> bytes:
        want = self.left if n < 0 else min(n, self.left)
        data = self.stream.read(want)
        while 0 < len(data) < want and (more := self.stream.read(want - len(data))):
            data += more  # a stream may answer with less than asked before its end
        if len(data) < want:
            raise BidError(f"{self.name} changed while the package was written")
        self.left -= len(data)
        if self.digest is not None:
            self.digest.update(data)
            if self.left == 0 and self.digest.hexdigest() != self.sha256:
                raise BidError(f"{self.name} changed while the package was written")
        return data


# --- reading ---------------------------------------------------------------------------------------------


_no_duplicates = reject_duplicate_keys(lambda key: BidError(f"bid.json has the key {key!r} twice"))


def _open(package: IO[bytes]) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=package, mode="r|")
    except tarfile.TarError as exc:
        if "empty" in str(exc):
            raise BidError("the package is empty") from None
        raise BidError("the package is not a tar archive") from None


def _first(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.next()
    except tarfile.TarError as exc:
        raise BidError(f"the package is not a valid tar archive: {exc}") from None
    if member is None:
        raise BidError("the package is empty")
    if member.name != BID_JSON:
        raise BidError(f"the package's first member is {member.name!r}; it must be bid.json")
    if not member.isreg():
        raise BidError("bid.json must be a regular file")
    if member.size > MAX_BID_JSON:
        raise BidError(f"bid.json is larger than {MAX_BID_JSON:,} bytes")
    handle = tar.extractfile(member)
    assert handle is not None
    try:
        raw = handle.read()
    except (tarfile.TarError, OSError) as exc:
        raise BidError(f"bid.json is truncated: {exc}") from None
    if len(raw) != member.size:
        raise BidError("bid.json is truncated")
    try:
        bid = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise BidError("bid.json is not UTF-8") from None
    except BidError:
        raise
    except ValueError:
        raise BidError("bid.json is not valid JSON") from None
    return validate_bid(bid)


def read_bid(package: IO[bytes]) -> dict[str, Any]:
    """bid.json, validated, from the package's first member (the rest of the stream is not read)."""
    return _first(_open(package))


def verify_package(package: IO[bytes], directory: Path | None = None) -> dict[str, Any]:
    """Read the whole package: bid.json, then exactly the documents it lists, in order, sizes and hashes.

    With `directory` (which must exist), bid.json and the documents are also written into it, the
    documents under `documents/`; a file there is complete only if this returns. A version 2 bid.json
    lists no document hashes: each document in the bid returned then carries the SHA-256 computed as
    it was read (`sha256`), which the file itself does not.
    """
    tar = _open(package)
    bid = _first(tar)
    if directory is not None:
        (directory / BID_JSON).write_bytes(json.dumps(bid, ensure_ascii=False, indent=2).encode() + b"\n")
        (directory / "documents").mkdir(exist_ok=True)
    expected = list(bid["documents"])
    computed: list[dict[str, Any]] = []
    position = 0
    while True:
        try:
            member = tar.next()
        except tarfile.TarError as exc:
            raise BidError(f"the package is not a valid tar archive: {exc}") from None
        if member is None:
            break
        if position >= len(expected):
            raise BidError(f"the package holds {member.name!r}, which bid.json does not list")
        doc = expected[position]
        if member.name != doc["name"]:
            raise BidError(f"the package holds {member.name!r} where bid.json lists {doc['name']!r}")
        if not member.isreg():
            raise BidError(f"{member.name} must be a regular file")
        if member.size != doc["size"]:
            raise BidError(f"{member.name} is {member.size:,} bytes; bid.json says {doc['size']:,}")
        handle = tar.extractfile(member)
        assert handle is not None
        target = None
        if directory is not None:
            target = (directory / "documents" / check_document_name(member.name[len(DOCUMENTS):])).open("wb")
        try:
            digest, size = hashlib.sha256(), 0
            while block := handle.read(_BLOCK):
                digest.update(block)
                size += len(block)
                if target is not None:
                    target.write(block)
        except (tarfile.TarError, OSError) as exc:
            raise BidError(f"{member.name} is truncated: {exc}") from None
        finally:
            if target is not None:
                target.close()
        if size != doc["size"]:
            raise BidError(f"{member.name} is truncated")
        if "sha256" in doc and digest.hexdigest() != doc["sha256"]:
            raise BidError(f"{member.name} does not match its SHA-256 in bid.json")
        computed.append({**doc, "sha256": digest.hexdigest()})
        position += 1
    if position < len(expected):
        raise BidError(f"bid.json lists {expected[position]['name']!r}, which the package does not hold")
    return {**bid, "documents": computed}
