"""Sealing in the browser (static/js/*.js) against the Python implementation, and the bidder's pages.

The modules run in Debian's Chromium on a page of the live server, under the platform's real CSP
(`script-src 'self'`). What the browser seals is opened by bidding.envelope; what Python seals is
opened by the browser; and a bidder goes through the pages from making its keys to the receipt,
including an upload cut in the middle.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bidding import envelope, keyfile, package
from signing.canonical import canonical_json

pytestmark = pytest.mark.e2e

VECTORS = Path(__file__).resolve().parents[1] / "unit" / "bidding" / "envelope_vectors.json"
BIDDER = "91350100MA000001XY"
PASSWORD = "投标密钥口令-correct horse"
PIECE = 2 * 1024 * 1024  # static/js/bidder.js sends the envelope in pieces of this size

IMPORT = """
    const E = await import(new URL("/static/js/envelope.js", location.href));
    const K = await import(new URL("/static/js/keyfile.js", location.href));
    const S = await import(new URL("/static/js/sha256.js", location.href));
"""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def in_page(page, body: str, arg: Any = None) -> Any:
    """Run `body` (an async function body that sees `arg` and the modules E, K, S) in the page."""
    return page.evaluate(f"async (arg) => {{ {IMPORT} {body} }}", arg)


@pytest.fixture
def origin_page(zh_page):
    """A page of the platform: the modules load from /static under its CSP."""
    zh_page.goto("/tenders")
    return zh_page


# -- the API, from the test's side --------------------------------------------------------------------------

def call(server, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.url + path, data=data, method=method)  # noqa: S310 - loopback
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def token_for(server, username: str) -> str:
    status, body = call(server, "POST", "/api/auth/token",
                        {"username": username, "password": server.password(username)})
    assert status == 200, body
    return body["access_token"]


@pytest.fixture(scope="module")
def tender(live_server) -> dict[str, Any]:
    """A published tender with an opening key whose private half the test holds (the custodians' side)."""
    office = token_for(live_server, "office")
    now = dt.datetime.now(dt.UTC)
    status, created = call(live_server, "POST", "/api/tenders", {
        "title": "鼓楼区道路提升改造工程（浏览器封装测试）", "description": "道路改造", "region": "350102",
        "currency": "CNY", "estimated_price": "12000000.00", "deposit_amount": "200000.00",
        "submission_deadline": (now + dt.timedelta(days=30)).isoformat(),
        "opening_time": (now + dt.timedelta(days=30)).isoformat(), "bid_validity_days": 90,
        "evaluation_method": "comprehensive_scoring",
        "criteria": [{"name": "投标报价", "category": "price", "weight": "40", "max_score": "40"},
                     {"name": "施工组织设计", "category": "technical", "weight": "60", "max_score": "60"}],
    }, office)
    assert status == 201, created
    opening = X25519PrivateKey.generate()
    raw = opening.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    status, body = call(live_server, "POST", f"/api/tenders/{created['id']}/opening-key", {
        "public_key": b64(raw), "kid": hashlib.sha256(raw).hexdigest(), "threshold": 2, "count": 3,
        "fingerprints": [hashlib.sha256(os.urandom(16)).hexdigest() for _ in range(3)]}, office)
    assert status == 201, body
    status, body = call(live_server, "POST", f"/api/tenders/{created['id']}/publish", {}, office)
    assert status == 200, body
    return {"id": created["id"], "opening": opening, "opening_public": raw,
            "criteria": [c["name"] for c in created["criteria"]]}


def sign_in(page, server, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", server.password(username))
    page.click("button[type=submit]")
    page.wait_for_selector("header .who")


def make_keys_in_browser(page, server, username: str) -> str:
    """Through /bidder/keys: make keys, download the key file, register the public halves; the file's text."""
    sign_in(page, server, username)
    page.goto("/bidder/keys")
    page.fill("#key-password", PASSWORD)
    page.fill("#key-password-again", PASSWORD)
    with page.expect_download() as download:
        page.click("#generate")
    text = Path(download.value.path()).read_text()
    assert download.value.suggested_filename.startswith("ebid-key-")
    page.wait_for_selector("#register-step", state="visible")
    page.click("#register")
    page.wait_for_selector("#keys-status.success")
    file = json.loads(text)
    x_public = base64.b64decode(file["x25519_public"])
    assert page.inner_text("#x25519-kid") == hashlib.sha256(x_public).hexdigest()
    return text


@pytest.fixture(scope="module")
def registered(browser, live_server) -> dict[str, str]:
    """bidder2 with keys made and registered through the keys page; username -> key file text."""
    context = browser.new_context(locale="zh-CN", base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    text = make_keys_in_browser(page, live_server, "bidder2")
    context.close()
    return {"bidder2": text}


def stored_envelope(server, sha256: str) -> bytes:
    path = server.instance / "blobs" / sha256[:2] / sha256[2:4] / sha256
    if not path.exists():  # another layout: find it by name
        path = next(server.instance.rglob(sha256))
    return path.read_bytes()


def open_in_python(data: bytes, key_file_text: str, opening: X25519PrivateKey | None = None) -> dict:
    """Open an envelope with the bidder's key file (and, given it, check the opening key opens it too)."""
    keys = keyfile.read_key_file(json.loads(key_file_text), PASSWORD)
    info = envelope.read_envelope_info(io.BytesIO(data))
    envelope.verify_signature(info, keys.ed25519_public)
    data_key = envelope.unwrap(info.header, keys.x25519, "bidder")
    if opening is not None:
        assert envelope.unwrap(info.header, opening, "opening") == data_key
    plain = io.BytesIO()
    opened = envelope.open_envelope(io.BytesIO(data), data_key, plain)
    plain.seek(0)
    verified = package.verify_package(plain)  # version 2: it adds each document's SHA-256, computed
    assert opened.bid is not None
    assert verified == {**opened.bid, "documents": [
        {**listed, "sha256": hashlib.sha256(read).hexdigest()} for listed, read in
        zip(opened.bid["documents"], _documents(plain), strict=True)]}
    return opened.bid


def _documents(plain: io.BytesIO) -> list[bytes]:
    """The documents of a package, in order (bid.json first is skipped)."""
    plain.seek(0)
    with tarfile.open(fileobj=plain, mode="r|") as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar if m.isreg()]  # type: ignore[union-attr]
    return [data for name, data in members if name != "bid.json"]


# -- (a) the building blocks, in the page -------------------------------------------------------------------

def test_sha256_matches_nist_and_hashlib_however_the_input_is_split(origin_page) -> None:
    nist = {"": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq":
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
            "mnopqrstnopqrstu": "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"}
    random = os.urandom(5000)
    lengths = [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 5000]
    result = in_page(origin_page, """
        const hex = E.hex;
        const nist = Object.fromEntries(Object.keys(arg.nist).map((m) => [m, hex(S.sha256(E.utf8(m)))]));
        // A million 'a' fed in uneven pieces (the FIPS 180-2 long vector).
        const h = new S.Sha256();
        const a = new Uint8Array(1000).fill(0x61);
        let left = 1000000, step = 1;
        while (left > 0) {
          const n = Math.min(left, step % 997 + 1);
          h.update(a.subarray(0, n));
          left -= n;
          step += 37;
        }
        const random = E.fromB64(arg.random);
        const prefixes = arg.lengths.map((n) => {
          const whole = hex(S.sha256(random.subarray(0, n)));
          const pieces = new S.Sha256();
          for (let i = 0, k = 1; i < n; i += k, k = (k * 7) % 131 + 1) {
            pieces.update(random.subarray(i, Math.min(n, i + k)));
          }
          const copy = pieces.clone();
          copy.update(E.utf8("more"));
          return [whole, hex(pieces.digest()), hex(copy.digest())];
        });
        return { nist, million: hex(h.digest()), prefixes };
    """, {"nist": nist, "random": b64(random), "lengths": lengths})
    assert result["nist"] == nist
    assert result["million"] == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    for n, (whole, pieces, more) in zip(lengths, result["prefixes"], strict=True):
        assert whole == pieces == hashlib.sha256(random[:n]).hexdigest()
        assert more == hashlib.sha256(random[:n] + b"more").hexdigest()


def test_canonical_json_is_the_same_as_pythons(origin_page) -> None:
    values = [
        {"v": 1, "tender": 7, "lot": 1, "bidder": BIDDER, "kid": "ab" * 32},
        {"施工组织设计": "见 documents/technical.pdf", "企业信誉与业绩": "……",
         "b": [1, 2, {"z": None, "a": True}]},
        # RFC 8785 sorts keys by UTF-16 code units: U+1F600 (a surrogate pair) before U+E000.
        {"\ue000": 1, "😀": 2, "a": 3, "A": 4, "é": 5, "": 6},
        {"escapes": "quote\" backslash\\ newline\n tab\t nul\u0000 del\u007f ctrl\u001f sep\u2028 😀"},
        [0, -1, 9007199254740991, "", [], {}],
    ]
    result = in_page(origin_page, "return arg.map((v) => E.canonicalJson(v));", values)
    assert result == [canonical_json(v).decode() for v in values]
    refused = in_page(origin_page, """
        return [1.5, 2 ** 53, undefined].map((v) => {
          try { E.canonicalJson(v); return false; } catch { return true; }
        });
    """)
    assert refused == [True, True, True]


def test_tar_with_chinese_names_reads_both_ways(origin_page) -> None:
    content = "第一章 施工组织设计\n".encode() * 300
    long_name = "documents/" + "很长的文件名" * 20 + ".pdf"  # over 100 bytes: needs pax too
    made = in_page(origin_page, """
        const parts = E.tarParts([
          { name: "bid.json", data: E.utf8("{}") },
          { name: "documents/技术方案.txt", data: new Blob([E.fromB64(arg.content)]) },
          { name: arg.long, data: new Uint8Array(0) },
        ]);
        return E.b64(new Uint8Array(await new Blob(parts).arrayBuffer()));
    """, {"content": b64(content), "long": long_name})
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(made))) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
    assert members == [("bid.json", b"{}"), ("documents/技术方案.txt", content), (long_name, b"")]

    # And a package written by Python (bidding.package) is read by the browser.
    out = io.BytesIO()
    bid = {"v": 1, "tender": 7, "lot": 1, "bidder": BIDDER, "price": {"amount": "1.00", "currency": "CNY"},
           "duration_days": 30, "criteria": {"施工组织设计": "见附件"}}
    package.write_package(out, bid, [("报价单（含税）.txt", io.BytesIO(content))])
    read = in_page(origin_page, """
        return E.readTar(E.fromB64(arg)).map((m) => [m.name, E.b64(m.data)]);
    """, b64(out.getvalue()))
    assert [name for name, _ in read] == ["bid.json", "documents/报价单（含税）.txt"]
    assert base64.b64decode(read[1][1]) == content


