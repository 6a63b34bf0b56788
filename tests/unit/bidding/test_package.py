"""The bid package: a tar whose first member is bid.json, then the documents it lists."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from bidding.package import (
    MAX_BID_JSON,
    BidError,
    prepare_package,
    read_bid,
    validate_bid,
    verify_package,
    write_package,
)
from signing.canonical import canonical_json

BID: dict[str, Any] = {
    "v": 1, "tender": 7, "lot": 1, "bidder": "91350100MA000001XY",
    "price": {"amount": "11850000.00", "currency": "CNY"}, "duration_days": 540,
    "criteria": {"施工组织设计": "见 documents/technical.pdf", "企业信誉与业绩": "..."},
}


def package_of(bid: dict[str, Any] | None = None,
               documents: list[tuple[str, Any]] | None = None) -> tuple[bytes, dict]:
    out = io.BytesIO()
    written = write_package(out, copy.deepcopy(bid or BID), documents or [])
    return out.getvalue(), written


def raw_tar(members: list[tuple[str, bytes]], *, kind: bytes = tarfile.REGTYPE) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.type = len(data), kind
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_write_then_read_lists_every_document_with_its_size_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "technical.pdf"
    path.write_bytes(b"%PDF-1.7\n" * 1000)
    stream_data = b"price list" * 333
    data, written = package_of(documents=[("technical.pdf", path),
                                          ("报价明细.xlsx", io.BytesIO(stream_data))])
    assert written["documents"] == [
        {"name": "documents/technical.pdf", "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
         "size": 9000},
        {"name": "documents/报价明细.xlsx", "sha256": hashlib.sha256(stream_data).hexdigest(), "size": 3330},
    ]
    assert read_bid(io.BytesIO(data)) == written
    assert verify_package(io.BytesIO(data)) == written
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["bid.json", "documents/technical.pdf", "documents/报价明细.xlsx"]
        assert all(m.isreg() and m.mtime == 0 and m.mode == 0o644 and m.uid == 0 for m in members)
        raw = tar.extractfile("bid.json").read()  # type: ignore[union-attr]
    assert raw == canonical_json(written)


def test_the_package_is_reproducible_and_streams_through_a_pipe_like_sink() -> None:
    class Sink:  # no seek, no tell: only write
        def __init__(self) -> None:
            self.parts: list[bytes] = []

        def write(self, data: bytes) -> int:
            self.parts.append(bytes(data))
            return len(data)

    class OneWay(io.RawIOBase):  # a document that cannot seek: it is spooled to learn its hash first
        def __init__(self, data: bytes) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self.inner.read(len(buffer))
            buffer[:len(chunk)] = chunk
            return len(chunk)

    sink = Sink()
    written = write_package(sink, copy.deepcopy(BID), [("a.txt", OneWay(b"hello" * 100))])  # type: ignore[arg-type]
    again, _ = package_of(documents=[("a.txt", io.BytesIO(b"hello" * 100))])
    assert b"".join(sink.parts) == again
    assert verify_package(io.BytesIO(again)) == written


def test_a_seekable_stream_is_read_from_where_it_stands() -> None:
    stream = io.BytesIO(b"skip this|the document")
    stream.seek(10)
    _, written = package_of(documents=[("doc.txt", stream)])
    assert written["documents"][0]["size"] == len(b"the document")


def test_write_package_replaces_a_stale_documents_list() -> None:
    _, written = package_of({**BID, "documents": [{"name": "documents/old", "sha256": "0" * 64, "size": 1}]})
    assert written["documents"] == []


@pytest.mark.parametrize(("name", "match"), [
    ("../escape.pdf", "plain file name, without folders"),
    ("sub/dir.pdf", "plain file name, without folders"),
    ("c:\\x.pdf", "plain file name, without folders"),
    ("..", "not a usable document name"),
    ("", "not a usable document name"),
    ("bell\x07.pdf", "no control characters"),
    ("长" * 100, "longer than 255 bytes"),
])
def test_document_names_are_single_printable_components(name: str, match: str) -> None:
    with pytest.raises(BidError, match=match):
        package_of(documents=[(name, io.BytesIO(b"x"))])


def test_a_document_listed_twice_is_refused() -> None:
    with pytest.raises(BidError, match="listed twice"):
        package_of(documents=[("a.pdf", io.BytesIO(b"1")), ("a.pdf", io.BytesIO(b"2"))])


def test_a_file_that_shrinks_while_the_package_is_written_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "doc.bin"
    path.write_bytes(b"x" * 1000)

    class Shrinking(io.BytesIO):
        def seek(self, *args: Any) -> int:  # after hashing, the file "changes" underneath
            position = super().seek(*args)
            self.truncate(500)
            return position

    with pytest.raises(BidError, match="changed while the package was written"):
        write_package(io.BytesIO(), copy.deepcopy(BID), [("doc.bin", Shrinking(b"x" * 1000))])


def test_a_prepared_package_reads_as_the_bytes_it_writes(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(3 << 20) + b"tail")
    expected, _ = package_of(documents=[("big.bin", path), ("说明.txt", io.BytesIO(b"x" * 1000))])
    documents: list[tuple[str, Any]] = [("big.bin", path), ("说明.txt", io.BytesIO(b"x" * 1000))]
    with prepare_package(copy.deepcopy(BID), documents) as prepared:
        stream = prepared.open()
        pieces = []
        while piece := stream.read(65_536):
            assert len(piece) <= 65_536
            pieces.append(piece)
    assert b"".join(pieces) == expected and len(expected) % 10_240 == 0
    with prepare_package(copy.deepcopy(BID), [("big.bin", path)]) as prepared:
        stream = prepared.open()
        head = stream.read(100)
        assert head + stream.read() == package_of(documents=[("big.bin", path)])[0]


def test_a_file_modified_between_hashing_and_writing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "doc.pdf"
    path.write_bytes(b"version 1")
    with prepare_package(copy.deepcopy(BID), [("doc.pdf", path)]) as prepared:
        assert prepared.documents_size == 9
        path.write_bytes(b"version 2")  # same size, new content and modification time
        os.utime(path, ns=(1, 1))
        with pytest.raises(BidError, match="documents/doc.pdf changed while the package was written"):
            prepared.write(io.BytesIO())  # type: ignore[arg-type]


def test_a_document_whose_bytes_change_while_the_package_is_written_is_refused() -> None:
    class Changing(io.BytesIO):
        def seek(self, *args: Any) -> int:  # after hashing: same size, other bytes
            position = super().seek(*args)
            self.getbuffer()[0] ^= 1
            return position

    with pytest.raises(BidError, match="changed while the package was written"):
        write_package(io.BytesIO(), copy.deepcopy(BID), [("doc.bin", Changing(b"x" * 100_000))])


BID_CASES: list[tuple[str, Any, str]] = [
    ("not an object", [], "must be a JSON object"),
    ("missing price", {k: v for k, v in BID.items() if k != "price"}, "lacks 'price'"),
    ("unknown field", {**BID, "discount": "5%"}, "unknown field 'discount'"),
    ("version", {**BID, "v": 3}, "version is 3"),
    ("version 2 lists no document hashes", {**BID, "v": 2, "documents": [
        {"name": "documents/a.pdf", "sha256": "0" * 64, "size": 1}]}, "must be {name, size}"),
    ("version 1 lists document hashes", {**BID, "documents": [{"name": "documents/a.pdf", "size": 1}]},
     "must be {name, sha256, size}"),
    ("tender", {**BID, "tender": "7"}, "tender must be a positive integer"),
    ("lot", {**BID, "lot": 0}, "lot must be a positive integer"),
    ("bidder", {**BID, "bidder": "ACME Ltd"}, "bidder must be an 18-character"),
    ("amount three places", {**BID, "price": {"amount": "1.005", "currency": "CNY"}}, "at most two places"),
    ("amount number", {**BID, "price": {"amount": 1185.5, "currency": "CNY"}}, "decimal string"),
    ("amount leading zero", {**BID, "price": {"amount": "01.00", "currency": "CNY"}}, "decimal string"),
    ("amount negative", {**BID, "price": {"amount": "-1.00", "currency": "CNY"}}, "decimal string"),
    ("amount exponent", {**BID, "price": {"amount": "1e6", "currency": "CNY"}}, "decimal string"),
    ("amount zero", {**BID, "price": {"amount": "0.00", "currency": "CNY"}}, "greater than zero"),
    ("amount too long", {**BID, "price": {"amount": "1" * 16, "currency": "CNY"}}, "decimal string"),
    ("currency", {**BID, "price": {"amount": "1.00", "currency": "cny"}}, "three upper-case letters"),
    ("price fields", {**BID, "price": {"amount": "1.00"}}, "price must be"),
    ("duration zero", {**BID, "duration_days": 0}, "duration_days must be a positive"),
    ("duration float", {**BID, "duration_days": 1.5}, "duration_days must be a positive"),
    ("duration bool", {**BID, "duration_days": True}, "duration_days must be a positive"),
    ("criteria list", {**BID, "criteria": ["a"]}, "criteria must be an object"),
    ("criteria value", {**BID, "criteria": {"a": 1}}, "must be text"),
    ("criteria blank name", {**BID, "criteria": {" ": "x"}}, "must be text under a non-empty name"),
    ("documents", {**BID, "documents": {}}, "documents must be a list"),
    ("document fields", {**BID, "documents": [{"name": "documents/a"}]}, r"documents\[0\] must be"),
    ("document folder", {**BID, "documents": [{"name": "a.pdf", "sha256": "0" * 64, "size": 1}]},
     "must start with 'documents/'"),
    ("document hash", {**BID, "documents": [{"name": "documents/a", "sha256": "0", "size": 1}]},
     "64 lower-case hex"),
    ("document size", {**BID, "documents": [{"name": "documents/a", "sha256": "0" * 64, "size": -1}]},
     "whole number of bytes"),
]


@pytest.mark.parametrize(("case", "bid", "match"), BID_CASES, ids=[c[0] for c in BID_CASES])
def test_bid_json_is_validated(case: str, bid: Any, match: str) -> None:
    if isinstance(bid, dict) and "documents" not in bid and case != "missing price":
        bid = {**bid, "documents": []}
    with pytest.raises(BidError, match=match):
        validate_bid(bid)


def test_good_amounts_pass() -> None:
    for amount in ("1", "0.5", "0.05", "10.10", "999999999999999.99"):
        validate_bid({**BID, "price": {"amount": amount, "currency": "USD"}, "documents": []})


def test_read_bid_needs_bid_json_first() -> None:
    bid_json = canonical_json({**BID, "documents": []})
    assert read_bid(io.BytesIO(raw_tar([("bid.json", bid_json)]))) == {**BID, "documents": []}
    cases = [
        (b"", "the package is empty"),
        (b"not a tar at all" * 100, "not a .*tar archive"),
        (raw_tar([("documents/a.pdf", b"x"), ("bid.json", bid_json)]), "first member is 'documents/a.pdf'"),
        (raw_tar([("bid.json", b"")], kind=tarfile.DIRTYPE), "bid.json must be a regular file"),
        (raw_tar([("bid.json", b"\xff\xfe")]), "not UTF-8"),
        (raw_tar([("bid.json", b"{")]), "not valid JSON"),
        (raw_tar([("bid.json", b'{"v":1,"v":1}')]), "has the key 'v' twice"),
        (raw_tar([("bid.json", b" " * (MAX_BID_JSON + 1))]), "larger than 1,048,576 bytes"),
        (raw_tar([("bid.json", bid_json)])[:700], "truncated"),
    ]
    for data, match in cases:
        with pytest.raises(BidError, match=match):
            read_bid(io.BytesIO(data))


def test_verify_package_checks_every_document_against_bid_json() -> None:
    doc = b"the technical proposal"
    good = {"name": "documents/t.pdf", "sha256": hashlib.sha256(doc).hexdigest(), "size": len(doc)}

    def with_listing(listing: list[dict], members: list[tuple[str, bytes]]) -> bytes:
        return raw_tar([("bid.json", canonical_json({**BID, "documents": listing}))] + members)

    verify_package(io.BytesIO(with_listing([good], [("documents/t.pdf", doc)])))
    cases = [
        (with_listing([], [("documents/t.pdf", doc)]),
         "holds 'documents/t.pdf', which bid.json does not list"),
        (with_listing([good], []), "lists 'documents/t.pdf', which the package does not hold"),
        (with_listing([good], [("documents/u.pdf", doc)]), "holds 'documents/u.pdf' where bid.json lists"),
        (with_listing([good], [("documents/t.pdf", doc + b"!")]), "is 23 bytes; bid.json says 22"),
        (with_listing([good], [("documents/t.pdf", doc.upper())]), "does not match its SHA-256"),
        (with_listing([good], [("documents/t.pdf", b"")]), "is 0 bytes"),
    ]
    for data, match in cases:
        with pytest.raises(BidError, match=match):
            verify_package(io.BytesIO(data))
    listing = [{**good, "sha256": hashlib.sha256(doc * 100).hexdigest(), "size": len(doc) * 100}]
    truncated = with_listing(listing, [("documents/t.pdf", doc * 100)])[:1536 + 1000]
    with pytest.raises(BidError, match="truncated|not a valid tar"):
        verify_package(io.BytesIO(truncated))


def test_verify_package_can_write_out_the_bid_and_documents(tmp_path: Path) -> None:
    data, written = package_of(documents=[("技术标.pdf", io.BytesIO(b"%PDF" * 10))])
    assert verify_package(io.BytesIO(data), tmp_path) == written
    assert json.loads((tmp_path / "bid.json").read_text(encoding="utf-8")) == written
    assert (tmp_path / "documents" / "技术标.pdf").read_bytes() == b"%PDF" * 10
