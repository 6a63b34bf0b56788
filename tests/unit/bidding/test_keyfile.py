"""The bidder's password-protected key file and the opening key's SLIP-39 shares."""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest
import shamir_mnemonic
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bidding import keyfile
from bidding.envelope import kid_of, raw_public
from bidding.keyfile import (
    ITERATIONS,
    KeyFileError,
    ShareError,
    generate_bidder_keys,
    key_file_publics,
    make_opening_key,
    normalise_mnemonic,
    read_key_file,
    recover_opening_key,
    share_fingerprint,
    write_key_file,
)
from signing.canonical import canonical_json

BIDDER = "91350100MA000001XY"
FAST = 1000  # iterations for tests; real files use ITERATIONS


@pytest.fixture(scope="module")
def keys() -> keyfile.BidderKeys:
    return generate_bidder_keys(BIDDER)


@pytest.fixture(scope="module")
def key_file(keys: keyfile.BidderKeys) -> dict:
    return write_key_file(keys, BIDDER, "correct horse battery", iterations=FAST)


def test_the_key_file_has_the_documented_shape(keys, key_file) -> None:
    assert set(key_file) == {"v", "kind", "bidder", "x25519_public", "ed25519_public", "kdf", "nonce",
                             "sealed"}
    assert (key_file["v"], key_file["kind"], key_file["bidder"]) == (1, "ebid-bidder-key", BIDDER)
    assert key_file["kdf"]["name"] == "PBKDF2-HMAC-SHA256" and key_file["kdf"]["iterations"] == FAST
    assert len(base64.b64decode(key_file["kdf"]["salt"])) == 16
    assert len(base64.b64decode(key_file["nonce"])) == 12
    assert base64.b64decode(key_file["x25519_public"]) == keys.x25519_public
    assert base64.b64decode(key_file["ed25519_public"]) == keys.ed25519_public
    assert keys.x25519_kid == kid_of(keys.x25519_public) and keys.ed25519_kid == kid_of(keys.ed25519_public)
    assert "private" not in json.dumps(key_file)


def test_the_sealed_part_is_exactly_what_the_document_says(keys, key_file) -> None:
    """An independent decryption: PBKDF2 of the NFC password, AES-256-GCM with the fixed associated data."""
    kdf = key_file["kdf"]
    key = hashlib.pbkdf2_hmac("sha256", b"correct horse battery", base64.b64decode(kdf["salt"]),
                              kdf["iterations"], 32)
    inner = AESGCM(key).decrypt(base64.b64decode(key_file["nonce"]), base64.b64decode(key_file["sealed"]),
                                b"ebid-key-file-v1")
    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    assert inner == canonical_json({"ed25519_private": b64(keys.ed25519.private_bytes_raw()),
                                    "x25519_private": b64(keys.x25519.private_bytes_raw())})


def test_read_gives_back_the_same_keys(keys, key_file) -> None:
    again = read_key_file(key_file, "correct horse battery")
    assert again.x25519_public == keys.x25519_public and again.ed25519_public == keys.ed25519_public
    assert again.bidder == BIDDER
    assert key_file_publics(key_file) == (BIDDER, keys.x25519_public, keys.ed25519_public)


def test_new_files_use_600000_iterations(keys) -> None:
    assert ITERATIONS == 600_000
    assert write_key_file(keys, BIDDER, "pw")["kdf"]["iterations"] == 600_000


def test_the_password_is_nfc_normalised(keys) -> None:
    composed, decomposed = "caf\u00e9 密码", "cafe\u0301 密码"
    data = write_key_file(keys, BIDDER, composed, iterations=FAST)
    assert read_key_file(data, decomposed).x25519_public == keys.x25519_public


def test_a_wrong_password_or_a_damaged_file_says_so(key_file) -> None:
    with pytest.raises(KeyFileError, match="wrong password or damaged key file"):
        read_key_file(key_file, "Correct horse battery")
    damaged = copy.deepcopy(key_file)
    sealed = bytearray(base64.b64decode(damaged["sealed"]))
    sealed[3] ^= 1
    damaged["sealed"] = base64.b64encode(bytes(sealed)).decode()
    with pytest.raises(KeyFileError, match="wrong password or damaged key file"):
        read_key_file(damaged, "correct horse battery")
    with pytest.raises(KeyFileError, match="the password is empty"):
        read_key_file(key_file, "")


def test_swapped_public_keys_are_noticed(key_file) -> None:
    other = generate_bidder_keys()
    swapped = {**key_file, "x25519_public": base64.b64encode(other.x25519_public).decode()}
    with pytest.raises(KeyFileError, match="public keys do not match its private keys"):
        read_key_file(swapped, "correct horse battery")


@pytest.mark.parametrize(("change", "match"), [
    ({"kind": "something"}, "not an ebid bidder key file"),
    ({"v": 2}, "key file version 2"),
    ({"bidder": "ACME"}, "not a unified social credit code"),
    ({"x25519_public": "AAAA"}, "x25519_public must be 32 bytes"),
    ({"ed25519_public": None}, "ed25519_public is missing"),
    ({"kdf": {"name": "scrypt"}}, "kdf must be PBKDF2-HMAC-SHA256"),
    ({"kdf": {"name": "PBKDF2-HMAC-SHA256", "iterations": 10**9, "salt": "AAAAAAAAAAAAAAAAAAAAAA=="}},
     "iteration count must be from 1 to 10,000,000"),
    ({"kdf": {"name": "PBKDF2-HMAC-SHA256", "iterations": 1000, "salt": "AAAA"}},
     "kdf.salt must be 16 bytes"),
    ({"nonce": "!!"}, "nonce is not valid base64"),
])
def test_malformed_key_files_are_refused(key_file, change, match) -> None:
    with pytest.raises(KeyFileError, match=match):
        read_key_file({**key_file, **change}, "correct horse battery")
    with pytest.raises(KeyFileError):
        read_key_file([], "x")