# -- (b) interoperability with bidding.envelope --------------------------------------------------------------

def test_an_envelope_sealed_in_the_browser_opens_in_python(origin_page) -> None:
    opening = X25519PrivateKey.generate()
    opening_public = opening.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    document = os.urandom(150_000)
    bid = {"v": 1, "tender": 7, "lot": 2, "bidder": BIDDER,
           "price": {"amount": "11850000.00", "currency": "CNY"}, "duration_days": 540,
           "criteria": {"施工组织设计": "见 documents/技术方案.pdf", "企业信誉与业绩": "近三年无不良记录"}}
    sealed = in_page(origin_page, """
        const keys = await K.generateKeys();
        const keyFile = await K.writeKeyFile({ bidder: arg.bid.bidder, keys, password: arg.password });
        const mine = await K.readKeyFile(keyFile, arg.password);
        const parts = await E.packageParts(arg.bid,
          [{ name: "技术方案.pdf", file: new File([E.fromB64(arg.document)], "技术方案.pdf") }]);
        const sealed = await E.seal({ tender: 7, lot: 2, bidder: arg.bid.bidder, parts, chunkSize: 16384,
          openingKey: E.fromB64(arg.opening), bidderKey: mine.x25519Public,
          signingKey: mine.signingKey, signerPublic: mine.ed25519Public });
        const bytes = new Uint8Array(await sealed.blob.arrayBuffer());
        return { keyFile, envelope: E.b64(bytes), hash: sealed.envelopeHash, commitment: sealed.commitment };
    """, {"bid": bid, "password": PASSWORD, "document": b64(document), "opening": b64(opening_public)})
    key_file = json.loads(sealed["keyFile"])
    assert key_file["kdf"]["name"] == "PBKDF2-HMAC-SHA256" and key_file["kdf"]["iterations"] == 600_000
    data = base64.b64decode(sealed["envelope"])
    assert hashlib.sha256(data).hexdigest() == sealed["hash"]
    info = envelope.read_envelope_info(io.BytesIO(data), tender=7, lot=2, bidder=BIDDER)
    assert info.header.chunk_size == 16384 and info.chunks > 9  # many chunks: the framing is exercised
    assert info.trailer.commitment == sealed["commitment"]
    assert data[:8] == b"EBIDENV2"  # the browser writes version 2: bid.json lists names and sizes
    opened = open_in_python(data, sealed["keyFile"], opening)
    assert opened == {**bid, "v": 2, "documents": [{"name": "documents/技术方案.pdf", "size": len(document)}]}


