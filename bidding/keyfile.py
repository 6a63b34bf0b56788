"""Keys kept off the server (docs/envelope.md): the bidder's key file and the opening key's SLIP-39 shares.

Pure: no Flask, no database. Runs in `ebid` on bidders' and custodians' machines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import shamir_mnemonic
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from shamir_mnemonic.wordlist import WORD_INDEX_MAP

from bidding.envelope import kid_of, raw_public
from signing.canonical import canonical_json

KEY_FILE_KIND = "ebid-bidder-key"
SHARE_KIND = "ebid-opening-share"
KDF_NAME = "PBKDF2-HMAC-SHA256"
#: PBKDF2 iterations for new key files (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
ITERATIONS = 600_000
#: A file asking for more is refused rather than left to spin.
MAX_ITERATIONS = 10_000_000
KEY_FILE_AD = b"ebid-key-file-v1"
SHARE_LABEL = b"ebid-share-v1"
MAX_SHARES = 16

_HEX64 = re.compile(r"[0-9a-f]{64}")
_BIDDER = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")


class KeyFileError(ValueError):
    """A bidder key file that cannot be read: wrong password, damage, or not a key file."""


class ShareError(ValueError):
    """Opening-key shares that do not rebuild the tender's opening key; the message says why."""


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _unb64(value: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise KeyFileError(f"{what} is missing or not a string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{what} is not valid base64") from None
    if size is not None and len(raw) != size:
        raise KeyFileError(f"{what} must be {size} bytes, not {len(raw)}")
    return raw


def _password_bytes(password: str) -> bytes:
    if not isinstance(password, str) or not password:
        raise KeyFileError("the password is empty")
    return unicodedata.normalize("NFC", password).encode("utf-8")


def _derive(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", _password_bytes(password), salt, iterations, 32)


# --- the bidder's keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BidderKeys:
    """A bidder's X25519 (encryption) and Ed25519 (signing) private keys."""

    x25519: X25519PrivateKey
    ed25519: Ed25519PrivateKey
    bidder: str | None = None

    @property
    def x25519_public(self) -> bytes:
        return raw_public(self.x25519)

    @property
    def ed25519_public(self) -> bytes:
        return raw_public(self.ed25519)

    @property
    def x25519_kid(self) -> str:
        return kid_of(self.x25519_public)

    @property
    def ed25519_kid(self) -> str:
        return kid_of(self.ed25519_public)


def generate_bidder_keys(bidder: str | None = None) -> BidderKeys:
    """Fresh key pairs, made here (on the bidder's machine)."""
    return BidderKeys(X25519PrivateKey.generate(), Ed25519PrivateKey.generate(), bidder)


def write_key_file(keys: BidderKeys, bidder: str, password: str, *, iterations: int | None = None) -> dict:
    """The key file's JSON: public halves in the clear, private halves sealed under the password.

    `iterations` other than the default is for tests only: a file with fewer is easier to crack.
    """
    if not isinstance(bidder, str) or not _BIDDER.fullmatch(bidder):
        raise KeyFileError("the bidder must be an 18-character unified social credit code")
    iterations = ITERATIONS if iterations is None else iterations
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise KeyFileError(f"iterations must be from 1 to {MAX_ITERATIONS:,}")
    salt, nonce = os.urandom(16), os.urandom(12)
    secret = canonical_json({"ed25519_private": _b64(keys.ed25519.private_bytes_raw()),
                             "x25519_private": _b64(keys.x25519.private_bytes_raw())})
    sealed = AESGCM(_derive(password, salt, iterations)).encrypt(nonce, secret, KEY_FILE_AD)
    return {"v": 1, "kind": KEY_FILE_KIND, "bidder": bidder,
            "x25519_public": _b64(keys.x25519_public), "ed25519_public": _b64(keys.ed25519_public),
            "kdf": {"name": KDF_NAME, "iterations": iterations, "salt": _b64(salt)},
            "nonce": _b64(nonce), "sealed": _b64(sealed)}


def key_file_publics(data: Any) -> tuple[str, bytes, bytes]:
    """(bidder, x25519 public, ed25519 public) from a key file, without the password."""
    if not isinstance(data, dict) or data.get("kind") != KEY_FILE_KIND:
        raise KeyFileError("not an ebid bidder key file")
    if data.get("v") != 1:
        raise KeyFileError(f"key file version {data.get('v')!r} is not known to this ebid")
    bidder = data.get("bidder")
    if not isinstance(bidder, str) or not _BIDDER.fullmatch(bidder):
        raise KeyFileError("the key file's bidder is not a unified social credit code")
    return (bidder, _unb64(data.get("x25519_public"), "x25519_public", 32),
            _unb64(data.get("ed25519_public"), "ed25519_public", 32))


def read_key_file(data: Any, password: str) -> BidderKeys:
    """The private keys of a key file; KeyFileError("wrong password or damaged key file") if not."""
    bidder, x_public, e_public = key_file_publics(data)
    kdf = data.get("kdf")
    if not isinstance(kdf, dict) or kdf.get("name") != KDF_NAME:
        raise KeyFileError(f"the key file's kdf must be {KDF_NAME}")
    iterations = kdf.get("iterations")
    if type(iterations) is not int or not 1 <= iterations <= MAX_ITERATIONS:
        raise KeyFileError(f"the key file's iteration count must be from 1 to {MAX_ITERATIONS:,}")
    salt = _unb64(kdf.get("salt"), "kdf.salt", 16)
    nonce = _unb64(data.get("nonce"), "nonce", 12)
    sealed = _unb64(data.get("sealed"), "sealed")
    try:
        secret = AESGCM(_derive(password, salt, iterations)).decrypt(nonce, sealed, KEY_FILE_AD)
    except InvalidTag:
        raise KeyFileError("wrong password or damaged key file") from None
    try:
        inner = json.loads(secret)
        keys = BidderKeys(
            X25519PrivateKey.from_private_bytes(_unb64(inner["x25519_private"], "x25519_private", 32)),
            Ed25519PrivateKey.from_private_bytes(_unb64(inner["ed25519_private"], "ed25519_private", 32)),
            bidder)
    except (ValueError, KeyError, TypeError):
        raise KeyFileError("wrong password or damaged key file") from None
    if keys.x25519_public != x_public or keys.ed25519_public != e_public:
        raise KeyFileError("the key file's public keys do not match its private keys (damaged key file)")
    return keys


# --- the opening key's shares ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareFile:
    """One custodian's share, as written to share-<index>.json."""

    tender: int
    kid: str
    threshold: int
    count: int
    index: int
    mnemonic: str
    fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {"v": 1, "kind": SHARE_KIND, "tender": self.tender, "kid": self.kid,
                "threshold": self.threshold, "count": self.count, "index": self.index,
                "mnemonic": self.mnemonic, "fingerprint": self.fingerprint}


def normalise_mnemonic(text: str) -> str:
    """The share's words in lower case separated by single spaces (how they are fingerprinted)."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def share_fingerprint(mnemonic: str) -> str:
    """hex SHA-256("ebid-share-v1" || 0x0A || normalised mnemonic)."""
    return hashlib.sha256(SHARE_LABEL + b"\n" + normalise_mnemonic(mnemonic).encode("utf-8")).hexdigest()


def make_opening_key(tender: int, threshold: int, count: int) -> tuple[bytes, str, list[ShareFile]]:
    """Make a tender's X25519 opening key, split it k-of-n with SLIP-39 and forget the private half.

    Returns the raw public key, its kid and one share per custodian. The shares are checked to
    rebuild the key before they are returned.
    """
    if not isinstance(tender, int) or tender < 1:
        raise ShareError("the tender is a positive integer")
    if not 2 <= count <= MAX_SHARES:
        raise ShareError(f"the number of shares must be from 2 to {MAX_SHARES}")
    if not 2 <= threshold <= count:
        raise ShareError(f"the threshold must be from 2 to the number of shares ({count})")
    secret = bytearray(os.urandom(32))
    try:
        public = raw_public(X25519PrivateKey.from_private_bytes(bytes(secret)))
        groups = shamir_mnemonic.generate_mnemonics(group_threshold=1, groups=[(threshold, count)],
                                                    master_secret=bytes(secret), passphrase=b"")
        mnemonics = groups[0]
        if shamir_mnemonic.combine_mnemonics(mnemonics[-threshold:]) != bytes(secret):
            raise ShareError("the shares do not rebuild the key; nothing was written")
    finally:
        # Best effort only: Python copies bytes freely (bytes(secret) above, the key object, the
        # library's arithmetic), and none of those copies can be wiped from here. The real
        # protection is that this runs on a custodian's machine and the key never leaves the process.
        for i in range(len(secret)):
            secret[i] = 0
    kid = kid_of(public)
    shares = [ShareFile(tender, kid, threshold, count, i, normalise_mnemonic(m), share_fingerprint(m))
              for i, m in enumerate(mnemonics, start=1)]
    return public, kid, shares


def _share_text(share: str | dict[str, Any], number: int, *, tender: int, expected_kid: str) -> str:
    if isinstance(share, dict):
        if share.get("kind") != SHARE_KIND:
            raise ShareError(f"share {number} is not an ebid opening-key share file")
        if share.get("tender") != tender:
            raise ShareError(f"share {number} is from tender {share.get('tender')}, not tender {tender}")
        if share.get("kid") != expected_kid:
            raise ShareError(f"share {number} is for opening key {share.get('kid')}, not this tender's "
                             f"{expected_kid}")
        text = share.get("mnemonic")
        if not isinstance(text, str):
            raise ShareError(f"share {number} has no mnemonic")
        return text
    if not isinstance(share, str):
        raise ShareError(f"share {number} is neither words nor a share file")
    return share


def recover_opening_key(shares: list[str | dict[str, Any]], *, expected_kid: str, tender: int,
                        fingerprints: list[str]) -> X25519PrivateKey:
    """Rebuild the opening key from k shares, each checked against the tender's registered fingerprints."""
    if not shares:
        raise ShareError("no share was given")
    words: list[str] = []
    seen: dict[str, int] = {}
    threshold = 0
    for number, share in enumerate(shares, start=1):
        mnemonic = normalise_mnemonic(_share_text(share, number, tender=tender, expected_kid=expected_kid))
        unknown = [w for w in mnemonic.split() if w not in WORD_INDEX_MAP]
        if unknown:
            raise ShareError(f"share {number}: {unknown[0]!r} is not a share word (mistyped?)")
        try:
            parsed = shamir_mnemonic.Share.from_mnemonic(mnemonic)
        except shamir_mnemonic.MnemonicError as exc:
            if "checksum" in str(exc):
                raise ShareError(f"share {number}: a word is mistyped (checksum failed)") from None
            raise ShareError(f"share {number} is not a valid share: {exc}") from None
        fingerprint = share_fingerprint(mnemonic)
        if fingerprint not in fingerprints:
            raise ShareError(f"share {number} is not one of this tender's shares")
        if fingerprint in seen:
            raise ShareError(f"share {number} is the same as share {seen[fingerprint]}")
        seen[fingerprint] = number
        threshold = parsed.member_threshold
        words.append(mnemonic)
    if len(words) < threshold:
        raise ShareError(f"{threshold} shares are needed, {len(words)} given")
    try:
        # SLIP-39 takes exactly k shares; every one given was checked above, the first k are used.
        secret = bytearray(shamir_mnemonic.combine_mnemonics(words[:threshold]))
    except shamir_mnemonic.MnemonicError as exc:
        raise ShareError(f"the shares do not combine: {exc}") from None
    try:
        key = X25519PrivateKey.from_private_bytes(bytes(secret))
    finally:
        for i in range(len(secret)):  # best effort, as in make_opening_key
            secret[i] = 0
    if kid_of(raw_public(key)) != expected_kid:
        raise ShareError("the rebuilt key does not match the tender's opening key")
    return key
