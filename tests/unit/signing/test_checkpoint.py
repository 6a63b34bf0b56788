"""C2SP signed-note checkpoints: known answers from other implementations, round trips and tampering."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signing.checkpoint import (
    Checkpoint,
    CheckpointError,
    key_id,
    parse_checkpoint,
    parse_vkey,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
    verify_note,
    vkey,
)

# golang.org/x/mod/sumdb/note's example key, text and signature (note_test.go / example_test.go).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# The example of c2sp.org/signed-note.
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

ORIGIN = "ebid.example/log"
ROOT = hashlib.sha256(b"some root").digest()


def _go_private_key() -> Ed25519PrivateKey:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert seed[0] == 1
    return Ed25519PrivateKey.from_private_bytes(seed[1:])


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_go_sumdb_note_known_answer():
    private = _go_private_key()
    assert vkey("PeterNeumann", private.public_key()) == GO_VKEY
    assert key_id("PeterNeumann", private.public_key()).hex() == "c74f20a3"
    assert sign_note(GO_TEXT, "PeterNeumann", private) == GO_NOTE  # Ed25519 is deterministic
    name, public = parse_vkey(GO_VKEY)
    assert verify_note(GO_NOTE, name, public) == GO_TEXT


def test_signed_note_spec_example_verifies():
    name, public = parse_vkey(SPEC_VKEY)
    assert name == "example.com/foo"
    assert verify_note(SPEC_NOTE, name, public) == "This is an example message.\n"


def test_round_trip(key):
    cp = Checkpoint(ORIGIN, 12345, ROOT, ("ext one",))
    note = sign_checkpoint(cp, ORIGIN, key)
    body, signature = note.split("\n\n")
    assert body + "\n" == f"{ORIGIN}\n12345\n{base64.b64encode(ROOT).decode()}\next one\n"
    assert signature.startswith(f"\u2014 {ORIGIN} ") and signature.endswith("\n")
    blob = base64.b64decode(signature.split(" ")[2])
    assert blob[:4] == key_id(ORIGIN, key.public_key()) and len(blob) == 68
    assert verify_checkpoint(note, ORIGIN, key.public_key(), origin=ORIGIN) == cp
    assert parse_checkpoint(note) == cp
    assert parse_checkpoint(cp.body()) == cp


def test_empty_tree_checkpoint(key):
    empty = hashlib.sha256(b"").digest()
    note = sign_checkpoint(Checkpoint(ORIGIN, 0, empty), ORIGIN, key)
    assert verify_checkpoint(note, ORIGIN, key.public_key()) == Checkpoint(ORIGIN, 0, empty)


def test_vkey_round_trip(key):
    name, public = parse_vkey(vkey(ORIGIN, key.public_key()))
    assert name == ORIGIN and public.public_bytes_raw() == key.public_key().public_bytes_raw()


@pytest.mark.parametrize(
    "bad",
    [
        GO_VKEY.replace("c74f20a3", "c74f20a4"),  # key ID of another key
        GO_VKEY.replace("+ARpc", "+AhpC"),  # not type 0x01
        GO_VKEY[:-4],
        "PeterNeumann+c74f20a3",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_vkeys_are_refused(bad):
    with pytest.raises(CheckpointError, match="malformed verifier key"):
        parse_vkey(bad)


def _replace_body_line(note: str, index: int, line: str) -> str:
    body, signatures = note.split("\n\n")
    lines = body.split("\n")
    lines[index] = line
    return "\n".join(lines) + "\n\n" + signatures


@pytest.mark.parametrize(
    ("index", "line"),
    [(0, "ebid.example/other-log"), (1, "12346"), (1, "0"), (2, base64.b64encode(b"\x00" * 32).decode())],
)
def test_tampered_origin_size_or_root_is_detected(key, index, line):
    note = sign_checkpoint(Checkpoint(ORIGIN, 12345, ROOT), ORIGIN, key)
    with pytest.raises(CheckpointError, match=f"^bad signature by {ORIGIN}\\+"):
        verify_checkpoint(_replace_body_line(note, index, line), ORIGIN, key.public_key())


def test_added_or_removed_extension_line_is_detected(key):
    note = sign_checkpoint(Checkpoint(ORIGIN, 7, ROOT, ("a",)), ORIGIN, key)
    for forged in (note.replace("\na\n", "\n"), note.replace("\na\n", "\na\nb\n")):
        with pytest.raises(CheckpointError, match="^bad signature"):
            verify_checkpoint(forged, ORIGIN, key.public_key())


def test_signature_by_another_key_is_refused(key):
    other = Ed25519PrivateKey.generate()
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), ORIGIN, other)
    # Same name, another key, so another key ID: the line is someone else's and there is none of ours.
    with pytest.raises(CheckpointError, match=f"^unknown key: no signature by {ORIGIN}\\+"):
        verify_checkpoint(note, ORIGIN, key.public_key())


def test_forged_signature_under_our_key_id_is_refused(key):
    other = Ed25519PrivateKey.generate()
    text = Checkpoint(ORIGIN, 1, ROOT).body()
    blob = key_id(ORIGIN, key.public_key()) + other.sign(text.encode())
    note = f"{text}\n\u2014 {ORIGIN} {base64.b64encode(blob).decode()}\n"
    with pytest.raises(CheckpointError, match="^bad signature"):
        verify_checkpoint(note, ORIGIN, key.public_key())


def test_signature_line_naming_an_unknown_key_is_refused(key):
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), "someone.else/key", key)
    with pytest.raises(CheckpointError, match=r"^unknown key: .*\(signed by someone\.else/key\+"):
        verify_checkpoint(note, ORIGIN, key.public_key())


def test_unknown_signatures_are_ignored_beside_ours(key):
    witness = Ed25519PrivateKey.generate()
    cp = Checkpoint(ORIGIN, 3, ROOT)
    ours = sign_checkpoint(cp, ORIGIN, key)
    cosigned = ours + sign_checkpoint(cp, "witness.example", witness).split("\n\n")[1]
    assert verify_checkpoint(cosigned, ORIGIN, key.public_key()) == cp
    assert verify_checkpoint(cosigned, "witness.example", witness.public_key()) == cp


def test_origin_must_match_when_given(key):
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), ORIGIN, key)
    with pytest.raises(CheckpointError, match="^origin mismatch"):
        verify_checkpoint(note, ORIGIN, key.public_key(), origin="ebid.example/other")


def _signed_text(text: str, key: Ed25519PrivateKey) -> str:
    return sign_note(text, ORIGIN, key)


B64_ROOT = base64.b64encode(ROOT).decode()
URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xff" * 32).decode()  # '_' where standard base64 has '/'


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (f"{ORIGIN}\n12\n", "expected origin, size and root hash lines, got 2"),
        (f"\n12\n{B64_ROOT}\n", "origin must be a non-empty string"),
        (f"{ORIGIN}\n012\n{B64_ROOT}\n", "tree size '012' is not a decimal"),
        (f"{ORIGIN}\n+12\n{B64_ROOT}\n", "tree size '\\+12' is not a decimal"),
        (f"{ORIGIN}\n\u0661\u0662\n{B64_ROOT}\n", "is not a decimal"),
        (f"{ORIGIN}\n{2**64}\n{B64_ROOT}\n", "does not fit in 64 bits"),
        (f"{ORIGIN}\n12\n{B64_ROOT[:-1]}\n", "invalid base64"),
        (f"{ORIGIN}\n12\n{base64.b64encode(ROOT[:31]).decode()}\n", "root hash must be 32 bytes"),
        (f"{ORIGIN}\n12\n{URLSAFE_ROOT}\n", "invalid base64"),
    ],
)
def test_malformed_bodies_are_refused_even_when_signed(key, body, problem):
    with pytest.raises(CheckpointError, match=problem):
        verify_checkpoint(_signed_text(body, key), ORIGIN, key.public_key())
    with pytest.raises(CheckpointError, match=problem):
        parse_checkpoint(body)


def test_empty_extension_line_is_refused(key):
    # A blank line inside the body would be taken as the signature separator, so sign it by hand.
    body = f"{ORIGIN}\n12\n{B64_ROOT}\n\nextension\n"
    with pytest.raises(CheckpointError, match="malformed"):
        verify_checkpoint(_signed_text(body, key), ORIGIN, key.public_key())


@pytest.mark.parametrize(
    ("note", "problem"),
    [
        (f"{ORIGIN}\n1\n{B64_ROOT}\n", "no blank line before the signature lines"),
        (f"{ORIGIN}\n1\n{B64_ROOT}\n\n", "no signature lines"),
        (f"{ORIGIN}\n1\n{B64_ROOT}\n\n- {ORIGIN} AAAAAAAA\n", "does not start with an em dash"),
        (f"{ORIGIN}\n1\n{B64_ROOT}\n\n\u2014 {ORIGIN}  AAAAAAAA\n", "is not '\u2014 <name> <base64>'"),
        (f"{ORIGIN}\n1\n{B64_ROOT}\n\n\u2014 {ORIGIN} AAAA\n", "signature by .* is too short"),
        (f"{ORIGIN}\n1\n{B64_ROOT}\n\n\u2014 {ORIGIN} AAAAAAAA*\n", "invalid base64"),
        (f"{ORIGIN}\n1\n{B64_ROOT}\n\n\u2014 a+b AAAAAAAA\n", "must not contain spaces, '\\+'"),
        (f"{ORIGIN}\r\n1\n{B64_ROOT}\n\n\u2014 {ORIGIN} AAAAAAAA\n", "ASCII control character"),
    ],
)
def test_malformed_notes_are_refused(key, note, problem):
    with pytest.raises(CheckpointError, match=problem):
        verify_checkpoint(note, ORIGIN, key.public_key())


def test_checkpoint_fields_are_validated():
    with pytest.raises(CheckpointError, match="origin .*newline"):
        Checkpoint(f"{ORIGIN}\n99", 1, ROOT)
    with pytest.raises(CheckpointError, match="tree size -1"):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(CheckpointError, match="tree size True"):
        Checkpoint(ORIGIN, True, ROOT)
    with pytest.raises(CheckpointError, match="extension lines must be non-empty"):
        Checkpoint(ORIGIN, 1, ROOT, ("",))
    assert Checkpoint(ORIGIN, 1, ROOT, ["x"]).extensions == ("x",)  # type: ignore[arg-type]


def test_key_names_are_validated(key):
    for name in ("", "has space", "plus+sign", "tab\tname", "nbsp\u00a0name"):
        with pytest.raises(CheckpointError, match="key name"):
            sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), name, key)
