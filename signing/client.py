"""`ebid`, the command bidders, custodians and auditors run on their own machines.

Each sub-command is a function registered with `@command`; later ones (keygen, seal, open-key,
verify-draw) slot in the same way, from this module or from a module listed in `COMMAND_MODULES`.
Nothing here imports Flask, the database or `app`: the client needs only the platform's published keys.

Output is stable for scripts: detail lines, then a final line `OK: ...` or `FAILED: ...` on stdout.
Exit status 0 means verified, 1 means verification failed, 2 means a usage, file or network problem.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, TextIO

from signing.verify import VerificationError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

#: Modules whose import registers more sub-commands (added by later issues).
COMMAND_MODULES: tuple[str, ...] = ("bidding.ebid_commands", "bidding.experts.ebid_commands",
                                     "supervision.ebid_audit")

#: (connect, read) timeouts in seconds for every request to a platform.
TIMEOUT = (10, 60)


class UsageError(Exception):
    """A problem with the command line, a file or the network: exit status 2."""


@dataclass(frozen=True)
class Command:
    """One sub-command: its name, one-line help, argument setup and the function that runs it."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(
    name: str, help: str, configure: Callable[[argparse.ArgumentParser], None]
) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Register the decorated `run(args) -> exit status` as sub-command `name`."""

    def register(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        if name in COMMANDS:
            raise ValueError(f"sub-command {name!r} is registered twice")
        COMMANDS[name] = Command(name, help, configure, run)
        return run

    return register


# --- shared helpers -------------------------------------------------------------------------------------


def _out(line: str = "") -> None:
    print(line, flush=True)


def _read_bytes(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_text(path: str, what: str) -> str:
    try:
        return _read_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the {what} file {path} is not UTF-8 text") from None


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(_read_text(path, what))
    except ValueError:
        raise UsageError(f"the {what} file {path} is not JSON") from None


class Server:
    """The few public endpoints of a platform that `ebid` reads, over HTTP(S) with timeouts."""

    def __init__(self, url: str) -> None:
        import requests

        self.base = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "ebid-client"

    def get(self, path: str, **params: Any) -> Any:
        """The response to GET `path`, raising UsageError with a plain sentence on any failure."""
        import requests

        url = f"{self.base}{path}"
        try:
            response = self.session.get(url, params=params or None, timeout=TIMEOUT)
        except requests.Timeout:
            raise UsageError(f"{url} did not answer in time") from None
        except requests.RequestException as exc:
            raise UsageError(f"cannot reach {url}: {exc}") from None
        if response.status_code != 200:
            raise UsageError(f"{url} answered HTTP {response.status_code}")
        return response

    def close(self) -> None:
        self.session.close()

    def json(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        try:
            return response.json()
        except ValueError:
            raise UsageError(f"{self.base}{path} did not answer with JSON") from None

    def text(self, path: str, **params: Any) -> str:
        # Signed notes are UTF-8 (the em dash); requests would guess ISO-8859-1 for a bare text/plain.
        try:
            return self.get(path, **params).content.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{self.base}{path} did not answer with UTF-8 text") from None


def _vkeys_from(data: Any, source: str) -> list[str]:
    """The verifier keys in `GET /api/log/key`'s answer: every published one ("vkeys"), else "vkey"."""
    if isinstance(data, dict):
        vkeys = data.get("vkeys")
        if isinstance(vkeys, list) and vkeys and all(isinstance(k, str) for k in vkeys):
            return vkeys
        if isinstance(data.get("vkey"), str):
            return [data["vkey"]]
    raise UsageError(f'the log key from {source} has no "vkey" string')