@pytest.mark.parametrize("version", [1, 2])
def test_an_envelope_sealed_by_python_opens_in_the_browser(origin_page, version: int) -> None:
    keys = keyfile.generate_bidder_keys(BIDDER)
    opening = X25519PrivateKey.generate()
    document = "投标函正文".encode() * 20_000
    bid = {"v": version, "tender": 9, "lot": 1, "bidder": BIDDER,
           "price": {"amount": "990000.5", "currency": "USD"}, "duration_days": 120,
           "criteria": {"技术方案": "详见附件"}}
    pkg = io.BytesIO()
    written = package.write_package(pkg, bid, [("投标函.txt", io.BytesIO(document))])
    pkg.seek(0)
    out = io.BytesIO()
    info = envelope.seal(pkg, out, tender=9, lot=1, bidder=BIDDER,
                         opening_public=envelope.raw_public(opening), bidder_public=keys.x25519_public,
                         signing_key=keys.ed25519, version=version)
    opened = in_page(origin_page, """
        const bytes = E.fromB64(arg.envelope);
        const { header } = E.parseEnvelope(bytes);
        const mine = await E.unwrap(header, E.fromB64(arg.bidder));
        const theirs = await E.unwrap(header, E.fromB64(arg.opening));
        const opened = await E.openEnvelope(bytes, mine, { signerPublic: E.fromB64(arg.signer) });
        let tampered = null;
        const bad = bytes.slice(); bad[bytes.length - 200] ^= 1;  // a bit of the last chunk
        try { await E.openEnvelope(bad, mine); } catch (err) { tampered = String(err); }
        return { bid: opened.bid, same: E.hex(mine) === E.hex(theirs), hash: opened.envelopeHash,
                 statement: opened.statementHash, tampered,
                 members: opened.members.map((m) => [m.name, E.b64(m.data)]) };
    """, {"envelope": b64(out.getvalue()), "bidder": b64(keys.x25519.private_bytes_raw()),
          "opening": b64(opening.private_bytes_raw()), "signer": b64(keys.ed25519_public)})
    assert opened["bid"] == written
    assert opened["same"] is True
    assert opened["hash"] == hashlib.sha256(out.getvalue()).hexdigest()
    assert opened["statement"] == info.envelope_hash
    assert opened["tampered"] is not None
    assert opened["members"][1][0] == "documents/投标函.txt"
    assert base64.b64decode(opened["members"][1][1]) == document


