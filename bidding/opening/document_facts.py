"""What the opening notes of a bid's documents as it decrypts them: for the supervisor's collusion signals.

The opening streams a bid's package (a tar: bid.json, then the documents under documents/) through
`DocumentFacts` instead of discarding it. For each document it records its name, size and SHA-256 (a
version 2 bid.json lists no digests, so they are computed here, one more SHA-256 pass over the
documents), and for a PDF (one that starts with "%PDF-" within its first 1024 bytes) the Author, Creator
and Producer strings of its document information dictionary, read with pyHanko's reader. A PDF is held in
memory to be read, up to `MAX_PDF` bytes; a larger one is noted as not read. Nothing else of a document
is kept: the bytes are dropped as they pass.

The recorded facts are the bidder's own metadata, shown to supervisors after the opening only
(docs/threat-model.md); they are not announced at the opening.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
from typing import Any

log = logging.getLogger(__name__)

#: A PDF larger than this is not read for its metadata (it would be held in memory whole).
MAX_PDF = 32 << 20
#: The PDF metadata recorded, by the name it has in the information dictionary.
PDF_FIELDS = {"author": "/Author", "creator": "/Creator", "producer": "/Producer"}
#: A metadata string is cut to this many characters.
MAX_TEXT = 200
_SNIFF = 1024
_BLOCK = tarfile.BLOCKSIZE


def pdf_metadata(data: bytes) -> dict[str, Any]:
    """The Author, Creator and Producer strings of a PDF ({} when it has none; {"error": ...} when unread)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            return {"error": "encrypted"}
        info = reader.trailer_view.get("/Info")
        if info is None:
            return {}
        info = info.get_object()
        found: dict[str, Any] = {}
        for key, name in PDF_FIELDS.items():
            value = info.get(name)
            if value is None:
                continue
            value = value.get_object()
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            text = str(value).strip()[:MAX_TEXT]
            if text:
                found[key] = text
        return found
    except Exception as exc:  # a broken PDF is the bidder's; the opening goes on
        log.info("a PDF's metadata could not be read: %s", exc)
        return {"error": "unreadable"}


class _Member:
    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.hash = hashlib.sha256()
        self.head: bytearray | None = bytearray()  # the first bytes, then the whole PDF (or None)
        self.pdf = False
        self.too_large = False

    def feed(self, data: bytes | memoryview) -> None:
        self.hash.update(data)
        if self.head is None:
            return
        self.head += data
        if not self.pdf and len(self.head) >= _SNIFF:
            self._sniff()
        if self.pdf and len(self.head) > MAX_PDF:
            self.head, self.too_large = None, True

    def _sniff(self) -> None:
        if b"%PDF-" in self.head[:_SNIFF]:  # type: ignore[index]
            self.pdf = True
        else:
            self.head = None

    def facts(self) -> dict[str, Any]:
        if self.head is not None and not self.pdf:
            self._sniff()
        fact: dict[str, Any] = {"name": self.name, "size": self.size, "sha256": self.hash.hexdigest(),
                                "pdf": None}
        if self.too_large:
            fact["pdf"] = {"error": "too_large"}
        elif self.pdf and self.head is not None:
            fact["pdf"] = pdf_metadata(bytes(self.head))
        self.head = None
        return fact


class DocumentFacts:
    """A package sink (`write`) that parses the tar as it streams past and notes each document's facts."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._member: _Member | None = None
        self._remaining = 0  # data bytes of the current member still to come
        self._padding = 0
        self._pax: dict[str, str] = {}
        self._special: tuple[bytes, bytearray] | None = None  # a pax or GNU long-name header's data
        self._ended = False
        self._broken = False
        self.documents: list[dict[str, Any]] = []

    def write(self, data: bytes) -> int:
        if not self._ended and not self._broken:
            try:
                self._feed(memoryview(data))
            except (tarfile.TarError, ValueError, UnicodeError) as exc:
                log.info("the package's tar could not be followed for its documents: %s", exc)
                self._broken = True
        return len(data)

    def _feed(self, view: memoryview) -> None:
        while view and not self._ended:
            if self._remaining:
                take = min(self._remaining, len(view))
                piece = view[:take]
                if self._member is not None:
                    self._member.feed(piece)
                elif self._special is not None:
                    self._special[1].extend(piece)
                view = view[take:]
                self._remaining -= take
                if not self._remaining:
                    self._end_member()
                continue
            if self._padding:
                take = min(self._padding, len(view))
                view = view[take:]
                self._padding -= take
                continue
            need = _BLOCK - len(self._buffer)
            self._buffer.extend(view[:need])
            view = view[need:]
            if len(self._buffer) == _BLOCK:
                block = bytes(self._buffer)
                self._buffer.clear()
                self._header(block)

    def _header(self, block: bytes) -> None:
        if block == tarfile.NUL * _BLOCK:
            self._ended = True
            return
        info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        size = info.size
        if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME):
            self._special = (info.type, bytearray())
        else:
            name = self._pax.pop("path", None) or info.name
            if "size" in self._pax:
                size = int(self._pax.pop("size"))
            self._pax.clear()
            if info.isreg() and name.startswith("documents/"):
                self._member = _Member(name, size)
        self._remaining = size
        self._padding = -size % _BLOCK
        if not size:
            self._end_member()

    def _end_member(self) -> None:
        if self._member is not None:
            self.documents.append(self._member.facts())
            self._member = None
        elif self._special is not None:
            kind, data = self._special
            self._special = None
            if kind == tarfile.XHDTYPE:
                self._pax.update(_pax_records(bytes(data)))
            elif kind == tarfile.GNUTYPE_LONGNAME:
                self._pax["path"] = bytes(data).rstrip(b"\0").decode("utf-8", "surrogateescape")


def _pax_records(data: bytes) -> dict[str, str]:
    """A pax extended header's records ("<length> <key>=<value>\\n" each)."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        if length <= 0:
            raise ValueError("a pax record of no length")
        record = data[space + 1:pos + length - 1]
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records