def _vkeys_text(text: str, source: str) -> list[str]:
    """The verifier keys in a file: one vkey per line (several during a key rotation) or the API's JSON."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return _vkeys_from(json.loads(text), source)
        except ValueError:
            raise UsageError(f"the log key in {source} is not valid JSON") from None
    if not text:
        raise UsageError(f"the log key in {source} is empty")
    return text.split()


def _log_keys(args: argparse.Namespace, server: Server | None) -> list[str]:
    if getattr(args, "key", None):
        return _vkeys_text(args.key, "--key")
    if args.log_key:
        return _vkeys_text(_read_text(args.log_key, "log key"), args.log_key)
    assert server is not None
    return _vkeys_from(server.json("/api/log/key"), f"{server.base}/api/log/key")


@contextmanager
def _server(args: argparse.Namespace) -> Iterator[Server | None]:
    """The platform named by --server for the duration of a command, or None."""
    if not args.server:
        yield None
        return
    server = Server(args.server)
    try:
        yield server
    finally:
        server.close()


# --- verify-receipt -------------------------------------------------------------------------------------


def _configure_receipt(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("receipt", metavar="RECEIPT_FILE", help="the receipt (compact JWS), or - for stdin")
    parser.add_argument("--server", metavar="URL", help="fetch the JWKS and log key from this platform")
    parser.add_argument("--jwks", metavar="FILE", help="the platform's /.well-known/jwks.json, saved")
    parser.add_argument("--log-key", metavar="FILE", help="the log's verifier key (or /api/log/key JSON)")


def _describe_actor(actor: Any) -> str:
    if actor is None:
        return "the platform itself"
    if not isinstance(actor, dict):
        return json.dumps(actor, ensure_ascii=False)
    who = str(actor.get("username") or f"user {actor.get('user')}")
    extra = [str(x) for x in (actor.get("role"), actor.get("organisation")) if x]
    return f"{who} ({', '.join(extra)})" if extra else who


@command("verify-receipt", "check a receipt's signature and that its entry is in the signed log",
         _configure_receipt)
def verify_receipt_command(args: argparse.Namespace) -> int:
    from signing.verify import verify_receipt

    if args.server and (args.jwks or args.log_key):
        raise UsageError("give either --server or --jwks and --log-key, not both")
    if not args.server and not (args.jwks and args.log_key):
        raise UsageError("give --server URL, or both --jwks FILE and --log-key FILE")
    token = _read_text(args.receipt, "receipt").strip()
    with _server(args) as server:
        jwks = server.json("/.well-known/jwks.json") if server else _read_json(args.jwks, "JWKS")
        vkey = _log_keys(args, server)
    result = verify_receipt(token, jwks, vkey)
    cp = result.checkpoint
    _out(f"Signed by: {result.issuer} with key {result.kid}")
    _out(f"Event: {result.kind}")
    _out(f"Subject: {json.dumps(result.subject, ensure_ascii=False, sort_keys=True)}")
    _out(f"Actor: {_describe_actor(result.actor)}")
    if isinstance(result.entry.get("time"), str):
        _out(f"Logged at: {result.entry['time']}")
    _out(f"Log index: {result.index}")
    _out(f"Tree size: {result.tree_size}")
    _out(f"Checkpoint: {cp.origin}, size {cp.size}, signed by log key {result.log_key}")
    _out(f"OK: receipt verified: entry {result.index} ({result.kind}) is in the log of {cp.origin} "
         f"at tree size {result.tree_size}")
    return EXIT_OK


# --- verify-pdf -----------------------------------------------------------------------------------------


def _configure_pdf(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pdf", metavar="FILE", help="the signed PDF, or - for stdin")
    parser.add_argument("--server", metavar="URL", help="fetch the CA certificate from this platform")
    parser.add_argument("--ca", metavar="FILE", help="the platform's CA certificate (PEM)")


def _yes(flag: bool | None) -> str:
    return "n/a" if flag is None else ("yes" if flag else "no")


def _print_reports(reports: list[Any]) -> None:
    for number, r in enumerate(reports, start=1):
        who = r.signer_common_name or "unknown signer"
        if r.signer_organisation:
            who += f" ({r.signer_organisation})"
        if r.signing_time is None:
            when = "unknown"
        else:
            source = "from timestamp" if r.time_from_timestamp else "signer's own claim, no timestamp"
            when = f"{r.signing_time.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({source})"
        kind = "certification" if r.certification else "approval"
        _out(f"Signature {number}: field {r.field_name} ({kind})")
        _out(f"  Signer: {who}")
        _out(f"  Time: {when}")
        _out(f"  Intact: {_yes(r.intact)}; valid: {_yes(r.valid)}; trusted: {_yes(r.trusted)}; "
             f"timestamp valid: {_yes(r.timestamp_valid)}")
        _out(f"  Coverage: {r.coverage.replace('_', ' ')}")
        _out(f"  {r.message}")


@command("verify-pdf", "check every signature of a signed PDF and that nothing changed after them",
         _configure_pdf)
def verify_pdf_command(args: argparse.Namespace) -> int:
    from signing.verify import verify_pdf

    if bool(args.server) == bool(args.ca):
        raise UsageError("give either --server URL or --ca FILE")
    pdf = _read_bytes(args.pdf)
    with _server(args) as server:
        ca_pem = server.get("/pki/ca.pem").content if server else _read_bytes(args.ca)
    try:
        reports = verify_pdf(pdf, ca_pem)
    except VerificationError as exc:
        _print_reports(exc.reports or [])
        raise
    _print_reports(reports)
    _out(f"OK: {len(reports)} signature{'s' if len(reports) != 1 else ''} verified; "
         "the document has not changed since the last one")
    return EXIT_OK


# --- verify-log -----------------------------------------------------------------------------------------


def _configure_log(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("export", metavar="EXPORT_FILE", help="the log export (JSON Lines), or - for stdin")
    parser.add_argument("--server", metavar="URL", help="fetch the log key and checkpoints from here")
    parser.add_argument("--log-key", metavar="FILE", help="the log's verifier key (or /api/log/key JSON)")
    parser.add_argument("--key", metavar="VKEY", help="the log's verifier key itself, on the command line")
    parser.add_argument("--previous", metavar="CHECKPOINT_FILE",
                        help="an earlier checkpoint the export must extend")
    parser.add_argument("--consistency-from", metavar="CHECKPOINT_FILE",
                        help="with --server: prove the server's latest checkpoint extends this one")


class _Bar:
    """A tqdm progress bar on stderr, silent when stderr is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            disable = not (hasattr(self.stream, "isatty") and self.stream.isatty())
            self.bar = tqdm(total=total, unit="entries", unit_scale=True, file=self.stream, disable=disable,
                            desc="verifying", leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _walk_export(path: str, vkey: list[str], previous: str | None) -> Any:
    from signing.verify import verify_log_export

    bar = _Bar(sys.stderr)
    try:
        if path == "-":
            return verify_log_export(sys.stdin.buffer, vkey, previous, progress=bar)
        try:
            with open(path, "rb") as lines:
                return verify_log_export(lines, vkey, previous, progress=bar)
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        bar.close()


def _check_consistency(server: Server, old: str, vkey: list[str]) -> tuple[int, int]:
    """Prove the server's latest checkpoint extends `old`; the two sizes."""
    from signing.checkpoint import CheckpointError, parse_checkpoint
    from signing.verify import verify_consistency

    latest = server.text("/api/log/checkpoint")
    try:
        first, second = parse_checkpoint(old).size, parse_checkpoint(latest).size
    except CheckpointError as exc:
        raise VerificationError(f"a checkpoint is malformed: {exc}") from None
    if first > second:  # no proof can exist; this reports it once both signatures are checked
        verify_consistency(old, latest, [], vkey)
    answer = server.json("/api/log/consistency", first=first, second=second)
    if not isinstance(answer, dict) or not isinstance(answer.get("proof"), list):
        raise UsageError(f"{server.base}/api/log/consistency did not answer with a proof")
    if (answer.get("first"), answer.get("second")) != (first, second):
        raise VerificationError(
            f"the server answered a consistency proof for sizes {answer.get('first')!r} to "
            f"{answer.get('second')!r}, not {first} to {second}"
        )
    verify_consistency(old, latest, answer["proof"], vkey)
    return first, second


@command("verify-log", "re-walk an exported log and check it against the signed checkpoint", _configure_log)
def verify_log_command(args: argparse.Namespace) -> int:
    if sum(bool(x) for x in (args.server, args.log_key, args.key)) != 1:
        raise UsageError("give exactly one of --server URL, --log-key FILE or --key VKEY")
    if args.consistency_from and not args.server:
        raise UsageError(
            "--consistency-from needs --server; to check an export offline against an earlier "
            "checkpoint, use --previous"
        )
    previous = _read_text(args.previous, "previous checkpoint") if args.previous else None
    old = _read_text(args.consistency_from, "checkpoint") if args.consistency_from else None
    with _server(args) as server:
        vkey = _log_keys(args, server)
        result = _walk_export(args.export, vkey, previous)
        _out(f"Log: {result.origin}")
        _out(f"Entries: {result.tree_size}, indexes 0 to {result.tree_size - 1}, every line canonical"
             if result.tree_size else "Entries: 0")
        _out(f"Root hash: {base64.b64encode(result.root_hash).decode()} (matches the signed checkpoint)")
        if result.previous is not None:
            _out(f"Extends the previous checkpoint at size {result.previous.size}")
        if server is not None and old is not None:
            first, second = _check_consistency(server, old, vkey)
            _out(f"Consistency: the server's latest checkpoint (size {second}) extends yours (size {first})")
    _out(f"OK: export of {result.tree_size} entries verified against the checkpoint of {result.origin}")
    return EXIT_OK


# --- entry point ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered sub-command."""
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    parser = argparse.ArgumentParser(
        prog="ebid",
        description="The e-bidding platform's client, run on your own machine: make keys, seal and submit "
                    "bids, make a tender's opening key, and verify receipts, signed PDFs and the audit log. "
                    "Exit status: 0 verified, 1 verification failed, 2 usage, file or network problem.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in COMMANDS.values():
        description = cmd.help[:1].upper() + cmd.help[1:] + "."
        sub = subparsers.add_parser(cmd.name, help=cmd.help, description=description)
        cmd.configure(sub)
        sub.set_defaults(run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `ebid`; the return value is the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except VerificationError as exc:
        _out(f"FAILED: {exc}")
        return EXIT_FAILED
    except UsageError as exc:
        _out(f"FAILED: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _out("FAILED: interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    # Run the imported module's main: command modules register into `signing.client`, which under
    # `python -m` is a different module object from this `__main__`.
    from signing.client import main as registered_main

    sys.exit(registered_main())
