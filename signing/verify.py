"""Verify what the platform signs, offline, with nothing from it but its published keys.

These functions are what `ebid` runs on a bidder's or auditor's own machine, so they import neither
Flask, nor the database, nor `app`. Each either returns a small result or raises `VerificationError`
whose message says exactly what failed. Formats: docs/audit-log.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jose import jws as _jws
from jose.exceptions import JOSEError

from signing import checkpoint as _checkpoint
from signing import jose as _jose
from signing import merkle
from signing.canonical import canonical_json
from signing.checkpoint import Checkpoint, CheckpointError

if TYPE_CHECKING:
    from signing.pdf import SignatureReport

#: The JWS `typ` of a receipt; any other signed token is not a receipt.
RECEIPT_TYPE = "ebid-receipt+jws"
#: The value of `ebid_log_export` in the header line of the export format this module reads.
EXPORT_VERSION = 1
#: How many entries pass between two calls of a `verify_log_export` progress callback.
PROGRESS_EVERY = 1024

Progress = Callable[[int, int], None]


class VerificationError(ValueError):
    """Something signed by (or claimed to come from) the platform did not verify; the message says what."""

    def __init__(self, message: str, *, reports: list[SignatureReport] | None = None) -> None:
        super().__init__(message)
        #: For PDFs: the report of every signature, so a caller can show which one failed and how.
        self.reports = reports


# --- encodings ------------------------------------------------------------------------------------------


def _b64_hash(value: object, what: str) -> bytes:
    """A 32-byte hash from strict standard base64 (one value, one spelling), as in checkpoints."""
    if not isinstance(value, str):
        raise VerificationError(f"{what} must be a base64 string, not {type(value).__name__}")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{what} is not valid base64: {value!r}") from None
    if base64.b64encode(raw).decode() != value:
        raise VerificationError(f"{what} is not in canonical base64: {value!r}")
    if len(raw) != merkle.HASH_SIZE:
        raise VerificationError(f"{what} is {len(raw)} bytes, expected {merkle.HASH_SIZE}")
    return raw


def _b64_proof(value: object, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise VerificationError(f"{what} must be a list of base64 hashes, not {type(value).__name__}")
    return [_b64_hash(item, f"{what} hash {i}") for i, item in enumerate(value)]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise VerificationError(f"{what} must be a non-negative integer, not {value!r}")
    return value


def _canonical_entry(text: object, what: str) -> tuple[dict[str, Any], bytes]:
    """The entry object and its UTF-8 bytes, once `text` is exactly the RFC 8785 form of a JSON object."""
    if not isinstance(text, str):
        raise VerificationError(f"{what} must be a string of canonical JSON, not {type(text).__name__}")
    try:
        obj = json.loads(text)
        body = text.encode("utf-8")
    except (ValueError, UnicodeEncodeError) as exc:
        raise VerificationError(f"{what} is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise VerificationError(f"{what} is not a JSON object")
    try:
        canonical = canonical_json(obj)
    except (TypeError, ValueError) as exc:
        raise VerificationError(f"{what} is not canonical JSON: {exc}") from None
    if canonical != body:
        raise VerificationError(f"{what} is not in canonical JSON form (RFC 8785)")
    return obj, body


def _is_index(value: object, expected: int) -> bool:
    """True for the integer `expected` itself (JSON `true` is not 1, nor `1.0`)."""
    return type(value) is int and value == expected


# --- keys -----------------------------------------------------------------------------------------------


def _b64url_int(value: object, what: str) -> int:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a base64url string")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64url") from None
    if len(raw) != 32:
        raise ValueError(f"{what} is {len(raw)} bytes, expected 32 for P-256")
    return int.from_bytes(raw, "big")


def _es256_key(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    kid = jwk.get("kid")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise LookupError(f"key {kid!r} is not a P-256 key (kty {jwk.get('kty')!r}, crv {jwk.get('crv')!r})")
    if jwk.get("alg", _jose.ALGORITHM) != _jose.ALGORITHM:
        raise LookupError(f"key {kid!r} is for {jwk.get('alg')!r}, not {_jose.ALGORITHM}")
    if jwk.get("use", "sig") != "sig":
        raise LookupError(f"key {kid!r} is not a signing key (use {jwk.get('use')!r})")
    if "d" in jwk:
        raise LookupError(f"key {kid!r} in the JWKS carries a private part; refusing it")
    x = _b64url_int(jwk.get("x"), f"key {kid!r} x")
    y = _b64url_int(jwk.get("y"), f"key {kid!r} y")
    try:
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError:
        raise ValueError(f"key {kid!r} is not a point on P-256") from None


def _jwks_keys(jwks: object) -> list[Mapping[str, Any]]:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or not all(isinstance(k, Mapping) for k in keys):
        raise VerificationError('the JWKS is malformed: expected {"keys": [ ...JWK objects... ]}')
    return keys


def jwks_resolver(jwks: Mapping[str, Any]) -> Callable[[str], ec.EllipticCurvePublicKey]:
    """A `resolve_key(kid)` for `signing.jose.verify` over the ES256 keys of a JWKS.

    An unknown kid, or a kid whose key is not an ES256 signing key, raises LookupError.
    """
    by_kid: dict[str, Mapping[str, Any]] = {}
    for jwk in _jwks_keys(jwks):
        kid = jwk.get("kid")
        if isinstance(kid, str):
            by_kid.setdefault(kid, jwk)  # a JWKS with a repeated kid: the first one is the key

    def resolve_key(kid: str) -> ec.EllipticCurvePublicKey:
        jwk = by_kid.get(kid)
        if jwk is None:
            raise LookupError(f"no key {kid!r} in the JWKS")
        return _es256_key(jwk)

    return resolve_key


def log_vkey_from_jwks(jwks: Mapping[str, Any], name: str) -> str:
    """The note verifier key for the Ed25519 (OKP) key of the JWKS that signs checkpoints as `name`.

    A JWK carries no signed-note key name, so the caller supplies it (the platform names its checkpoint
    key after the log's origin). With more than one Ed25519 key in the JWKS (a rotation) the right one
    cannot be told, so the vkey from `GET /api/log/key` is needed instead.
    """
    okp = [k for k in _jwks_keys(jwks) if k.get("kty") == "OKP" and k.get("crv") == "Ed25519"]
    if len(okp) != 1:
        raise VerificationError(f"the JWKS has {len(okp)} Ed25519 keys; give the log key (vkey) instead")
    x = okp[0].get("x")
    try:
        raw = base64.urlsafe_b64decode(str(x) + "=" * (-len(str(x)) % 4))
        public_key = Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise VerificationError("the JWKS's Ed25519 key is not a valid public key") from None
    try:
        return _checkpoint.vkey(name, public_key)
    except CheckpointError as exc:
        raise VerificationError(f"cannot name the log key {name!r}: {exc}") from None


LogKeys = str | Sequence[str]


@dataclass(frozen=True)
class _LogKey:
    name: str
    public_key: Ed25519PublicKey
    label: str  # "<name>+<hex key id>", as signature lines and messages name a key


def _log_keys(log_vkey: LogKeys) -> list[_LogKey]:
    """Parse one verifier key, or several (a sequence, or whitespace-separated) during a key rotation."""
    texts = log_vkey.split() if isinstance(log_vkey, str) else list(log_vkey)
    if not texts:
        raise VerificationError("no log key was given")
    keys = []
    for text in texts:
        if not isinstance(text, str):
            raise VerificationError(f"a log key must be a verifier key string, not {type(text).__name__}")
        try:
            name, public_key = _checkpoint.parse_vkey(text.strip())
        except CheckpointError as exc:
            raise VerificationError(f"the log key is unusable: {exc}") from None
        keys.append(_LogKey(name, public_key, "+".join(text.strip().split("+", 2)[:2])))
    return keys


def _signed_checkpoint(text: object, keys: list[_LogKey], what: str) -> tuple[Checkpoint, _LogKey]:
    """The checkpoint in `text` and the first of `keys` whose signature on it verifies."""
    if not isinstance(text, str):
        raise VerificationError(f"{what} must be a signed note (text), not {type(text).__name__}")
    errors = []
    for key in keys:
        try:
            return _checkpoint.verify_checkpoint(text, key.name, key.public_key), key
        except CheckpointError as exc:
            errors.append(str(exc))
    if len(errors) == 1:
        raise VerificationError(f"{what} refused: {errors[0]}")
    detail = "; ".join(errors)
    raise VerificationError(f"{what} refused: not signed by any of the {len(keys)} log keys: {detail}")


def _describe(cp: Checkpoint) -> str:
    return f"{cp.origin!r} at size {cp.size}"


# --- receipts -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptResult:
    """A verified receipt: who signed it, what it records, and where that is in the log."""

    kid: str
    issuer: str
    issued_at: int
    kind: str
    subject: Any
    entry: dict[str, Any]
    index: int
    tree_size: int
    root_hash: bytes
    checkpoint: Checkpoint
    log_key: str  # the checkpoint key that verified, as "<name>+<hex key id>"

    @property
    def actor(self) -> Any:
        """The entry's actor object, or None for the system."""
        return self.entry.get("actor")


def _field(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in obj:
        raise VerificationError(f"{where} lacks {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise VerificationError(f"{where} field {name!r} has the wrong type ({type(value).__name__})")
    return value


def verify_receipt(token: str, jwks: Mapping[str, Any], log_vkey: LogKeys) -> ReceiptResult:
    """Check a receipt: its ES256 signature by a JWKS key, its entry, inclusion proof and checkpoint."""
    keys = _log_keys(log_vkey)
    if not isinstance(token, str):
        raise VerificationError("a receipt is a compact JWS string")
    token = token.strip()
    used: list[str] = []
    resolve = jwks_resolver(jwks)

    def resolve_key(kid: str) -> ec.EllipticCurvePublicKey:
        used.append(kid)
        return resolve(kid)

    try:
        payload = _jose.verify(token, resolve_key)
    except _jose.TokenError as exc:
        raise VerificationError(f"receipt signature refused: {exc}") from None
    try:
        typ = _jws.get_unverified_header(token).get("typ")
    except JOSEError as exc:  # pragma: no cover - verify() already parsed it
        raise VerificationError(f"receipt header unreadable: {exc}") from None
    if typ != RECEIPT_TYPE:
        raise VerificationError(f"the token is not a receipt: its type is {typ!r}, expected {RECEIPT_TYPE!r}")
    if not isinstance(payload, dict):
        raise VerificationError("the receipt's payload is not a JSON object")

    where = "the receipt"
    issuer = _field(payload, "iss", str, where)
    issued_at = _int(_field(payload, "iat", int, where), "the receipt's iat")
    kind = _field(payload, "kind", str, where)
    subject = _field(payload, "subject", object, where)
    log = _field(payload, "log", dict, where)
    cp_text = _field(payload, "checkpoint", str, where)
    entry, body = _canonical_entry(_field(payload, "entry", str, where), "the receipt's entry")

    where = "the receipt's log object"
    origin = _field(log, "origin", str, where)
    index = _int(_field(log, "index", int, where), "the receipt's log index")
    tree_size = _int(_field(log, "tree_size", int, where), "the receipt's tree size")
    claimed_leaf = _b64_hash(_field(log, "leaf_hash", str, where), "the receipt's leaf hash")
    root_hash = _b64_hash(_field(log, "root_hash", str, where), "the receipt's root hash")
    proof = _b64_proof(_field(log, "inclusion_proof", list, where), "the receipt's inclusion proof")

    computed_leaf = merkle.leaf_hash(body)
    if computed_leaf != claimed_leaf:
        raise VerificationError(
            f"leaf hash mismatch: the entry hashes to {_b64(computed_leaf)}, "
            f"the receipt says {_b64(claimed_leaf)} (the entry was altered)"
        )
    if not _is_index(entry.get("index"), index):
        raise VerificationError(f"the entry's index {entry.get('index')!r} is not the receipt's {index}")
    if entry.get("event") != kind:
        raise VerificationError(f"the entry's event {entry.get('event')!r} is not the receipt's {kind!r}")
    if entry.get("subject") != subject:
        raise VerificationError("the entry's subject differs from the receipt's")
    try:
        merkle.verify_inclusion(computed_leaf, index, tree_size, proof, root_hash)
    except (merkle.ProofError, ValueError) as exc:
        raise VerificationError(f"inclusion proof for entry {index} refused: {exc}") from None

    cp, log_key = _signed_checkpoint(cp_text, keys, "the receipt's checkpoint")
    if cp.origin != origin:
        raise VerificationError(f"the checkpoint's origin {cp.origin!r} is not the receipt's {origin!r}")
    if issuer != origin:
        raise VerificationError(f"the receipt's issuer {issuer!r} is not the log's origin {origin!r}")
    if cp.size != tree_size:
        raise VerificationError(
            f"the checkpoint's tree size {cp.size} differs from the receipt's tree size {tree_size}"
        )
    if cp.root != root_hash:
        raise VerificationError(
            f"the checkpoint's root hash {_b64(cp.root)} differs from "
            f"the receipt's root hash {_b64(root_hash)}"
        )
    return ReceiptResult(
        kid=used[-1],
        issuer=issuer,
        issued_at=issued_at,
        kind=kind,
        subject=subject,
        entry=entry,
        index=index,
        tree_size=tree_size,
        root_hash=root_hash,
        checkpoint=cp,
        log_key=log_key.label,
    )


# --- exports --------------------------------------------------------------------------------------------


class CompactRange:
    """The roots of the perfect subtrees over leaves [0, size), largest first: O(log n) hashes.

    Folding leaves in one at a time gives the RFC 9162 root of every prefix without keeping the leaves.
    """

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf hash, merging the perfect subtrees it completes."""
        self._stack.append(leaf_hash)
        n = self.size
        while n & 1:  # each trailing one bit of the old size is a subtree of equal height to merge with
            right = self._stack.pop()
            self._stack[-1] = merkle.node_hash(self._stack[-1], right)
            n >>= 1
        self.size += 1

    def root(self) -> bytes:
        """MTH of the leaves so far: the subtree roots folded from the right."""
        if not self._stack:
            return merkle.EMPTY_ROOT
        r = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            r = merkle.node_hash(left, r)
        return r


@dataclass(frozen=True)
class ExportResult:
    """A verified export: the log's origin, size and root, its checkpoint, and the one it extends."""

    origin: str
    tree_size: int
    root_hash: bytes
    checkpoint: Checkpoint
    previous: Checkpoint | None = None


def _line_text(line: str | bytes, number: int) -> str:
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise VerificationError(f"line {number} is not UTF-8") from None
    if line.endswith("\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith("\n") else line


def _export_header(
    line: str | bytes | None, keys: list[_LogKey]
) -> tuple[str, int, bytes, Checkpoint]:
    if line is None:
        raise VerificationError("the export is empty: line 1 should be its header")
    try:
        header = json.loads(_line_text(line, 1))
    except ValueError:
        raise VerificationError("line 1 is not JSON: an export starts with its header line") from None
    if not isinstance(header, dict) or header.get("ebid_log_export") != EXPORT_VERSION:
        raise VerificationError(
            f"line 1 is not an ebid log export header (version {EXPORT_VERSION}); is this an export?"
        )
    where = "the export header"
    origin = _field(header, "origin", str, where)
    tree_size = _int(_field(header, "tree_size", int, where), "the export header's tree size")
    root_hash = _b64_hash(_field(header, "root_hash", str, where), "the export header's root hash")
    cp, _ = _signed_checkpoint(_field(header, "checkpoint", str, where), keys, "the export's checkpoint")
    if cp.origin != origin:
        raise VerificationError(f"the export's checkpoint is for {cp.origin!r}, the header says {origin!r}")
    if cp.size != tree_size:
        raise VerificationError(
            f"the export's checkpoint has tree size {cp.size}, the header says {tree_size}"
        )
    if cp.root != root_hash:
        raise VerificationError(
            f"the export's checkpoint has root hash {_b64(cp.root)}, the header says {_b64(root_hash)}"
        )
    return origin, tree_size, root_hash, cp


def verify_log_export(
    lines: Iterable[str | bytes],
    log_vkey: LogKeys,
    previous_checkpoint: str | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Re-walk an export (JSON Lines) in one pass, keeping O(log n) hashes, and check it is the signed log.

    Every entry line must be canonical JSON with `index` running 0..N-1; the root recomputed from the
    leaves must equal the header's and its signed checkpoint's. With `previous_checkpoint` (a signed
    note by the same key), the root over its first M leaves must equal that checkpoint's root.
    `progress(done, total)` is called after the header, every PROGRESS_EVERY entries, and at the end.
    """
    keys = _log_keys(log_vkey)
    previous = None
    if previous_checkpoint is not None:
        previous, _ = _signed_checkpoint(previous_checkpoint, keys, "the previous checkpoint")
    it = iter(lines)
    origin, total, root_hash, cp = _export_header(next(it, None), keys)
    if previous is not None:
        if previous.origin != origin:
            raise VerificationError(
                f"the previous checkpoint is for {previous.origin!r}, not this log {origin!r}"
            )
        if previous.size > total:
            raise VerificationError(
                f"the export does not extend the previous checkpoint: it has {total} entries, "
                f"the previous checkpoint {previous.size}"
            )
    if progress is not None:
        progress(0, total)

    tree = CompactRange()
    previous_root = tree.root() if previous is not None and previous.size == 0 else None
    for number, raw in enumerate(it, start=2):
        index = number - 2
        if index >= total:
            raise VerificationError(
                f"the export has more entries than its header's tree size {total} (extra line {number})"
            )
        text = _line_text(raw, number)
        entry, body = _canonical_entry(text, f"line {number}")
        if not _is_index(entry.get("index"), index):
            raise VerificationError(
                f"index out of order at line {number}: expected {index}, found {entry.get('index')!r}"
            )
        tree.append(merkle.leaf_hash(body))
        if previous is not None and tree.size == previous.size:
            previous_root = tree.root()
        if progress is not None and tree.size % PROGRESS_EVERY == 0:
            progress(tree.size, total)
    if tree.size < total:
        raise VerificationError(
            f"the export is truncated: it has {tree.size} entries, its header and checkpoint say {total}"
        )
    if progress is not None and tree.size % PROGRESS_EVERY:
        progress(tree.size, total)
    computed = tree.root()
    if computed != cp.root:
        raise VerificationError(
            f"root mismatch: the {total} entries of the export hash to {_b64(computed)}, but the signed "
            f"checkpoint ({_describe(cp)}) has root {_b64(cp.root)}; an entry was changed, added or removed"
        )
    if previous is not None and previous_root != previous.root:
        assert previous_root is not None  # set when the fold reached previous.size <= total
        raise VerificationError(
            f"the export does not extend the previous checkpoint ({_describe(previous)}): its first "
            f"{previous.size} entries hash to {_b64(previous_root)}, "
            f"the checkpoint says {_b64(previous.root)}"
        )
    return ExportResult(origin=origin, tree_size=total, root_hash=root_hash, checkpoint=cp, previous=previous)


# --- consistency ----------------------------------------------------------------------------------------


def verify_consistency(old_checkpoint: str, new_checkpoint: str, proof: list[str], log_vkey: LogKeys) -> None:
    """Check both checkpoints' signatures and the RFC 9162 proof that the new tree extends the old one."""
    keys = _log_keys(log_vkey)
    old, _ = _signed_checkpoint(old_checkpoint, keys, "the old checkpoint")
    new, _ = _signed_checkpoint(new_checkpoint, keys, "the new checkpoint")
    if old.origin != new.origin:
        raise VerificationError(f"the checkpoints are of different logs: {old.origin!r} and {new.origin!r}")
    if old.size > new.size:
        raise VerificationError(
            f"the new checkpoint ({new.size} entries) is smaller than the old one ({old.size}): "
            "the log does not extend the previous checkpoint"
        )
    hashes = _b64_proof(proof, "the consistency proof")
    try:
        merkle.verify_consistency(old.size, new.size, old.root, new.root, hashes)
    except (merkle.ProofError, ValueError) as exc:
        raise VerificationError(
            f"the log at {new.size} does not provably extend the checkpoint at {old.size}: {exc}"
        ) from None


# --- PDFs -----------------------------------------------------------------------------------------------


def _trust_roots(ca_pem: bytes) -> list[x509.Certificate]:
    try:
        roots = x509.load_pem_x509_certificates(ca_pem)
    except ValueError:
        raise VerificationError("the CA file holds no readable PEM certificate") from None
    return roots


def _last_covered_end(pdf_bytes: bytes) -> int | None:
    """Where the byte range of the signature that reaches furthest into the file ends."""
    from io import BytesIO

    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(BytesIO(pdf_bytes), strict=False)
        ends = []
        for sig in reader.embedded_regular_signatures:
            br = [int(x) for x in sig.byte_range]
            if len(br) == 4:
                ends.append(br[2] + br[3])
    except (PdfError, ValueError, KeyError, TypeError):
        return None
    return max(ends, default=None)


_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


def _refuse_appended(pdf_bytes: bytes, roots: list[x509.Certificate]) -> None:
    """For a file pyHanko cannot read: if it is a readable signed PDF with bytes appended, say so."""
    from signing.pdf import PdfSignatureError, inspect_pdf

    ends = [int(m[3]) + int(m[4]) for m in _BYTE_RANGE.finditer(pdf_bytes)]
    end = max(ends, default=0)
    if not 0 < end < len(pdf_bytes):
        return
    try:
        reports = inspect_pdf(pdf_bytes[:end], roots)
    except PdfSignatureError:
        return
    if reports:
        raise VerificationError(
            f"the document was modified after signing: {len(pdf_bytes) - end} bytes after the end of the "
            f"last signature ({reports[-1].field_name}) are not covered by any signature",
            reports=reports,
        )


def verify_pdf(pdf_bytes: bytes, ca_pem: bytes) -> list[SignatureReport]:
    """The report of every signature once all are intact, valid and trusted and the last covers the file."""
    from signing.pdf import PdfSignatureError, inspect_pdf

    roots = _trust_roots(ca_pem)
    try:
        reports = inspect_pdf(pdf_bytes, roots)
    except PdfSignatureError as exc:
        _refuse_appended(pdf_bytes, roots)
        raise VerificationError(f"the PDF's signatures cannot be read: {exc}") from None
    if not reports:
        raise VerificationError("the PDF has no signatures", reports=reports)
    bad = [r for r in reports if not r.ok]
    if bad:
        detail = " ".join(f"{r.field_name}: {r.message}" for r in bad)
        raise VerificationError(f"{len(bad)} of {len(reports)} signatures failed. {detail}", reports=reports)
    end = _last_covered_end(pdf_bytes)
    last = reports[-1]
    if end is not None and len(pdf_bytes) > end:
        raise VerificationError(
            f"the document was modified after signing: {len(pdf_bytes) - end} bytes after the end of the "
            f"last signature ({last.field_name}) are not covered by any signature",
            reports=reports,
        )
    if last.coverage != "entire_file":
        raise VerificationError(
            f"the document was modified after signing: the last signature ({last.field_name}) covers "
            f"{last.coverage.replace('_', ' ')}, not the entire file",
            reports=reports,
        )
    return reports
