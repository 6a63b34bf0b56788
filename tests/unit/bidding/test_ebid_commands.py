"""`ebid` for sealed bids, run in-process: keygen, seal, open-key, open, the opening-key ceremony and the
three API calls (against a stand-in platform on a local port)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bidding import ebid_commands, envelope, keyfile
from bidding.keyfile import read_key_file, recover_opening_key
from signing import client
from signing.client import main

ROOT = Path(__file__).resolve().parents[3]
BIDDER = "91350100MA000001XY"
PASSWORD = "correct horse battery"
BID = {"price": {"amount": "11850000.00", "currency": "CNY"}, "duration_days": 540,
       "criteria": {"施工组织设计": "见 documents/technical.pdf"}}


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, list[str], str]:
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


@pytest.fixture(autouse=True)
def fast_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key files with few PBKDF2 iterations, and the password from the environment."""
    monkeypatch.setattr(keyfile, "ITERATIONS", 1000)
    monkeypatch.setenv("EBID_PASSWORD", PASSWORD)


@pytest.fixture
def work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A bidder's folder: key file, bid.json, a document, and a tender's opening key (3 of 5 shares)."""
    assert run(capsys, "keygen", "--bidder", BIDDER, "--out", tmp_path / "key.json")[0] == 0
    assert run(capsys, "opening-key", "--tender", 7, "--threshold", 3, "--shares", 5, "--out",
               tmp_path / "ceremony")[0] == 0
    (tmp_path / "bid.json").write_text(json.dumps(BID, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "technical.pdf").write_bytes(b"%PDF-1.7 technical proposal\n" * 5000)
    return tmp_path


def seal_args(work: Path, *extra: object, out: str = "envelope.bin") -> list[object]:
    return ["seal", "--key", work / "key.json", "--tender", 7, "--lot", 1, "--opening-key",
            work / "ceremony" / "opening-key.json", "--bid", work / "bid.json", "--document",
            work / "technical.pdf", "--out", work / out, *extra]


def test_the_sealed_bid_commands_are_registered() -> None:
    client.build_parser()
    assert {"keygen", "seal", "open-key", "open", "opening-key", "submit", "register-opening-key",
            "register-keys"} <= set(client.COMMANDS)
    assert "bidding.ebid_commands" in client.COMMAND_MODULES


def test_ebid_with_these_commands_still_imports_neither_flask_nor_the_application() -> None:
    code = (
        "import sys, signing.client\n"
        "signing.client.build_parser()\n"
        "assert 'bidding.ebid_commands' in sys.modules\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'flask', 'flask_sqlalchemy', 'sqlalchemy', 'app', 'guarantees'} or m in "
        "{'bidding.models', 'bidding.services', 'bidding.api'})\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          check=False)
    assert done.returncode == 0, done.stderr


# --- keygen ----------------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "keygen", "--bidder", BIDDER.lower(), "--out", tmp_path / "key.json")
    assert status == 0, out
    data = json.loads((tmp_path / "key.json").read_text())
    keys = read_key_file(data, PASSWORD)
    assert data["bidder"] == BIDDER and keys.bidder == BIDDER
    assert (tmp_path / "key.json").stat().st_mode & 0o777 == 0o600
    assert out[0] == f"Bidder: {BIDDER}"
    public = base64.b64encode(keys.x25519_public).decode()
    assert out[1] == f"Encryption key (X25519): {public} kid {keys.x25519_kid}"
    assert out[-1].startswith("OK: key file written to")
    status, out, _ = run(capsys, "keygen", "--bidder", BIDDER, "--out", tmp_path / "key.json")
    assert status == 2 and "already exists" in out[-1]


def test_keygen_reads_a_password_file_and_refuses_weak_input(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("EBID_PASSWORD")
    (tmp_path / "pw").write_text("from a file\nignored\n", encoding="utf-8")
    status, _, _ = run(capsys, "keygen", "--bidder", BIDDER, "--out", tmp_path / "a.json", "--password-file",
                       tmp_path / "pw")
    assert status == 0
    read_key_file(json.loads((tmp_path / "a.json").read_text()), "from a file")
    (tmp_path / "short").write_text("short\n", encoding="utf-8")
    cases = [
        (["--bidder", "ACME", "--out", tmp_path / "b.json"], "is not a unified social credit code"),
        (["--bidder", BIDDER, "--out", tmp_path / "b.json", "--password-file", tmp_path / "short"],
         "at least 8 characters"),
        (["--bidder", BIDDER, "--out", tmp_path / "b.json", "--password-file", tmp_path / "missing"],
         "cannot read the password file"),
        (["--bidder", BIDDER, "--out", tmp_path / "b.json"], "no terminal to ask for the password"),
    ]
    for argv, message in cases:
        status, out, _ = run(capsys, "keygen", *argv)
        assert status == 2 and message in out[-1], out
    assert not (tmp_path / "b.json").exists()


def test_keygen_asks_for_the_password_twice_on_a_terminal(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("EBID_PASSWORD")
    monkeypatch.setattr(sys, "stdin", type("Tty", (io.StringIO,), {"isatty": lambda self: True})())
    answers = iter(["typed password", "typed passwrod"])
    monkeypatch.setattr(ebid_commands.getpass, "getpass", lambda prompt: next(answers))
    status, out, _ = run(capsys, "keygen", "--bidder", BIDDER, "--out", tmp_path / "k.json")
    assert status == 2 and out[-1] == "FAILED: the two passwords differ"
    answers = iter(["typed password", "typed password"])
    assert run(capsys, "keygen", "--bidder", BIDDER, "--out", tmp_path / "k.json")[0] == 0
    read_key_file(json.loads((tmp_path / "k.json").read_text()), "typed password")


# --- seal, open-key, open --------------------------------------------------------------------------------


def test_seal_then_open_with_the_bidders_key(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, *seal_args(work))
    assert status == 0, out
    data = (work / "envelope.bin").read_bytes()
    info = envelope.read_envelope_info(io.BytesIO(data))
    assert out[-1] == (f"OK: sealed {work / 'envelope.bin'} for tender 7 lot 1 and re-opened it with the "
                       "bidder's key (commitment and bid.json match); `ebid submit` gives its SHA-256")
    assert info.version == 2 and data[:8] == b"EBIDENV2"  # ebid seal writes version 2
    assert f"Commitment: {info.trailer.commitment}" in out
    opening = json.loads((work / "ceremony" / "opening-key.json").read_text())
    assert info.header.kid == opening["kid"]
    assert not (work / "envelope.bin.partial").exists()

    status, out, _ = run(capsys, "open-key", "--key", work / "key.json", "--envelope", work / "envelope.bin")
    assert status == 0, out
    data_key = base64.b64decode(next(line for line in out if line.startswith("Data key: "))[10:])
    opened = envelope.open_envelope(io.BytesIO(data), data_key, io.BytesIO())
    assert opened.bid is not None and opened.bid["price"] == BID["price"]
    assert opened.bid["tender"] == 7 and opened.bid["bidder"] == BIDDER

    status, out, _ = run(capsys, "open", "--key", work / "key.json", "--envelope", work / "envelope.bin",
                         "--out", work / "opened")
    assert status == 0, out
    assert json.loads((work / "opened" / "bid.json").read_text()) == opened.bid
    written = (work / "opened" / "documents" / "technical.pdf").read_bytes()
    assert written == (work / "technical.pdf").read_bytes()
    assert out[-1].startswith("OK: opened") and "1 document written" in out[-1]


def test_the_custodians_shares_open_what_ebid_sealed(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *seal_args(work))[0] == 0
    opening = json.loads((work / "ceremony" / "opening-key.json").read_text())
    shares = [json.loads((work / "ceremony" / f"share-{i}.json").read_text()) for i in (2, 4, 5)]
    key = recover_opening_key(shares, expected_kid=opening["kid"], tender=7,
                              fingerprints=opening["fingerprints"])
    data = (work / "envelope.bin").read_bytes()
    header = envelope.read_header(io.BytesIO(data))
    opened = envelope.open_envelope(io.BytesIO(data), envelope.unwrap(header, key, "opening"), io.BytesIO())
    assert opened.bid is not None and opened.bid["criteria"] == BID["criteria"]
    words = (work / "ceremony" / "share-1.txt").read_text().strip()
    assert words == json.loads((work / "ceremony" / "share-1.json").read_text())["mnemonic"]


def test_seal_takes_the_opening_key_as_base64_or_the_apis_json(work: Path, capsys) -> None:
    opening = json.loads((work / "ceremony" / "opening-key.json").read_text())
    args = seal_args(work, out="a.bin")
    args[args.index("--opening-key") + 1] = opening["public_key"]
    assert run(capsys, *args)[0] == 0
    (work / "api.json").write_text(json.dumps({"kid": opening["kid"], "public_key": opening["public_key"],
                                               "threshold": 3, "count": 5}))
    args[args.index("--opening-key") + 1] = work / "api.json"
    args[args.index("--out") + 1] = work / "b.bin"
    assert run(capsys, *args)[0] == 0


def test_seal_refuses_bad_input_and_leaves_nothing(work: Path, capsys, monkeypatch) -> None:
    (work / "bad-bid.json").write_text(json.dumps({**BID, "price": {"amount": "1.005", "currency": "CNY"}}))
    (work / "other-tender.json").write_text(json.dumps({**BID, "tender": 8}))
    (work / "wrong-kid.json").write_text(json.dumps({"public_key": base64.b64encode(bytes(32)).decode(),
                                                     "kid": "0" * 64}))

    def with_option(option: str, value: object) -> list[object]:
        args = seal_args(work)
        args[args.index(option) + 1] = value
        return args

    cases = [
        (with_option("--bid", work / "bad-bid.json"), "at most two places"),
        (with_option("--bid", work / "other-tender.json"), "names tender 8 but this envelope is for 7"),
        (with_option("--tender", 8), "is the opening key of tender 7, not tender 8"),
        (with_option("--opening-key", "not base64!"), "neither a file nor a base64 public key"),
        (with_option("--opening-key", work / "wrong-kid.json"), "does not match its public key"),
        (with_option("--document", work / "missing.pdf"), "is not a file"),
        (with_option("--lot", 0), "lot must be a positive integer"),
    ]
    for argv, message in cases:
        status, out, _ = run(capsys, *argv)
        assert status == 2 and message in out[-1], (argv, out)
    monkeypatch.setenv("EBID_PASSWORD", "not the password")
    status, out, _ = run(capsys, *seal_args(work))
    assert status == 2 and "wrong password or damaged key file" in out[-1]
    assert sorted(p.name for p in work.iterdir() if p.name.startswith("envelope")) == []


def test_seal_deletes_its_output_when_the_envelope_does_not_reopen(work: Path, capsys, monkeypatch) -> None:
    real_seal = envelope.seal

    def corrupting_seal(package, out, **kwargs):
        info = real_seal(package, out, **kwargs)
        out.seek(-(len(info.trailer.record) + 10), os.SEEK_END)  # a byte of the last chunk, on disk
        out.write(b"\x00")
        return info

    monkeypatch.setattr(envelope, "seal", corrupting_seal)
    status, out, _ = run(capsys, *seal_args(work))
    assert status == 1
    assert out[-1].startswith("FAILED: the envelope just sealed does not re-open: ")
    assert not (work / "envelope.bin").exists() and not (work / "envelope.bin.partial").exists()


def test_seal_refuses_to_overwrite(work: Path, capsys) -> None:
    (work / "envelope.bin").write_bytes(b"keep me")
    status, out, _ = run(capsys, *seal_args(work))
    assert status == 2 and "already exists" in out[-1]
    assert (work / "envelope.bin").read_bytes() == b"keep me"


def test_open_refuses_someone_elses_or_a_damaged_envelope(work: Path, capsys) -> None:
    assert run(capsys, *seal_args(work))[0] == 0
    assert run(capsys, "keygen", "--bidder", "91110000600037341L", "--out", work / "other.json")[0] == 0
    status, out, _ = run(capsys, "open-key", "--key", work / "other.json", "--envelope",
                         work / "envelope.bin")
    assert status == 1 and "header names bidder 91350100MA000001XY" in out[-1]
    data = bytearray((work / "envelope.bin").read_bytes())
    data[-200] ^= 1
    (work / "damaged.bin").write_bytes(bytes(data))
    status, out, _ = run(capsys, "open", "--key", work / "key.json", "--envelope", work / "damaged.bin",
                         "--out", work / "out")
    assert status == 1 and out[-1].startswith("FAILED: ")
    status, out, _ = run(capsys, "open-key", "--key", work / "key.json", "--envelope", work / "nowhere.bin")
    assert status == 2 and "cannot read" in out[-1]


# --- the opening-key ceremony ----------------------------------------------------------------------------


def test_opening_key_writes_shares_and_the_registration_file(tmp_path: Path, capsys) -> None:
    names = ["招标办", "监督办", "公证处"]
    status, out, _ = run(capsys, "opening-key", "--tender", 12, "--threshold", 2, "--shares", 3, "--out",
                         tmp_path / "c", *[x for n in names for x in ("--custodian", n)])
    assert status == 0, out
    summary = json.loads(out[0])
    assert summary == json.loads((tmp_path / "c" / "opening-key.json").read_text())
    assert set(summary) == {"tender", "public_key", "kid", "threshold", "count", "fingerprints", "custodians"}
    assert summary["custodians"] == names and summary["tender"] == 12
    assert summary["kid"] == envelope.kid_of(base64.b64decode(summary["public_key"]))
    for i in (1, 2, 3):
        share = json.loads((tmp_path / "c" / f"share-{i}.json").read_text())
        assert share["index"] == i and share["fingerprint"] == summary["fingerprints"][i - 1]
        assert (tmp_path / "c" / f"share-{i}.txt").stat().st_mode & 0o777 == 0o600
    assert out[-1].startswith(f"OK: opening key {summary['kid']} made and split 2 of 3")
    status, out, _ = run(capsys, "opening-key", "--tender", 12, "--threshold", 2, "--shares", 3, "--out",
                         tmp_path / "c")
    assert status == 2 and "already holds opening-key.json" in out[-1]
    for argv, message in (
            (["--threshold", 2, "--shares", 3, "--custodian", "one"], "one --custodian per share"),
            (["--threshold", 1, "--shares", 3], "threshold must be from 2"),
            (["--threshold", 2, "--shares", 20], "number of shares must be from 2 to 16")):
        status, out, _ = run(capsys, "opening-key", "--tender", 12, "--out", tmp_path / "d", *argv)
        assert status == 2 and message in out[-1], out


# --- the platform API ------------------------------------------------------------------------------------


class Platform:
    """A stand-in platform: records each request and answers from `answers[(method, path)]`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: dict[tuple[str, str], tuple[int, Any]] = {}
        self.url = ""


