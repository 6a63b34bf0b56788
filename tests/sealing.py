"""Sealing test bids as a bidder's machine would: a package with bid.json, sealed into an envelope."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bidding import envelope
from bidding.models import Tender
from bidding.package import write_package


@dataclass
class BidderKit:
    """A bidder's company with its registered keys (private halves, as on its own machine)."""

    user: Any
    x25519: X25519PrivateKey
    ed25519: Ed25519PrivateKey

    @property
    def credit_code(self) -> str:
        return self.user.organisation.credit_code


@dataclass
class Sealed:
    """An envelope and what went into it."""

    data: bytes
    info: envelope.EnvelopeInfo
    bid: dict[str, Any]
    secrets: list[str] = field(default_factory=list)


def package(tender: int, lot: int, bidder: str, *, price: str, criteria: dict[str, str] | None = None,
            document: bytes = b"", version: int = 1) -> tuple[bytes, dict[str, Any]]:
    bid = {"v": version, "tender": tender, "lot": lot, "bidder": bidder,
           "price": {"amount": price, "currency": "CNY"}, "duration_days": 540,
           "criteria": criteria or {"技术": "见 documents/technical.txt"}, "documents": []}
    out = io.BytesIO()
    written = write_package(out, bid, [("technical.txt", io.BytesIO(document))] if document else [])
    return out.getvalue(), written


def seal(tender: Tender, kit: BidderKit, *, lot: int = 1, price: str = "987654.32",
         opening_public: bytes | None = None, bidder_public: bytes | None = None,
         signing_key: Ed25519PrivateKey | None = None,
         header_tender: int | None = None, header_lot: int | None = None, bidder: str | None = None,
         criteria: dict[str, str] | None = None, document: bytes = b"", chunk_size: int = 4096,
         version: int = 1) -> Sealed:
    """Seal a bid for the tender; the keyword arguments make the wrong envelopes bad-input tests need.
    `version` is the envelope format's (docs/envelope.md), 1 or 2."""
    tender_id = header_tender if header_tender is not None else tender.id
    lot_number = header_lot if header_lot is not None else lot
    code = bidder or kit.credit_code
    data, bid = package(tender_id, lot_number, code, price=price, criteria=criteria, document=document,
                        version=version)
    out = io.BytesIO()
    info = envelope.seal(
        io.BytesIO(data), out, tender=tender_id, lot=lot_number, bidder=code,
        opening_public=opening_public or tender.opening_key.public_key,
        bidder_public=bidder_public or envelope.raw_public(kit.x25519),
        signing_key=signing_key or kit.ed25519, chunk_size=chunk_size, version=version)
    return Sealed(out.getvalue(), info, bid, [price, *(criteria or {}).values()])


def chunk_records(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """An envelope cut into its prefix (magic, length, header), chunk records, and trailer record."""
    (header_length,) = struct.unpack(">I", data[8:12])
    pos = 12 + header_length
    prefix, records = data[:pos], []
    while True:
        flag, length = data[pos], struct.unpack(">I", data[pos + 1:pos + 5])[0]
        records.append(data[pos:pos + 5 + length])
        pos += 5 + length
        if flag == 1:
            break
    return prefix, records, data[pos:]
