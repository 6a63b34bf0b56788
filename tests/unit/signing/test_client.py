"""`ebid`, run in-process for exit codes and its final OK/FAILED line, against files and a stand-in server."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verify_fixtures import ORIGIN, Log

from signing import client
from signing.ca import CertificateAuthority, certificate_pem
from signing.client import main
from signing.pdf import render_document, sign_pdf
from signing.timestamps import LocalTimestamper

ROOT = Path(__file__).resolve().parents[3]
EBID = ROOT / ".venv" / "bin" / "ebid"


@pytest.fixture(scope="module")
def log() -> Log:
    return Log(13)


@pytest.fixture
def files(log: Log, tmp_path: Path) -> dict[str, Path]:
    """The artefacts an auditor would have saved: keys, a receipt, an export and checkpoints."""
    paths = {
        "jwks": json.dumps(log.jwks),
        "vkey": log.vkey + "\n",
        "key_json": json.dumps({"origin": ORIGIN, "vkey": log.vkey}),
        "receipt": log.receipt(4) + "\n",
        "export": "".join(log.export_lines()),
        "cp5": log.checkpoint(5),
        "cp13": log.checkpoint(13),
    }
    for name, text in paths.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return {name: tmp_path / name for name in paths}


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, list[str], str]:
    """Exit status, stdout lines and stderr of `ebid argv...`."""
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


# --- a stand-in platform --------------------------------------------------------------------------------

Route = Callable[[dict[str, list[str]]], tuple[int, str, bytes]]


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, Route]]]:
    """An HTTP server on a free local port answering from `routes[path](query)`."""
    routes: dict[str, Route] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            url = urlsplit(self.path)
            route = routes.get(url.path)
            status, kind, body = route(parse_qs(url.query)) if route else (404, "text/plain", b"not found")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", routes
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _json(value: Any) -> Route:
    return lambda _query: (200, "application/json", json.dumps(value).encode())


def _text(value: str | bytes, kind: str = "text/plain") -> Route:
    body = value.encode() if isinstance(value, str) else value
    return lambda _query: (200, kind, body)


def _platform(log: Log, routes: dict[str, Route], *, latest: int | None = None) -> None:
    latest = log.size if latest is None else latest
    routes["/.well-known/jwks.json"] = _json(log.jwks)
    routes["/api/log/key"] = _json({"origin": ORIGIN, "vkey": log.vkey})
    routes["/api/log/checkpoint"] = _text(log.checkpoint(latest))

    def consistency(query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        first, second = int(query["first"][0]), int(query["second"][0])
        body = {"first": first, "second": second, "first_root": "", "second_root": "",
                "proof": log.consistency(first, second)}
        return 200, "application/json", json.dumps(body).encode()

    routes["/api/log/consistency"] = consistency


# --- the command itself ---------------------------------------------------------------------------------


def test_installed_ebid_prints_help() -> None:
    done = subprocess.run([str(EBID), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    for name in ("verify-receipt", "verify-pdf", "verify-log"):
        assert name in done.stdout


def test_client_imports_neither_flask_nor_the_application() -> None:
    code = (
        "import sys, signing.client, signing.verify, signing.pdf\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'flask', 'flask_sqlalchemy', 'sqlalchemy', 'app', 'bidding', 'guarantees'})\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr


def test_sub_commands_are_a_registry() -> None:
    assert {"verify-receipt", "verify-pdf", "verify-log"} <= set(client.COMMANDS)
    with pytest.raises(ValueError, match="registered twice"):
        client.command("verify-log", "again", lambda _parser: None)(lambda _args: 0)


def test_unknown_sub_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# --- verify-receipt -------------------------------------------------------------------------------------


def test_verify_receipt_ok(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    status, out, _err = run(capsys, "verify-receipt", files["receipt"], "--jwks", files["jwks"],
                            "--log-key", files["vkey"])
    assert status == 0
    assert out[0] == f"Signed by: {ORIGIN} with key receipt-key-1"
    assert "Event: bid.submitted" in out
    assert 'Subject: {"bid": 4, "tender": 7}' in out
    assert "Actor: bidder4 (bidder, 91350100M000100Y43)" in out
    assert "Log index: 4" in out and "Tree size: 13" in out
    assert out[-1] == (f"OK: receipt verified: entry 4 (bid.submitted) is in the log of {ORIGIN} "
                       "at tree size 13")


def test_verify_receipt_takes_the_log_key_as_api_json(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    status, out, _err = run(capsys, "verify-receipt", files["receipt"], "--jwks", files["jwks"],
                            "--log-key", files["key_json"])
    assert status == 0 and out[-1].startswith("OK: ")


def test_verify_receipt_from_stdin(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(files["receipt"].read_bytes())))
    status, out, _err = run(capsys, "verify-receipt", "-", "--jwks", files["jwks"],
                            "--log-key", files["vkey"])
    assert status == 0 and out[-1].startswith("OK: ")


def test_verify_receipt_by_unknown_key_fails(
    capsys: pytest.CaptureFixture[str], log: Log, files: dict[str, Path]
) -> None:
    token = log.sign_receipt(log.receipt_payload(4), key=ec.generate_private_key(ec.SECP256R1()), kid="x")
    files["receipt"].write_text(token)
    status, out, _err = run(capsys, "verify-receipt", files["receipt"], "--jwks", files["jwks"],
                            "--log-key", files["vkey"])
    assert status == 1
    assert out == ["FAILED: receipt signature refused: signed by an unknown key 'x'"]


def test_verify_receipt_with_truncated_proof_fails(
    capsys: pytest.CaptureFixture[str], log: Log, files: dict[str, Path]
) -> None:
    payload = log.receipt_payload(4)
    payload["log"]["inclusion_proof"].pop()
    files["receipt"].write_text(log.sign_receipt(payload))
    status, out, _err = run(capsys, "verify-receipt", files["receipt"], "--jwks", files["jwks"],
                            "--log-key", files["vkey"])
    assert status == 1
    assert out[-1].startswith("FAILED: inclusion proof for entry 4 refused: inclusion proof is truncated")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--jwks", "JWKS"], "FAILED: give --server URL, or both --jwks FILE and --log-key FILE"),
        (["--server", "http://x", "--jwks", "JWKS"], "FAILED: give either --server or --jwks and --log-key"),
        (["--jwks", "missing.json", "--log-key", "VKEY"], "FAILED: cannot read missing.json: "),
    ],
)
def test_verify_receipt_usage_errors(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], extra: list[str], message: str
) -> None:
    extra = [str(files["jwks"]) if a == "JWKS" else str(files["vkey"]) if a == "VKEY" else a for a in extra]
    status, out, _err = run(capsys, "verify-receipt", files["receipt"], *extra)
    assert status == 2
    assert out[-1].startswith(message)


def test_verify_receipt_against_a_server(
    capsys: pytest.CaptureFixture[str], log: Log, files: dict[str, Path], server: tuple[str, dict[str, Route]]
) -> None:
    url, routes = server
    _platform(log, routes)
    status, out, _err = run(capsys, "verify-receipt", files["receipt"], "--server", url)
    assert status == 0 and out[-1].startswith("OK: receipt verified")


def test_verify_receipt_when_the_server_errs(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], server: tuple[str, dict[str, Route]]
) -> None:
    url, _routes = server
    status, out, _err = run(capsys, "verify-receipt", files["receipt"], "--server", url)
    assert status == 2
    assert out == [f"FAILED: {url}.well-known/jwks.json answered HTTP 404"]


def test_verify_receipt_when_the_server_is_unreachable(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], server: tuple[str, dict[str, Route]]
) -> None:
    url, _routes = server
    dead = "http://127.0.0.1:1"  # nothing listens on port 1
    status, out, _err = run(capsys, "verify-receipt", files["receipt"], "--server", dead)
    assert status == 2
    assert out[-1].startswith(f"FAILED: cannot reach {dead}/.well-known/jwks.json")


# --- verify-log -----------------------------------------------------------------------------------------


def test_verify_log_ok(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    status, out, err = run(capsys, "verify-log", files["export"], "--log-key", files["vkey"])
    assert status == 0
    assert out[0] == f"Log: {ORIGIN}"
    assert "Entries: 13, indexes 0 to 12, every line canonical" in out
    assert out[-1] == f"OK: export of 13 entries verified against the checkpoint of {ORIGIN}"
    assert err == ""  # the progress bar stays quiet when stderr is not a terminal


def test_verify_log_with_key_on_the_command_line(
    capsys: pytest.CaptureFixture[str], log: Log, files: dict[str, Path]
) -> None:
    status, out, _err = run(capsys, "verify-log", files["export"], "--key", log.vkey)
    assert status == 0 and out[-1].startswith("OK: ")


def test_verify_log_with_previous_checkpoint(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    status, out, _err = run(capsys, "verify-log", files["export"], "--log-key", files["vkey"],
                            "--previous", files["cp5"])
    assert status == 0
    assert "Extends the previous checkpoint at size 5" in out


def test_verify_log_not_extending_previous_fails(
    capsys: pytest.CaptureFixture[str], log: Log, files: dict[str, Path]
) -> None:
    forked = Log(5, log_key=log.log_key)
    forked.leaves[1] = forked.leaves[0]
    files["cp5"].write_text(forked.checkpoint(5))
    status, out, _err = run(capsys, "verify-log", files["export"], "--log-key", files["vkey"],
                            "--previous", files["cp5"])
    assert status == 1
    assert out[-1].startswith("FAILED: the export does not extend the previous checkpoint")


def test_verify_log_with_a_changed_entry_fails(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    text = files["export"].read_text().replace('"amount":"1010.00"', '"amount":"1011.00"')
    files["export"].write_text(text)
    status, out, _err = run(capsys, "verify-log", files["export"], "--log-key", files["vkey"])
    assert status == 1
    assert out == [out[-1]] and out[-1].startswith("FAILED: root mismatch: the 13 entries of the export")


def test_verify_log_from_stdin_with_every_published_key(
    capsys: pytest.CaptureFixture[str], log: Log, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    retired = Log(0, log_key=Ed25519PrivateKey.generate()).vkey
    published = {"origin": ORIGIN, "vkey": retired, "vkeys": [retired, log.vkey]}
    files["key_json"].write_text(json.dumps(published))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(files["export"].read_bytes())))
    status, out, _err = run(capsys, "verify-log", "-", "--log-key", files["key_json"])
    assert status == 0 and out[-1].startswith("OK: export of 13 entries")


def test_verify_log_usage_errors(capsys: pytest.CaptureFixture[str], files: dict[str, Path]) -> None:
    status, out, _err = run(capsys, "verify-log", files["export"])
    assert (status, out) == (2, ["FAILED: give exactly one of --server URL, --log-key FILE or --key VKEY"])
    status, out, _err = run(capsys, "verify-log", files["export"], "--log-key", files["vkey"],
                            "--consistency-from", files["cp5"])
    assert status == 2 and out[-1].startswith("FAILED: --consistency-from needs --server")
    missing = files["export"].with_name("nope")
    status, out, _err = run(capsys, "verify-log", missing, "--log-key", files["vkey"])
    assert status == 2 and out[-1].startswith("FAILED: cannot read ")


def test_verify_log_consistency_with_a_server(
    capsys: pytest.CaptureFixture[str], log: Log, files: dict[str, Path], server: tuple[str, dict[str, Route]]
) -> None:
    url, routes = server
    _platform(log, routes)
    status, out, _err = run(capsys, "verify-log", files["export"], "--server", url,
                            "--consistency-from", files["cp5"])
    assert status == 0
    assert "Consistency: the server's latest checkpoint (size 13) extends yours (size 5)" in out
    assert out[-1].startswith("OK: export of 13 entries")


def test_verify_log_consistency_refused_when_the_server_forked(
    capsys: pytest.CaptureFixture[str], log: Log, files: dict[str, Path], server: tuple[str, dict[str, Route]]
) -> None:
    url, routes = server
    _platform(log, routes)
    forked = Log(5, log_key=log.log_key)
    forked.leaves[1] = forked.leaves[0]
    files["cp5"].write_text(forked.checkpoint(5))
    status, out, _err = run(capsys, "verify-log", files["export"], "--server", url,
                            "--consistency-from", files["cp5"])
    assert status == 1
    assert out[-1].startswith("FAILED: the log at 13 does not provably extend the checkpoint at 5")


def test_verify_log_consistency_refused_when_the_server_shrank(
    capsys: pytest.CaptureFixture[str], log: Log, files: dict[str, Path], server: tuple[str, dict[str, Route]]
) -> None:
    url, routes = server
    _platform(log, routes, latest=3)
    status, out, _err = run(capsys, "verify-log", files["export"], "--server", url,
                            "--consistency-from", files["cp5"])
    assert status == 1
    assert out[-1] == ("FAILED: the new checkpoint (3 entries) is smaller than the old one (5): "
                       "the log does not extend the previous checkpoint")


def test_verify_log_consistency_refused_when_the_server_answers_other_sizes(
    capsys: pytest.CaptureFixture[str], log: Log, files: dict[str, Path], server: tuple[str, dict[str, Route]]
) -> None:
    url, routes = server
    _platform(log, routes)
    routes["/api/log/consistency"] = _json({"first": 4, "second": 13, "proof": log.consistency(4, 13)})
    status, out, _err = run(capsys, "verify-log", files["export"], "--server", url,
                            "--consistency-from", files["cp5"])
    assert status == 1
    assert out[-1] == "FAILED: the server answered a consistency proof for sizes 4 to 13, not 5 to 13"


def test_progress_bar_draws_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = client._Bar(stream)
    bar(0, 2048)
    bar(1024, 2048)
    bar(2048, 2048)
    bar.close()
    assert "verifying:" in stream.getvalue() and "/2.05k" in stream.getvalue()


# --- verify-pdf -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki() -> tuple[CertificateAuthority, bytes]:
    now = datetime.now(UTC)
    ca = CertificateAuthority.create("ebid 测试根 CA", now=now)
    tsa_key, tsa_cert = ca.issue("ebid TSA", kind="timestamping", now=now)
    key, cert = ca.issue("李四", organisation="评标委员会", kind="document_signer", now=now)
    assert tsa_key is not None and key is not None
    pdf = sign_pdf(
        render_document("评标报告", ["评标结果如下。"], None, lang="zh"),
        signer_key=key, signer_cert=cert, ca_cert=ca.certificate,
        timestamper=LocalTimestamper(tsa_cert, tsa_key, chain=[ca.certificate]),
        field_name="expert1", signer_label="李四 评标委员会", certify=True, reason="评标报告签字",
    )
    return ca, pdf


@pytest.fixture
def pdf_files(pki: tuple[CertificateAuthority, bytes], tmp_path: Path) -> tuple[Path, Path]:
    ca, pdf = pki
    (tmp_path / "ca.pem").write_bytes(certificate_pem(ca.certificate))
    (tmp_path / "signed.pdf").write_bytes(pdf)
    return tmp_path / "signed.pdf", tmp_path / "ca.pem"


def test_verify_pdf_ok(capsys: pytest.CaptureFixture[str], pdf_files: tuple[Path, Path]) -> None:
    pdf, ca = pdf_files
    status, out, _err = run(capsys, "verify-pdf", pdf, "--ca", ca)
    assert status == 0
    assert out[0] == "Signature 1: field expert1 (certification)"
    assert out[1] == "  Signer: 李四 (评标委员会)"
    assert out[2].startswith("  Time: ") and out[2].endswith(" UTC (from timestamp)")
    assert "  Intact: yes; valid: yes; trusted: yes; timestamp valid: yes" in out
    assert "  Coverage: entire file" in out
    assert out[-1] == "OK: 1 signature verified; the document has not changed since the last one"


def test_verify_pdf_appended_bytes_fail(
    capsys: pytest.CaptureFixture[str], pdf_files: tuple[Path, Path]
) -> None:
    pdf, ca = pdf_files
    pdf.write_bytes(pdf.read_bytes() + b"%%EOF\n")
    status, out, _err = run(capsys, "verify-pdf", pdf, "--ca", ca)
    assert status == 1
    assert out[0] == "Signature 1: field expert1 (certification)"
    assert out[-1].startswith("FAILED: the document was modified after signing: 6 bytes after the end")


def test_verify_pdf_flipped_byte_fails(
    capsys: pytest.CaptureFixture[str], pdf_files: tuple[Path, Path]
) -> None:
    pdf, ca = pdf_files
    data = bytearray(pdf.read_bytes())
    data[data.index(b"ReportLab Generated PDF document")] ^= 0x01
    pdf.write_bytes(bytes(data))
    status, out, _err = run(capsys, "verify-pdf", pdf, "--ca", ca)
    assert status == 1
    assert any(line.startswith("  Intact: no; valid: no;") for line in out)
    assert out[-1].startswith(
        "FAILED: 1 of 1 signatures failed. expert1: The document was changed after 李四"
    )


def test_verify_pdf_against_a_server(
    capsys: pytest.CaptureFixture[str],
    pki: tuple[CertificateAuthority, bytes],
    pdf_files: tuple[Path, Path],
    server: tuple[str, dict[str, Route]],
) -> None:
    url, routes = server
    routes["/pki/ca.pem"] = _text(certificate_pem(pki[0].certificate), "application/x-pem-file")
    status, out, _err = run(capsys, "verify-pdf", pdf_files[0], "--server", url)
    assert status == 0 and out[-1].startswith("OK: 1 signature verified")


def test_verify_pdf_needs_one_ca_source(
    capsys: pytest.CaptureFixture[str], pdf_files: tuple[Path, Path]
) -> None:
    status, out, _err = run(capsys, "verify-pdf", pdf_files[0])
    assert (status, out) == (2, ["FAILED: give either --server URL or --ca FILE"])