@pytest.fixture
def platform() -> Iterator[Platform]:
    stub = Platform()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            stub.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                  "body": body})
            missing = (404, {"error": {"message": "no route"}})
            status, answer = stub.answers.get((self.command, self.path), missing)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_PUT = _handle  # noqa: N815 - the names http.server calls

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield stub
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def api(capsys: pytest.CaptureFixture[str], platform: Platform, command: str,
        *argv: object) -> tuple[int, list[str], str]:
    return run(capsys, command, "--server", platform.url, "--token", "tok", *argv)


def test_register_keys_sends_only_the_public_halves(work: Path, capsys, platform: Platform) -> None:
    platform.answers[("POST", "/api/bidder-keys")] = (201, {"x25519_kid": "x-kid", "ed25519_kid": "e-kid"})
    status, out, _ = run(capsys, "register-keys", "--server", platform.url + "/", "--token", "tok",
                         work / "key.json")  # a trailing slash on the URL is fine
    assert status == 0, out
    [request] = platform.requests
    assert request["headers"]["Authorization"] == "Bearer tok"
    key_file = json.loads((work / "key.json").read_text())
    assert json.loads(request["body"]) == {"x25519_public": key_file["x25519_public"],
                                           "ed25519_public": key_file["ed25519_public"]}
    assert "Encryption key: x-kid" in out and out[-1].startswith("OK: public keys registered")