def test_browser_sealing_matches_the_python_vectors_byte_for_byte(origin_page) -> None:
    """With the vectors' fixed randomness the browser writes the very bytes bidding.envelope writes,
    and opens the vectors' envelopes with either recipient's key."""
    vectors = json.loads(VECTORS.read_text())["vectors"]
    assert vectors
    for case in vectors:
        result = in_page(origin_page, VECTOR_JS, case)
        assert result["envelope"] == case["envelope"], case["name"]
        assert result["sha256"] == case["envelope_sha256"]
        assert result["opened"]["commitment"] == case["intermediate"]["commitment"]
        assert result["opened"]["package"] == case["inputs"]["package"]
        assert result["opened"]["same_key"] is True
        assert result["opened"]["bid"] == case["bid"]


VECTOR_JS = """
    const v = arg.inputs, x = E.fromHex;
    const signingKey = await E.importOkpPrivate("Ed25519", x(v.bidder_ed25519_private), ["sign"]);
    const sealed = await E.seal({
      tender: v.tender, lot: v.lot, bidder: v.bidder, chunkSize: v.chunk_size, created: new Date(v.created),
      openingKey: x(v.opening_public), bidderKey: x(v.bidder_x25519_public),
      signingKey, signerPublic: x(v.bidder_ed25519_public), version: v.version,
      parts: [new Blob([x(v.package)])],
      fixed: { dataKey: x(v.data_key), salt: x(v.salt), noncePrefix: x(v.nonce_prefix),
               ephemeral: [x(v.ephemeral_opening_private), x(v.ephemeral_bidder_private)] },
    });
    const bytes = new Uint8Array(await sealed.blob.arrayBuffer());
    // Opening the vector's own envelope (not ours), with each recipient's private key.
    const envelope = x(arg.envelope);
    const { header } = E.parseEnvelope(envelope);
    const mine = await E.unwrap(header, x(v.bidder_x25519_private));
    const theirs = await E.unwrap(header, x(v.opening_private));
    const opened = await E.openEnvelope(envelope, mine,
      { signerPublic: x(v.bidder_ed25519_public), tar: v.package_is_tar });
    return { envelope: E.hex(bytes), sha256: sealed.envelopeHash,
             opened: { commitment: opened.commitment, package: E.hex(opened.package),
                       same_key: E.hex(mine) === E.hex(theirs), bid: opened.bid ?? null } };
"""


