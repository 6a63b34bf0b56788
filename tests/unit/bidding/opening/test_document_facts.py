"""What the opening notes of a bid's documents as the package streams past
(bidding/opening/document_facts.py): each document's name, size and SHA-256, and a PDF's
author/creator/producer, whatever the pieces' sizes."""

from __future__ import annotations

import hashlib
import io

import pytest

from bidding.opening import document_facts
from bidding.opening.document_facts import DocumentFacts
from bidding.package import write_package

BIDDER = "91350100MA2XXXXX0X"


def pdf(author: str | None = "张三", creator: str = "Writer", producer: str = "LibreOffice",
        padding: bytes = b"") -> bytes:
    def text(value: str) -> str:
        return "<" + (b"\xfe\xff" + value.encode("utf-16-be")).hex() + ">"

    info = " ".join(f"/{k} {text(v)}" for k, v in (("Author", author), ("Creator", creator),
                                                     ("Producer", producer)) if v)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>",
               f"<< {info} >>".encode()]
    out = bytearray(b"%PDF-1.7\n%" + padding + b"\n")
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 4\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size 4 /Root 1 0 R /Info 3 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def package(documents: list[tuple[str, bytes]], version: int = 2) -> bytes:
    bid = {"v": version, "tender": 1, "lot": 1, "bidder": BIDDER,
           "price": {"amount": "1.00", "currency": "CNY"}, "duration_days": 5, "criteria": {},
           "documents": []}
    out = io.BytesIO()
    write_package(out, bid, [(name, io.BytesIO(data)) for name, data in documents])
    return out.getvalue()


def facts(data: bytes, piece: int) -> list[dict]:
    sink = DocumentFacts()
    for start in range(0, len(data), piece):
        assert sink.write(data[start:start + piece]) == len(data[start:start + piece])
    return sink.documents


@pytest.mark.parametrize("piece", [1, 511, 512, 4096, 1 << 20])
def test_every_document_is_noted_whatever_the_pieces(piece):
    first, text = pdf(), b"plain text " * 300
    long_name = "技术标-" + "长" * 60 + ".txt"  # a pax header carries the long name
    found = facts(package([("a.pdf", first), (long_name, text), ("empty.txt", b"")]), piece)
    assert found == [
        {"name": "documents/a.pdf", "size": len(first), "sha256": hashlib.sha256(first).hexdigest(),
         "pdf": {"author": "张三", "creator": "Writer", "producer": "LibreOffice"}},
        {"name": f"documents/{long_name}", "size": len(text), "sha256": hashlib.sha256(text).hexdigest(),
         "pdf": None},
        {"name": "documents/empty.txt", "size": 0, "sha256": hashlib.sha256(b"").hexdigest(), "pdf": None},
    ]


def test_a_pdf_is_known_by_its_header_not_its_name_and_a_pdf_name_alone_is_not_one():
    found = facts(package([("scan.bin", pdf(author="李四")), ("fake.pdf", b"not a pdf at all")]), 700)
    assert found[0]["pdf"] == {"author": "李四", "creator": "Writer", "producer": "LibreOffice"}
    assert found[1]["pdf"] is None


def test_a_pdf_too_large_to_hold_is_noted_and_a_broken_one_too(monkeypatch):
    monkeypatch.setattr(document_facts, "MAX_PDF", 2000)
    big = pdf(padding=b"x" * 5000)
    broken = b"%PDF-1.7\n" + b"garbage " * 50
    found = facts(package([("big.pdf", big), ("broken.pdf", broken), ("small.pdf", pdf(author=None))]), 333)
    assert found[0]["pdf"] == {"error": "too_large"} and found[0]["sha256"] == hashlib.sha256(big).hexdigest()
    assert found[1]["pdf"] == {"error": "unreadable"}
    assert found[2]["pdf"] == {"creator": "Writer", "producer": "LibreOffice"}  # no author: none recorded


def test_a_version_1_package_is_followed_too_and_bid_json_is_not_a_document():
    found = facts(package([("a.pdf", pdf())], version=1), 4096)
    assert [d["name"] for d in found] == ["documents/a.pdf"]


def test_what_is_not_a_tar_is_passed_through_and_noted_as_nothing():
    sink = DocumentFacts()
    assert sink.write(b"\x01" * 1024) == 1024
    assert sink.documents == []