def test_register_opening_key_posts_the_ceremonys_file(work: Path, capsys, platform: Platform) -> None:
    summary = json.loads((work / "ceremony" / "opening-key.json").read_text())
    platform.answers[("POST", "/api/tenders/7/opening-key")] = (201, {**summary, "registered_at": "now"})
    status, out, _ = api(capsys, platform, "register-opening-key", "--tender", 7,
                         work / "ceremony" / "opening-key.json")
    assert status == 0, out
    body = json.loads(platform.requests[0]["body"])
    fields = ("public_key", "kid", "threshold", "count", "fingerprints", "custodians")
    assert body == {k: summary[k] for k in fields}
    assert out[-1] == "OK: opening key registered for tender 7"
    status, out, _ = api(capsys, platform, "register-opening-key", "--tender", 8,
                         work / "ceremony" / "opening-key.json")
    assert status == 2 and "not tender 8" in out[-1] and len(platform.requests) == 1


def test_submit_streams_the_envelope_and_keeps_the_receipt(work: Path, capsys, platform: Platform) -> None:
    assert run(capsys, *seal_args(work))[0] == 0
    data = (work / "envelope.bin").read_bytes()
    platform.answers[("PUT", "/api/tenders/7/lots/1/envelope")] = (
        201, {"bid": 3, "receipt": "eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln",
              "receipt_pdf": "/bids/3/receipt.pdf"})
    status, out, _ = api(capsys, platform, "submit", "--tender", 7, "--lot", 1, work / "envelope.bin")
    assert status == 0, out
    [request] = platform.requests
    assert request["body"] == data
    assert request["headers"]["Content-Type"] == "application/octet-stream"
    assert request["headers"]["Content-Length"] == str(len(data))
    assert "Transfer-Encoding" not in request["headers"]
    assert (work / "envelope.bin.receipt.jws").read_text() == "eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln\n"
    assert f"Receipt PDF: {platform.url}/bids/3/receipt.pdf" in out
    sha256 = envelope.read_envelope_info(io.BytesIO(data)).sha256
    assert out[-1].startswith(f"OK: envelope {sha256} submitted")