# -- (c) the pages ------------------------------------------------------------------------------------------

def fill_bid(page, tender: dict[str, Any], documents: list[tuple[str, bytes]], key_file: Path,
             price: str = "11850000.00", days: str = "540") -> dict[str, Any]:
    """Fill the submit page; the bid.json it should produce (less `documents`)."""
    page.goto(f"/tenders/{tender['id']}/submit")
    page.select_option("#lot", "1")
    page.fill("#price-amount", price)
    page.select_option("#price-currency", "CNY")
    page.fill("#duration-days", days)
    criteria = {}
    for n, name in enumerate(tender["criteria"]):
        criteria[name] = f"第{n + 1}项响应：详见 documents/ 中的文件。"
        page.fill(f"textarea[data-criterion='{name}']", criteria[name])
    page.set_input_files("#documents", [{"name": name, "mimeType": "application/octet-stream", "buffer": data}
                                        for name, data in documents])
    page.set_input_files("#key-file", str(key_file))
    page.fill("#key-password", PASSWORD)
    return {"v": 2, "tender": tender["id"], "lot": 1, "price": {"amount": price, "currency": "CNY"},
            "duration_days": int(days), "criteria": criteria,
            "documents": [{"name": f"documents/{name}", "size": len(data)} for name, data in documents]}


WATCH_PROGRESS = """() => {
    window.seen = { seal: new Set(), upload: new Set() };
    for (const name of ["seal", "upload"]) {
      const bar = document.getElementById(`${name}-progress`);
      new MutationObserver(() => window.seen[name].add(bar.value)).observe(bar, { attributes: true });
      bar.addEventListener("change", () => window.seen[name].add(bar.value));
    }
    const percent = (name) => new MutationObserver(() => window.seen[name].add(
      parseInt(document.getElementById(`${name}-percent`).textContent, 10)));
    percent("seal").observe(document.getElementById("seal-percent"), { childList: true });
    percent("upload").observe(document.getElementById("upload-percent"), { childList: true });
}"""


def seen_progress(page) -> dict[str, list[int]]:
    return page.evaluate("() => ({ seal: [...window.seen.seal].sort((a, b) => a - b), "
                         "upload: [...window.seen.upload].sort((a, b) => a - b) })")


