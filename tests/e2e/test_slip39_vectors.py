"""SLIP-39 in the browser (static/js/slip39.js): SatoshiLabs' official vectors, and `ebid` both ways.

The vectors are tests/e2e/data/slip39-vectors.json (python-shamir-mnemonic's vectors.json, MIT; see
slip39-vectors.LICENSE next to it): each lists mnemonics, and the master secret they combine to with the
passphrase "TREZOR", or "" when they must be refused.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import shamir_mnemonic
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from shamir_mnemonic.wordlist import WORDLIST

from bidding.envelope import kid_of, raw_public
from bidding.keyfile import make_opening_key, recover_opening_key, share_fingerprint

pytestmark = pytest.mark.e2e

VECTORS = json.loads((Path(__file__).parent / "data" / "slip39-vectors.json").read_text())

IMPORTS = """
const slip39 = await import("/static/js/slip39.js");
const words = await import("/static/js/slip39_words.js");
const env = await import("/static/js/envelope.js");
const { sha256 } = await import("/static/js/sha256.js");
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
"""


@pytest.fixture(scope="module")
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/login")
    yield page
    context.close()


def run(page, body: str, arg=None):
    return page.evaluate(f"async (arg) => {{ {IMPORTS} {body} }}", arg)


def test_the_official_vectors(page) -> None:
    results = run(page, """
      const out = [];
      for (const [description, mnemonics] of arg) {
        try { out.push(hex(await slip39.combine(mnemonics, "TREZOR"))); }
        catch (error) { out.push(error.name === "MnemonicError" ? "" : `${error.name}: ${error.message}`); }
      }
      return out;""", [[d, m] for d, m, *_ in VECTORS])
    assert len(results) == len(VECTORS) == 45
    for (description, _mnemonics, secret, *_), got in zip(VECTORS, results, strict=True):
        assert got == secret, description


def test_the_wordlist_is_slip39_s(page) -> None:
    assert run(page, "return words.WORDS;") == list(WORDLIST)


def test_shares_made_by_ebid_combine_in_the_browser_to_the_registered_key(page) -> None:
    public, kid, shares = make_opening_key(7, 3, 5)
    picked = [shares[4], shares[0], shares[2]]
    got = run(page, """
      const secret = await slip39.combine(arg.mnemonics);
      const fingerprints = arg.mnemonics.map(
        (m) => hex(sha256(new TextEncoder().encode(`ebid-share-v1\\n${m}`))));
      return { kid: env.kid(await env.x25519PublicOf(secret)), fingerprints };""",
              {"mnemonics": [s.mnemonic for s in picked]})
    assert got["kid"] == kid == kid_of(public)
    assert got["fingerprints"] == [s.fingerprint for s in picked]


def test_shares_made_in_the_browser_combine_with_ebid(page) -> None:
    secret = os.urandom(32)
    made = run(page, """
      const secret = Uint8Array.from(atob(arg), (c) => c.charCodeAt(0));
      return { mnemonics: await slip39.generate(secret, 2, 3),
               kid: env.kid(await env.x25519PublicOf(secret)) };""",
               base64.b64encode(secret).decode())
    mnemonics = made["mnemonics"]
    assert len(mnemonics) == 3 and all(len(m.split()) == 33 for m in mnemonics)
    parsed = [shamir_mnemonic.Share.from_mnemonic(m) for m in mnemonics]
    assert {p.member_threshold for p in parsed} == {2} and [p.index for p in parsed] == [0, 1, 2]
    assert len({p.identifier for p in parsed}) == 1
    assert all(p.extendable and p.iteration_exponent == 1 for p in parsed)  # shamir-mnemonic's defaults
    for pair in ([0, 1], [1, 2], [2, 0]):
        assert shamir_mnemonic.combine_mnemonics([mnemonics[i] for i in pair]) == secret
    kid = kid_of(raw_public(X25519PrivateKey.from_private_bytes(secret)))
    assert made["kid"] == kid
    key = recover_opening_key(mnemonics[1:], expected_kid=kid, tender=7,
                              fingerprints=[share_fingerprint(m) for m in mnemonics])
    assert key.private_bytes_raw() == secret


def test_a_mistyped_word_is_refused_as_the_python_library_refuses_it(page) -> None:
    _public, _kid, shares = make_opening_key(3, 2, 3)
    words = shares[0].mnemonic.split()
    words[10] = "academic" if words[10] != "academic" else "acid"
    bad = " ".join(words)
    with pytest.raises(shamir_mnemonic.MnemonicError):
        shamir_mnemonic.combine_mnemonics([bad, shares[1].mnemonic])
    got = run(page, """
      try { await slip39.combine(arg); return "combined"; }
      catch (error) { return `${error.name}: ${error.message}`; }""",
              [bad, shares[1].mnemonic])
    assert got.startswith("MnemonicError: Invalid mnemonic checksum")