def test_submit_fails_when_the_platform_stored_other_bytes(work: Path, capsys, platform: Platform) -> None:
    """The receipt names the SHA-256 of what the platform stored: it must be this file's."""
    assert run(capsys, *seal_args(work))[0] == 0
    sha256 = hashlib.sha256((work / "envelope.bin").read_bytes()).hexdigest()
    for stored, status in ((sha256, 0), ("0" * 64, 1)):
        platform.answers[("PUT", "/api/tenders/7/lots/1/envelope")] = (
            201, {"bid": {"id": 3, "envelope_sha256": stored},
                  "receipt": "eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln"})
        code, out, _ = api(capsys, platform, "submit", "--tender", 7, "--lot", 1, work / "envelope.bin")
        assert code == status, out
    assert out[-1].startswith(f"FAILED: the platform stored an envelope whose SHA-256 is {'0' * 64}")


def test_submit_reports_refusals_and_checks_before_sending(work: Path, capsys, platform: Platform) -> None:
    assert run(capsys, *seal_args(work))[0] == 0
    platform.answers[("PUT", "/api/tenders/7/lots/1/envelope")] = (
        409, {"error": {"code": "late", "message": "the deadline passed 0.001 s ago", "field": None}})
    status, out, _ = api(capsys, platform, "submit", "--tender", 7, "--lot", 1, work / "envelope.bin")
    assert status == 1
    assert out[-1] == "FAILED: the platform refused (HTTP 409): the deadline passed 0.001 s ago"
    assert not (work / "envelope.bin.receipt.jws").exists()
    status, out, _ = api(capsys, platform, "submit", "--tender", 7, "--lot", 2, work / "envelope.bin")
    assert status == 2 and "header names lot 1" in out[-1]
    (work / "junk.bin").write_bytes(b"junk")
    status, out, _ = api(capsys, platform, "submit", "--tender", 7, "--lot", 1, work / "junk.bin")
    assert status == 2 and "bad magic" in out[-1]
    assert len(platform.requests) == 1
    status, out, _ = run(capsys, "submit", "--server", "http://127.0.0.1:9", "--token", "tok", "--tender", 7,
                         "--lot", 1, work / "envelope.bin")
    assert status == 2 and "cannot reach" in out[-1]


def test_an_opening_key_from_a_file_must_be_an_x25519_key(tmp_path: Path) -> None:
    (tmp_path / "k.txt").write_text(base64.b64encode(bytes(31)).decode())
    with pytest.raises(client.UsageError, match="is 31 bytes"):
        ebid_commands._opening_public(str(tmp_path / "k.txt"), 7)
    raw = envelope.raw_public(X25519PrivateKey.generate())
    (tmp_path / "k.txt").write_text(base64.b64encode(raw).decode() + "\n")
    assert ebid_commands._opening_public(str(tmp_path / "k.txt"), 7) == raw