def receipt_of(page, server) -> tuple[str, bytes]:
    page.wait_for_selector("#receipt", state="visible", timeout=120_000)
    sha = page.inner_text("#receipt-envelope")
    assert "北京时间" in page.inner_text("#receipt-time")  # when the platform received it, on screen
    assert page.locator("#status").is_hidden(), page.inner_text("#status")  # no hash mismatch reported
    href = page.get_attribute("#receipt-pdf", "href")
    for _ in range(60):  # the PDF receipt is made seconds after the commit; until then the link answers 202
        pdf = page.request.get(href)
        if pdf.status != 202:
            break
        page.wait_for_timeout(1000)
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    return sha, stored_envelope(server, sha)


def test_a_bidder_makes_keys_seals_and_submits_in_the_browser(browser, live_server, tender, tmp_path) -> None:
    context = browser.new_context(locale="zh-CN", base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    key_text = make_keys_in_browser(page, live_server, "bidder1")
    key_file = tmp_path / "ebid-key.json"
    key_file.write_text(key_text)
    assert page.locator("h1").inner_text() == "我的密钥"

    documents = [("技术方案.pdf", os.urandom(3 * 1024 * 1024 + 123)),
                 ("报价单.xlsx", b"PK\x03\x04" + os.urandom(5000))]
    expected = fill_bid(page, tender, documents, key_file)
    page.evaluate(WATCH_PROGRESS)
    page.click("#seal-submit")
    page.wait_for_selector("#progress", state="visible")
    assert page.locator("#seal-progress").is_visible() and page.locator("#upload-progress").is_visible()
    sha, data = receipt_of(page, live_server)
    progress = seen_progress(page)
    assert progress["seal"][-1] == 100 and any(0 < v < 100 for v in progress["seal"]), progress
    assert progress["upload"][-1] == 100 and any(0 < v < 100 for v in progress["upload"]), progress
    assert hashlib.sha256(data).hexdigest() == sha

    bid = open_in_python(data, key_text, tender["opening"])
    assert bid == {**expected, "bidder": json.loads(key_text)["bidder"]}
    assert bid["bidder"].startswith("91350100MA000001")  # bidder1's company
    context.close()


def _routes(page, fail) -> dict[str, list]:
    """Watch the upload's requests; `fail(n, route)` may take over the n-th PATCH (returns True if it did)."""
    seen: dict[str, list] = {"patch": [], "head": []}

    def handle(route, request):
        if request.method == "PATCH":
            seen["patch"].append(int(request.headers["upload-offset"]))
            if fail(len(seen["patch"]), route):
                return
        elif request.method == "HEAD":
            seen["head"].append(len(seen["patch"]))
        route.continue_()

    page.route("**/api/uploads/**", handle)
    return seen


def test_an_upload_cut_after_the_platform_got_a_piece_goes_on_from_the_platforms_offset(
        browser, live_server, tender, registered, tmp_path) -> None:
    context = browser.new_context(locale="zh-CN", base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    sign_in(page, live_server, "bidder2")
    key_file = tmp_path / "key.json"
    key_file.write_text(registered["bidder2"])
    documents = [("施工图纸.dwg", os.urandom(5 * 1024 * 1024))]
    expected = fill_bid(page, tender, documents, key_file, price="9999999.99")

    def cut_second(n, route):
        if n != 2:
            return False
        route.fetch()  # the platform receives and keeps the second piece...
        route.abort("connectionreset")  # ...but the browser never hears that it did
        return True

    seen = _routes(page, cut_second)
    page.click("#seal-submit")
    sha, data = receipt_of(page, live_server)
    # The piece the platform already had was not sent again: after the cut, the page asked the
    # platform for its offset (HEAD) and went on from there.
    assert seen["patch"] == [0, PIECE, 2 * PIECE], seen
    assert seen["head"] == [2], seen
    bid = open_in_python(data, registered["bidder2"], tender["opening"])
    assert bid["price"] == expected["price"] and bid["documents"] == expected["documents"]
    context.close()


def test_a_stalled_upload_offers_resume_and_survives_a_reload(browser, live_server, tender, registered,
                                                               tmp_path) -> None:
    context = browser.new_context(locale="zh-CN", base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    sign_in(page, live_server, "bidder2")
    key_file = tmp_path / "key.json"
    key_file.write_text(registered["bidder2"])
    documents = [("资格证明.pdf", os.urandom(3 * 1024 * 1024))]
    expected = fill_bid(page, tender, documents, key_file, price="8888888.00")

    # The network is down after the first piece: the page retries, then stops and offers Resume.
    seen = _routes(page, lambda n, route: n >= 2 and (route.abort("internetdisconnected") or True))
    page.click("#seal-submit")
    page.wait_for_selector("#resume-box", state="visible")
    assert "error" in page.get_attribute("#status", "class")
    assert seen["patch"][0] == 0 and set(seen["patch"][1:]) == {PIECE}, seen

    # The bidder reloads the page: the sealed envelope and the upload's id were kept in this tab.
    page.unroute("**/api/uploads/**")
    page.reload()
    page.wait_for_selector("#pending", state="visible")
    seen = _routes(page, lambda n, route: False)
    page.click("#resume-pending")
    sha, data = receipt_of(page, live_server)
    assert seen["patch"] == [PIECE], seen  # only what the platform lacked
    bid = open_in_python(data, registered["bidder2"], tender["opening"])
    assert bid["price"] == expected["price"] and bid["documents"] == expected["documents"]
    assert page.evaluate("() => sessionStorage.length") == 0
    context.close()


def test_the_resume_button_goes_on_after_the_network_returns(browser, live_server, tender, registered,
                                                             tmp_path) -> None:
    context = browser.new_context(locale="zh-CN", base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    sign_in(page, live_server, "bidder2")
    key_file = tmp_path / "key.json"
    key_file.write_text(registered["bidder2"])
    fill_bid(page, tender, [("业绩证明.pdf", os.urandom(3 * 1024 * 1024))], key_file)
    down = {"on": True}
    seen = _routes(page, lambda n, route: n >= 2 and down["on"]
                   and (route.abort("internetdisconnected") or True))
    page.click("#seal-submit")
    page.wait_for_selector("#resume-box", state="visible")
    down["on"] = False
    page.click("#resume")
    receipt_of(page, live_server)
    assert seen["patch"][-1] == PIECE


def test_a_wrong_password_or_another_key_is_refused_before_anything_is_sent(browser, live_server, tender,
                                                                              registered, tmp_path) -> None:
    context = browser.new_context(locale="zh-CN", base_url=live_server.url)
    page = context.new_page()
    sign_in(page, live_server, "bidder2")
    key_file = tmp_path / "key.json"
    key_file.write_text(registered["bidder2"])
    fill_bid(page, tender, [("a.txt", b"x")], key_file)
    seen = _routes(page, lambda n, route: False)
    page.fill("#key-password", "not the password")
    page.click("#seal-submit")
    page.wait_for_selector("#status.error")
    assert "密码" in page.inner_text("#status")

    # A key file that is not the company's registered key.
    other = keyfile.write_key_file(keyfile.generate_bidder_keys(BIDDER), BIDDER, PASSWORD, iterations=1000)
    key_file.write_text(json.dumps(other))
    page.set_input_files("#key-file", str(key_file))
    page.fill("#key-password", PASSWORD)
    page.click("#seal-submit")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('已登记的密钥')")
    assert seen == {"patch": [], "head": []}
    context.close()


def test_the_api_token_is_for_signed_in_same_origin_pages_only(browser, live_server) -> None:
    context = browser.new_context(locale="zh-CN", base_url=live_server.url)
    page = context.new_page()
    anonymous = page.request.get("/session/api-token", max_redirects=0)
    assert anonymous.status in (302, 401)
    sign_in(page, live_server, "bidder3")
    response = page.request.get("/session/api-token")
    assert response.status == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["expires_in"] > 0
    cross = page.request.get("/session/api-token", headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status == 403
    # The token it gives works on the API, which takes no cookies.
    token = response.json()["access_token"]
    assert page.request.get("/api/bidder-keys", headers={"Authorization": f"Bearer {token}"}).status == 200
    context.close()