def test_write_refuses_a_bad_bidder_or_iteration_count(keys) -> None:
    with pytest.raises(KeyFileError, match="credit code"):
        write_key_file(keys, "acme", "pw", iterations=FAST)
    with pytest.raises(KeyFileError, match="iterations must be"):
        write_key_file(keys, BIDDER, "pw", iterations=0)


# --- opening-key shares ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ceremony() -> tuple[bytes, str, list[keyfile.ShareFile]]:
    return make_opening_key(7, 3, 5)


def recover(shares, ceremony, *, tender: int = 7):
    public, kid, files = ceremony
    return recover_opening_key(shares, expected_kid=kid, tender=tender,
                               fingerprints=[f.fingerprint for f in files])


def test_the_ceremony_makes_k_of_n_shares_of_the_key(ceremony) -> None:
    public, kid, shares = ceremony
    assert kid == kid_of(public) and len(shares) == 5
    assert [s.index for s in shares] == [1, 2, 3, 4, 5]
    for share in shares:
        assert (share.tender, share.kid, share.threshold, share.count) == (7, kid, 3, 5)
        assert share.fingerprint == hashlib.sha256(b"ebid-share-v1\n" + share.mnemonic.encode()).hexdigest()
        assert share.to_json() == {"v": 1, "kind": "ebid-opening-share", "tender": 7, "kid": kid,
                                   "threshold": 3, "count": 5, "index": share.index,
                                   "mnemonic": share.mnemonic,
                                   "fingerprint": share.fingerprint}
        parsed = shamir_mnemonic.Share.from_mnemonic(share.mnemonic)
        assert (parsed.member_threshold, parsed.group_threshold, parsed.group_count) == (3, 1, 1)
    assert len({s.fingerprint for s in shares}) == 5


def test_any_k_shares_rebuild_the_key_and_fewer_do_not(ceremony) -> None:
    public, _, shares = ceremony
    for chosen in ([0, 1, 2], [4, 2, 0], [1, 3, 4], [0, 1, 2, 3, 4]):
        key = recover([shares[i].mnemonic for i in chosen], ceremony)
        assert raw_public(key) == public
    with pytest.raises(ShareError, match="3 shares are needed, 2 given"):
        recover([shares[0].mnemonic, shares[1].mnemonic], ceremony)


def test_shares_may_be_files_or_words_typed_loosely(ceremony) -> None:
    public, _, shares = ceremony
    typed = "  " + shares[2].mnemonic.upper().replace(" ", "\n   ") + "\n"
    key = recover([shares[0].to_json(), shares[1].mnemonic, typed], ceremony)
    assert raw_public(key) == public
    assert normalise_mnemonic(typed) == shares[2].mnemonic
    assert share_fingerprint(typed) == shares[2].fingerprint


def test_share_errors_are_plain(ceremony) -> None:
    public, kid, shares = ceremony
    words = shares[1].mnemonic.split()
    words[6] = "academic" if words[6] != "academic" else "acid"
    stranger = make_opening_key(7, 3, 5)[2][0]
    cases = [
        ([shares[0].mnemonic, " ".join(words), shares[2].mnemonic],
         "share 2: a word is mistyped \\(checksum failed\\)"),
        ([shares[0].mnemonic, shares[1].mnemonic.replace(words[3], "zzzz", 1)],
         "share 2: 'zzzz' is not a share word"),
        ([shares[0].mnemonic, stranger.mnemonic, shares[2].mnemonic],
         "share 2 is not one of this tender's shares"),
        ([shares[0].mnemonic, shares[0].mnemonic, shares[2].mnemonic], "share 2 is the same as share 1"),
        ([{**shares[0].to_json(), "tender": 9}], "share 1 is from tender 9, not tender 7"),
        ([{**shares[0].to_json(), "kid": "0" * 64}], "share 1 is for opening key 0+, not this tender's"),
        ([{"kind": "x"}], "share 1 is not an ebid opening-key share file"),
        ([42], "share 1 is neither words nor a share file"),
        ([], "no share was given"),
    ]
    for given, match in cases:
        with pytest.raises(ShareError, match=match):
            recover(given, ceremony)


def test_a_key_rebuilt_from_another_tenders_shares_is_refused(ceremony) -> None:
    _, kid, shares = ceremony
    _, _, others = make_opening_key(7, 2, 2)
    with pytest.raises(ShareError, match="the rebuilt key does not match the tender's opening key"):
        recover_opening_key([s.mnemonic for s in others], expected_kid=kid, tender=7,
                            fingerprints=[s.fingerprint for s in others])


@pytest.mark.parametrize(("threshold", "count", "match"), [
    (1, 3, "threshold must be from 2"), (4, 3, "threshold must be from 2 to the number of shares"),
    (2, 1, "number of shares must be from 2 to 16"), (2, 17, "number of shares must be from 2 to 16"),
])
def test_the_ceremony_refuses_impossible_splits(threshold: int, count: int, match: str) -> None:
    with pytest.raises(ShareError, match=match):
        make_opening_key(7, threshold, count)


def test_the_ceremony_wipes_its_copy_of_the_private_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Best effort (Python copies bytes freely): the bytearray the key was made from ends up zeroed."""
    made: list[bytearray] = []
    real = bytearray

    def spy(*args):
        value = real(*args)
        made.append(value)
        return value

    monkeypatch.setattr(keyfile, "bytearray", spy, raising=False)
    public, _, _ = make_opening_key(7, 2, 3)
    assert made and all(not any(b) for b in made)
