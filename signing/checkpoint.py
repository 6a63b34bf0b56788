"""Signed tree heads as C2SP tlog-checkpoint signed notes with Ed25519 keys (c2sp.org/signed-note)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_ED25519 = b"\x01"  # signed-note signature type byte for Ed25519
_SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_SIZE = re.compile(r"0|[1-9][0-9]*")  # ASCII decimal without leading zeros; int() would take "٣" or "+3"
_MAX_SIZE = 2**64 - 1
#: More signature lines than this and the note is refused; the spec asks verifiers to accept at least 16.
MAX_SIGNATURES = 100


class CheckpointError(ValueError):
    """A checkpoint or signed note is malformed, or not signed by the expected key."""


def _malformed(problem: str) -> CheckpointError:
    return CheckpointError(f"malformed checkpoint: {problem}")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: its origin, its size and the RFC 9162 root at that size."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise _malformed("origin must be a non-empty string")
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= _MAX_SIZE:
            raise _malformed(f"tree size {self.size!r} is not an integer in [0, 2**64)")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise _malformed("root hash must be 32 bytes")
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for line in self.extensions:
            if not isinstance(line, str) or not line:
                raise _malformed("extension lines must be non-empty strings")
            _check_line(line, "extension line")

    def body(self) -> str:
        """The note text: origin, size, base64 root and extension lines, each ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(f"{line}\n" for line in lines)


@dataclass(frozen=True, slots=True)
class _Signature:
    name: str
    key_id: bytes
    signature: bytes


def _check_line(line: str, what: str) -> None:
    if any(ord(c) < 0x20 for c in line):
        raise _malformed(f"{what} contains a newline or control character")


def _check_text(text: str, what: str) -> None:
    """Signed notes are UTF-8 without ASCII control characters other than newline."""
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise CheckpointError(f"malformed {what}: contains an ASCII control character other than newline")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CheckpointError(f"malformed {what}: not valid UTF-8 (lone surrogate)") from exc


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise CheckpointError("key name must be a non-empty string")
    if "+" in name or any(c.isspace() or ord(c) < 0x20 for c in name):
        raise CheckpointError(f"key name {name!r} must not contain spaces, '+' or control characters")


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes_raw()


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    _check_name(name)
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + _raw(public_key)).digest()[:4]


def vkey(name: str, public_key: Ed25519PublicKey) -> str:
    """The note verifier key "<name>+<hex key ID>+<base64(0x01 || public key)>"."""
    encoded = base64.b64encode(_ED25519 + _raw(public_key)).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def parse_vkey(text: str) -> tuple[str, Ed25519PublicKey]:
    """The key name and Ed25519 public key of a verifier key string, whose key ID must match."""
    parts = text.split("+", 2)  # the base64 part may itself contain '+'
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        raise CheckpointError("malformed verifier key: expected <name>+<8 hex digits>+<base64 key>")
    name, hex_id, encoded = parts
    key = _b64(encoded, "verifier key")
    if len(key) != 33 or key[:1] != _ED25519:
        raise CheckpointError("malformed verifier key: not an Ed25519 (type 0x01) key")
    try:
        public_key = Ed25519PublicKey.from_public_bytes(key[1:])
    except ValueError as exc:
        raise CheckpointError("malformed verifier key: not a valid Ed25519 public key") from exc
    if key_id(name, public_key).hex() != hex_id:
        raise CheckpointError(f"malformed verifier key: key ID {hex_id} does not match the key")
    return name, public_key


def _b64(text: str, what: str) -> bytes:
    """Strict standard base64, so one value has exactly one spelling."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError(f"malformed {what}: invalid base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise CheckpointError(f"malformed {what}: non-canonical base64")
    return raw


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note: `text`, a blank line and one Ed25519 signature line by key `name`."""
    if not text.endswith("\n"):
        raise CheckpointError("malformed note: text must end with a newline")
    _check_text(text, "note")
    kid = key_id(name, private_key.public_key())
    signature = base64.b64encode(kid + private_key.sign(text.encode())).decode()
    return f"{text}\n{_SIGNATURE_PREFIX}{name} {signature}\n"


def _split_note(note: str) -> tuple[str, list[_Signature]]:
    """The text and signature lines of a signed note, checked for form only."""
    if not isinstance(note, str):
        raise CheckpointError(f"malformed note: expected str, got {type(note).__name__}")
    _check_text(note, "note")
    split = note.rfind("\n\n")  # the last blank line separates the text from the signatures
    if split < 0:
        raise CheckpointError("malformed note: no blank line before the signature lines")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise CheckpointError("malformed note: no signature lines, or the last one lacks its newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"malformed note: more than {MAX_SIGNATURES} signature lines")
    signatures = []
    for line in lines:
        if not line.startswith(_SIGNATURE_PREFIX):
            raise CheckpointError(f"malformed note: signature line {line!r} does not start with an em dash")
        fields = line[len(_SIGNATURE_PREFIX) :].split(" ")
        if len(fields) != 2:
            raise CheckpointError(f"malformed note: signature line {line!r} is not '— <name> <base64>'")
        name, encoded = fields
        _check_name(name)
        blob = _b64(encoded, "signature line")
        if len(blob) < 5:
            raise CheckpointError(f"malformed note: signature by {name} is too short")
        signatures.append(_Signature(name, blob[:4], blob[4:]))
    return text, signatures


def verify_note(note: str, name: str, public_key: Ed25519PublicKey) -> str:
    """The text of `note` once a signature by (`name`, `public_key`) verifies; others are ignored."""
    text, signatures = _split_note(note)
    kid = key_id(name, public_key)
    # Per signed-note, a line matching only the name or only the key ID is another key's: ignore it.
    ours = [s for s in signatures if s.name == name and s.key_id == kid]
    if not ours:
        present = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in signatures)
        raise CheckpointError(f"unknown key: no signature by {name}+{kid.hex()} (signed by {present})")
    for sig in ours:
        try:
            public_key.verify(sig.signature, text.encode())
        except InvalidSignature:
            raise CheckpointError(f"bad signature by {name}+{kid.hex()}") from None
    return text


def _parse_body(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise _malformed("body must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise _malformed(f"expected origin, size and root hash lines, got {len(lines)}")
    origin, size, root, *extensions = lines
    if not _SIZE.fullmatch(size):
        raise _malformed(f"tree size {size!r} is not a decimal without leading zeros")
    if int(size) > _MAX_SIZE:
        raise _malformed(f"tree size {size} does not fit in 64 bits")
    return Checkpoint(origin, int(size), _b64(root, "checkpoint root hash"), tuple(extensions))


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint in a signed note or bare body, WITHOUT checking any signature."""
    if isinstance(text, str) and "\n\n" not in text:
        _check_text(text, "checkpoint")
        return _parse_body(text)  # a bare body: its lines are non-empty, so it has no blank line
    body, _ = _split_note(text)
    return _parse_body(body)


def sign_checkpoint(cp: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> str:
    """The checkpoint as a note signed by key `name`."""
    return sign_note(cp.body(), name, private_key)


def verify_checkpoint(
    text: str, name: str, public_key: Ed25519PublicKey, *, origin: str | None = None
) -> Checkpoint:
    """The checkpoint in `text` once signed by (`name`, `public_key`) and, if given, for `origin`."""
    cp = _parse_body(verify_note(text, name, public_key))
    if origin is not None and cp.origin != origin:
        raise CheckpointError(f"origin mismatch: checkpoint is for {cp.origin!r}, expected {origin!r}")
    return cp
