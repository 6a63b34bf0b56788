"""`ebid` sub-commands for sealed bids: bidder keys, sealing, the opening key ceremony, and the platform API.

Registered into `signing.client` (listed in its COMMAND_MODULES). Like the rest of `ebid`, this
imports neither Flask nor the application: it runs on bidders' and custodians' machines.

Exit status: 0 done and checked, 1 a check or the platform refused, 2 usage, file or network problem.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import io
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from bidding import envelope as env
from bidding.keyfile import (
    BidderKeys,
    KeyFileError,
    ShareError,
    generate_bidder_keys,
    key_file_publics,
    make_opening_key,
    read_key_file,
    write_key_file,
)
from bidding.package import BidError, PreparedPackage, prepare_package, verify_package
from signing.client import EXIT_OK, TIMEOUT, UsageError, _out, _read_json, command
from signing.verify import VerificationError

PASSWORD_ENV = "EBID_PASSWORD"  # noqa: S105 - the variable's name, not a password
MIN_PASSWORD = 8


# --- shared helpers --------------------------------------------------------------------------------------


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _password(args: argparse.Namespace, *, confirm: bool = False) -> str:
    """The key file's password: --password-file, else $EBID_PASSWORD, else asked on the terminal."""
    if getattr(args, "password_file", None):
        try:
            lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the password file {args.password_file}: {exc}") from None
        password = lines[0] if lines else ""
    elif os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV]
    else:
        if not sys.stdin.isatty():
            raise UsageError(f"no terminal to ask for the password: use --password-file or ${PASSWORD_ENV}")
        password = getpass.getpass("Key file password: ")
        if confirm and getpass.getpass("Repeat the password: ") != password:
            raise UsageError("the two passwords differ")
    if not password:
        raise UsageError("the password is empty")
    if confirm and len(password) < MIN_PASSWORD:
        raise UsageError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def _load_keys(args: argparse.Namespace) -> BidderKeys:
    data = _read_json(args.key, "key")
    password = _password(args)
    try:
        return read_key_file(data, password)
    except KeyFileError as exc:
        raise UsageError(f"{args.key}: {exc}") from None


def _write_new(path: Path, data: bytes, *, force: bool = False) -> None:
    """Write a file only its owner can read; refuse to overwrite unless `force`."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists; move it away first") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


@contextmanager
def _open_read(path: str | Path) -> Iterator[BinaryIO]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        yield handle


class _Discard:
    """A write-only sink."""

    def write(self, data: bytes) -> int:
        return len(data)


def _progress(total: int, desc: str) -> Any:
    """A tqdm bar on stderr (silent when stderr is not a terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, desc=desc,
                disable=not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()), leave=False)


def _opening_public(value: str, tender: int) -> bytes:
    """The opening key from --opening-key: base64 of the raw key, or a file (raw base64 or JSON)."""
    text = value
    path = Path(value)
    source = "--opening-key"
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {path}: {exc}") from None
        source = str(path)
    kid = None
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise UsageError(f"{source} is not valid JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("public_key"), str):
            raise UsageError(f'{source} has no "public_key"')
        if "tender" in data and data["tender"] != tender:
            raise UsageError(f"{source} is the opening key of tender {data['tender']}, not tender {tender}")
        kid = data.get("kid")
        text = data["public_key"]
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(f"{source} is neither a file nor a base64 public key") from None
    if len(raw) != 32:
        raise UsageError(f"the opening key from {source} is {len(raw)} bytes; an X25519 key is 32")
    if kid is not None and kid != env.kid_of(raw):
        raise UsageError(f"the kid in {source} does not match its public key")
    return raw


def _bidder_code(text: str) -> str:
    code = text.strip().upper()
    if not env.is_bidder_code(code):
        raise UsageError(f"{text!r} is not a unified social credit code (18 digits and upper-case letters "
                         "other than I, O, S, V, Z)")
    return code


# --- keygen ----------------------------------------------------------------------------------------------


def _configure_keygen(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bidder", required=True, metavar="CODE",
                        help="the company's unified social credit code")
    parser.add_argument("--out", required=True, metavar="FILE", help="the key file to write (e.g. key.json)")
    parser.add_argument("--password-file", metavar="FILE",
                        help=f"read the password from this file's first line (else ${PASSWORD_ENV}, "
                             "else it is asked twice)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing key file")


@command("keygen", "make a bidder's encryption and signing keys, kept in a password-protected key file",
         _configure_keygen)
def keygen_command(args: argparse.Namespace) -> int:
    bidder = _bidder_code(args.bidder)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"{out} already exists; move it away first (or --force)")
    password = _password(args, confirm=True)
    keys = generate_bidder_keys(bidder)
    data = write_key_file(keys, bidder, password)
    _write_new(out, _json_bytes(data), force=args.force)
    _out(f"Bidder: {bidder}")
    _out(f"Encryption key (X25519): {_b64(keys.x25519_public)} kid {keys.x25519_kid}")
    _out(f"Signing key (Ed25519): {_b64(keys.ed25519_public)} kid {keys.ed25519_kid}")
    _out(f"OK: key file written to {out}; keep it and its password safe, and register its public keys "
         "with `ebid register-keys`")
    return EXIT_OK


# --- seal ------------------------------------------------------------------------------------------------


def _configure_seal(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True, metavar="FILE", help="the bidder's key file")
    parser.add_argument("--tender", required=True, type=int, metavar="ID", help="the tender's id")
    parser.add_argument("--lot", required=True, type=int, metavar="N", help="the lot's number")
    parser.add_argument("--opening-key", required=True, metavar="B64|FILE",
                        help="the tender's opening key: base64, or a file (opening-key.json, or the "
                             "JSON of GET /api/tenders/<id>/opening-key)")
    parser.add_argument("--bid", required=True, metavar="FILE",
                        help="bid.json: price, duration_days, criteria (tender, lot, bidder are filled in)")
    parser.add_argument("--document", action="append", default=[], metavar="FILE",
                        help="a bid document; repeat for each")
    parser.add_argument("--out", required=True, metavar="FILE", help="the envelope to write")
    parser.add_argument("--chunk-size", type=int, default=env.DEFAULT_CHUNK, help=argparse.SUPPRESS)
    parser.add_argument("--password-file", metavar="FILE",
                        help=f"the key file's password (else ${PASSWORD_ENV}, else it is asked)")


def _bid_from(args: argparse.Namespace, bidder: str) -> dict[str, Any]:
    bid = _read_json(args.bid, "bid")
    if not isinstance(bid, dict):
        raise UsageError(f"{args.bid} must hold a JSON object")
    given = {"tender": args.tender, "lot": args.lot, "bidder": bidder}
    for name, value in given.items():
        if name in bid and bid[name] != value:
            raise UsageError(f"{args.bid} names {name} {bid[name]!r} but this envelope is for {value!r}")
        bid[name] = value
    bid["v"] = env.LATEST  # the package's version is the envelope's: `ebid seal` writes version 2
    return bid


@command("seal", "seal a bid (bid.json and documents) into an envelope, then re-open it to check",
         _configure_seal)
def seal_command(args: argparse.Namespace) -> int:
    opening = _opening_public(args.opening_key, args.tender)
    documents: list[tuple[str, Path | BinaryIO]] = []
    for name in args.document:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"the document {name} is not a file")
        documents.append((path.name, path))
    out = Path(args.out)
    if out.exists():
        raise UsageError(f"{out} already exists; move it away first")
    partial = out.with_name(out.name + ".partial")
    # The key file's PBKDF2 (600,000 rounds) runs on a thread beside the sealing, which needs only the
    # public keys (in the key file's clear part) until it signs, at the end.
    with _KeyLoader(args) as loading:
        try:
            prepared = prepare_package(_bid_from(args, loading.bidder), documents)
        except BidError as exc:
            raise UsageError(f"{args.bid}: {exc}") from None
        except OSError as exc:
            raise UsageError(f"cannot read a document: {exc}") from None
        with prepared:
            try:
                info = _seal_and_check(prepared, partial, args, loading, opening)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            keys = loading.keys()
    os.replace(partial, out)
    written = prepared.bid
    _out(f"Tender: {args.tender}, lot {args.lot}")
    _out(f"Bidder: {keys.bidder}")
    _out(f"Price: {written['price']['amount']} {written['price']['currency']}")
    _out(f"Documents: {len(written['documents'])}")
    _out(f"Opening key: {info.header.kid}")
    _out(f"Commitment: {info.trailer.commitment}")
    _out(f"Envelope: {out}, {info.size:,} bytes in {info.chunks} chunks (format version {info.version})")
    # Version 2 never hashes the ciphertext: the file's SHA-256 (the receipt's name for it) is computed
    # by `ebid submit` as it reads the file to send it, and by the platform as it stores it.
    _out(f"OK: sealed {out} for tender {args.tender} lot {args.lot} and re-opened it with the bidder's key "
         f"(commitment and bid.json match); `ebid submit` gives its SHA-256")
    return EXIT_OK


class _KeyLoader:
    """Open the bidder's key file on a helper thread (hashlib's PBKDF2 releases the GIL)."""

    def __init__(self, args: argparse.Namespace) -> None:
        data = _read_json(args.key, "key")
        try:
            #: The bidder's credit code and public keys, from the file's clear part (read_key_file checks
            #: them against the private keys: a file whose halves differ fails `keys()`).
            self.bidder, self.x25519_public, self.ed25519_public = key_file_publics(data)
        except KeyFileError as exc:
            raise UsageError(f"{args.key}: {exc}") from None
        password = _password(args)  # asked here, on the main thread, before anything else runs
        self._result: BidderKeys | BaseException | None = None
        self._thread = threading.Thread(target=self._open, args=(args.key, data, password),
                                        name="ebid-key-file", daemon=True)

    def _open(self, name: str, data: Any, password: str) -> None:
        try:
            self._result = read_key_file(data, password)
        except KeyFileError as exc:
            self._result = UsageError(f"{name}: {exc}")
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self._result = exc

    def __enter__(self) -> _KeyLoader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()

    def keys(self) -> BidderKeys:
        self._thread.join()
        if isinstance(self._result, BaseException):
            raise self._result
        assert self._result is not None
        if (self._result.x25519_public, self._result.ed25519_public) != (self.x25519_public,
                                                                         self.ed25519_public):
            raise UsageError("the key file's public keys are not those of its private keys")
        return self._result

    def check(self) -> None:
        """Raise at once if the key file has already failed to open (a wrong password, say)."""
        if not self._thread.is_alive() and isinstance(self._result, BaseException):
            raise self._result

    def sign(self, data: bytes) -> bytes:
        """Sign with the key file's Ed25519 key, once it is open (what `seal` calls, at its end)."""
        return self.keys().ed25519.sign(data)


def _seal_streaming(prepared: PreparedPackage, handle: BinaryIO, args: argparse.Namespace,
                    loading: _KeyLoader, opening: bytes) -> env.EnvelopeInfo:
    """Seal the package as it is made: the tar is produced as the sealing reads it, so the plaintext
    package is never written to the disk (no temporary file to leak it) and costs no extra pass.
    The key file opens meanwhile; a wrong password stops the sealing as soon as it is known."""
    bar = _progress(prepared.documents_size, "sealing")
    package = prepared.open()

    def progress(done: int) -> None:
        loading.check()
        bar.update(done)

    try:
        return env.seal(package, handle, tender=args.tender, lot=args.lot, bidder=loading.bidder or "",
                        opening_public=opening, bidder_public=loading.x25519_public,
                        signing_key=loading,  # type: ignore[arg-type] - signs once the key file is open
                        signer_public=loading.ed25519_public, chunk_size=args.chunk_size, progress=progress,
                        version=env.LATEST)
    finally:
        package.close()
        bar.close()


def _seal_and_check(prepared: PreparedPackage, partial: Path, args: argparse.Namespace, loading: _KeyLoader,
                    opening: bytes) -> env.EnvelopeInfo:
    try:
        handle = partial.open("xb")
    except OSError as exc:
        raise UsageError(f"cannot write {partial}: {exc.strerror or exc}") from None
    try:
        with handle:
            info = _seal_streaming(prepared, handle, args, loading, opening)
    except BidError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:  # EnvelopeError included: a tender, lot or chunk size the format refuses
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot seal: {exc.strerror or exc}") from None
    _reopen(partial, info, args, loading.keys(), opening, prepared.bid)
    return info


def _reopen(path: Path, info: env.EnvelopeInfo, args: argparse.Namespace, keys: BidderKeys, opening: bytes,
            bid: dict[str, Any]) -> None:
    """Re-open what was written, as the opening will, in one pass that hashes nothing.

    The header on disk must name this tender, lot, bidder and keys, and the bidder's key must unwrap
    its data key; the signature must verify with the bidder's key; then `check_sealed` compares the
    header and trailer byte for byte and decrypts every chunk, whose AES-GCM tags prove the chunks
    are the ones sealed, in order. The file is then the envelope sealed, byte for byte, so the
    envelope hash the signature covers and the commitment (both computed while sealing, from the
    very bytes encrypted) hold for it without hashing a gigabyte twice more; bid.json is read back
    from the decrypted start of the package.
    """
    from bidding.package import MAX_BID_JSON, read_bid

    try:
        with path.open("rb") as sealed:
            header = env.read_header(sealed)
            env.check_header(header, tender=args.tender, lot=args.lot, bidder=keys.bidder,
                             opening_kid=env.kid_of(opening), bidder_kid=keys.x25519_kid)
            data_key = env.unwrap(header, keys.x25519, "bidder")
            env.verify_signature(info, keys.ed25519_public)
            sealed.seek(0)
            start = env.check_sealed(sealed, data_key, info, keep=MAX_BID_JSON + 4096)
        reread = read_bid(io.BytesIO(start))
    except env.EnvelopeError as exc:
        raise VerificationError(f"the envelope just sealed does not re-open: {exc}") from None
    except BidError as exc:
        raise VerificationError(f"the envelope just sealed does not re-open: bid.json: {exc}") from None
    if reread != bid:
        raise VerificationError("the envelope just sealed re-opens to a different bid.json")


# --- open-key and open -----------------------------------------------------------------------------------


def _configure_open_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", required=True, metavar="FILE", help="the bidder's key file")
    parser.add_argument("--envelope", required=True, metavar="FILE", help="the bidder's own envelope")
    parser.add_argument("--password-file", metavar="FILE",
                        help=f"the key file's password (else ${PASSWORD_ENV}, else it is asked)")


def _own_envelope(path: str, keys: BidderKeys) -> tuple[env.EnvelopeInfo, bytes]:
    """Check the whole envelope is this bidder's, signed by it, and unwrap its data key."""
    try:
        with _open_read(path) as stream:
            info = env.read_envelope_info(stream, bidder=keys.bidder, bidder_kid=keys.x25519_kid,
                                          signer_public=keys.ed25519_public)
        return info, env.unwrap(info.header, keys.x25519, "bidder")
    except env.EnvelopeError as exc:
        raise VerificationError(f"{path}: {exc}") from None


@command("open-key", "unwrap one's own envelope's data key and print it (base64) for the opening",
         _configure_open_key)
def open_key_command(args: argparse.Namespace) -> int:
    keys = _load_keys(args)
    info, data_key = _own_envelope(args.envelope, keys)
    _out(f"Envelope: {args.envelope} sha256={info.sha256}")
    _out(f"Tender: {info.header.tender}, lot {info.header.lot}")
    _out(f"Data key: {_b64(data_key)}")
    _out(f"OK: data key unwrapped with the bidder's key for envelope {info.sha256}")
    return EXIT_OK


def _configure_open(parser: argparse.ArgumentParser) -> None:
    _configure_open_key(parser)
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="where to write bid.json and the documents")


@command("open", "open one's own envelope with the bidder's key and write out bid.json and documents",
         _configure_open)
def open_command(args: argparse.Namespace) -> int:
    keys = _load_keys(args)
    info, data_key = _own_envelope(args.envelope, keys)
    directory = Path(args.out)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {directory}: {exc.strerror or exc}") from None
    with tempfile.TemporaryFile() as package, _open_read(args.envelope) as stream:
        try:
            opened = env.open_envelope(stream, data_key, package)  # type: ignore[arg-type]
            package.seek(0)
            bid = verify_package(package, directory)  # type: ignore[arg-type]
        except (env.EnvelopeError, BidError) as exc:
            raise VerificationError(f"{args.envelope}: {exc}") from None
    _out(f"Envelope: {args.envelope} sha256={info.sha256}")
    _out(f"Tender: {bid['tender']}, lot {bid['lot']}")
    _out(f"Price: {bid['price']['amount']} {bid['price']['currency']}; duration {bid['duration_days']} days")
    for doc in bid["documents"]:
        _out(f"Document: {doc['name']} ({doc['size']:,} bytes, sha256 {doc['sha256']})")
    count = len(bid["documents"])
    _out(f"OK: opened {args.envelope}: every chunk and the commitment "
         f"{opened.info.trailer.commitment} check; bid.json and {count} document{'' if count == 1 else 's'} "
         f"written to {directory}")
    return EXIT_OK


# --- the opening-key ceremony ----------------------------------------------------------------------------


def _configure_opening_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tender", required=True, type=int, metavar="ID", help="the tender's id")
    parser.add_argument("--threshold", required=True, type=int, metavar="K", help="shares needed to open")
    parser.add_argument("--shares", required=True, type=int, metavar="N",
                        help="shares made, one per custodian")
    parser.add_argument("--out", required=True, metavar="DIR", help="where to write the shares")
    parser.add_argument("--custodian", action="append", default=[], metavar="NAME",
                        help="a custodian's name, in share order; give one per share or none")


@command("opening-key", "make a tender's opening key on this machine, split it into custodians' shares "
         "and forget it", _configure_opening_key)
def opening_key_command(args: argparse.Namespace) -> int:
    if args.custodian and len(args.custodian) != args.shares:
        raise UsageError(f"give one --custodian per share ({args.shares}), or none")
    directory = Path(args.out)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {directory}: {exc.strerror or exc}") from None
    names = ["opening-key.json"] + [f"share-{i}.{ext}" for i in range(1, args.shares + 1)
                                    for ext in ("txt", "json")]
    taken = [n for n in names if (directory / n).exists()]
    if taken:
        raise UsageError(f"{directory} already holds {taken[0]}; use an empty directory")
    try:
        public, kid, shares = make_opening_key(args.tender, args.threshold, args.shares)
    except ShareError as exc:
        raise UsageError(str(exc)) from None
    for share in shares:
        _write_new(directory / f"share-{share.index}.txt", (share.mnemonic + "\n").encode("utf-8"))
        _write_new(directory / f"share-{share.index}.json", _json_bytes(share.to_json()))
    summary = {"tender": args.tender, "public_key": _b64(public), "kid": kid, "threshold": args.threshold,
               "count": args.shares, "fingerprints": [s.fingerprint for s in shares],
               "custodians": list(args.custodian)}
    _write_new(directory / "opening-key.json", _json_bytes(summary))
    _out(json.dumps(summary, ensure_ascii=False))
    _out(f"OK: opening key {kid} made and split {args.threshold} of {args.shares}; give share-<i>.txt "
         f"and .json to each custodian, register {directory / 'opening-key.json'} with "
         "`ebid register-opening-key`; the private key was not kept")
    return EXIT_OK


# --- the platform API ------------------------------------------------------------------------------------


def _configure_api(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", required=True, metavar="URL", help="the platform, e.g. https://ebid.example")
    parser.add_argument("--token", required=True, metavar="TOKEN", help="an API access token (Bearer)")


def _request(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> Any:
    """The JSON answer to an authenticated request; the platform's refusal as a failure (exit 1)."""
    import requests

    url = args.server.rstrip("/") + path
    headers = {"Authorization": f"Bearer {args.token}", "User-Agent": "ebid-client",
               **kwargs.pop("headers", {})}
    try:
        response = requests.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)
    except requests.Timeout:
        raise UsageError(f"{url} did not answer in time") from None
    except requests.RequestException as exc:
        raise UsageError(f"cannot reach {url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        where = f" ({error['field']})" if isinstance(error, dict) and error.get("field") else ""
        raise VerificationError(f"the platform refused (HTTP {response.status_code}): "
                                f"{message or response.reason}{where}")
    if not isinstance(body, dict):
        raise UsageError(f"{url} did not answer with a JSON object")
    return body


def _configure_register_opening_key(parser: argparse.ArgumentParser) -> None:
    _configure_api(parser)
    parser.add_argument("--tender", required=True, type=int, metavar="ID", help="the tender's id")
    parser.add_argument("file", metavar="OPENING_KEY_JSON", help="opening-key.json from `ebid opening-key`")


@command("register-opening-key", "register a tender's opening key (public half and share fingerprints)",
         _configure_register_opening_key)
def register_opening_key_command(args: argparse.Namespace) -> int:
    data = _read_json(args.file, "opening key")
    if not isinstance(data, dict):
        raise UsageError(f"{args.file} must hold a JSON object")
    if data.get("tender") != args.tender:
        raise UsageError(f"{args.file} is the opening key of tender {data.get('tender')}, "
                         f"not tender {args.tender}")
    body = {name: data.get(name) for name in ("public_key", "kid", "threshold", "count", "fingerprints",
                                              "custodians")}
    answer = _request(args, "POST", f"/api/tenders/{args.tender}/opening-key", json=body)
    _out(f"Opening key: {answer.get('kid', body['kid'])}")
    _out(f"Shares: {answer.get('threshold', body['threshold'])} of {answer.get('count', body['count'])}")
    _out(f"OK: opening key registered for tender {args.tender}")
    return EXIT_OK


def _configure_register_keys(parser: argparse.ArgumentParser) -> None:
    _configure_api(parser)
    parser.add_argument("key", metavar="KEY_FILE",
                        help="the bidder's key file (only its public halves are sent)")


@command("register-keys", "register the public halves of a bidder's key file with the platform",
         _configure_register_keys)
def register_keys_command(args: argparse.Namespace) -> int:
    try:
        bidder, x_public, e_public = key_file_publics(_read_json(args.key, "key"))
    except KeyFileError as exc:
        raise UsageError(f"{args.key}: {exc}") from None
    answer = _request(args, "POST", "/api/bidder-keys",
                      json={"x25519_public": _b64(x_public), "ed25519_public": _b64(e_public)})
    _out(f"Bidder: {bidder}")
    _out(f"Encryption key: {answer.get('x25519_kid', env.kid_of(x_public))}")
    _out(f"Signing key: {answer.get('ed25519_kid', env.kid_of(e_public))}")
    _out("OK: public keys registered; envelopes sealed with this key file will be accepted")
    return EXIT_OK


def _configure_submit(parser: argparse.ArgumentParser) -> None:
    _configure_api(parser)
    parser.add_argument("--tender", required=True, type=int, metavar="ID", help="the tender's id")
    parser.add_argument("--lot", required=True, type=int, metavar="N", help="the lot's number")
    parser.add_argument("envelope", metavar="ENVELOPE", help="the sealed envelope")


class _Upload:
    """The envelope as a request body, read in blocks, with a progress bar."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream, self.size = stream, size
        self.bar = _progress(size, "uploading")

    def __iter__(self) -> Iterator[bytes]:
        while block := self.stream.read(1 << 20):
            self.bar.update(len(block))
            yield block

    def __len__(self) -> int:
        return self.size


@command("submit", "upload a sealed envelope to the platform and keep its receipt", _configure_submit)
def submit_command(args: argparse.Namespace) -> int:
    path = Path(args.envelope)
    try:
        with _open_read(path) as stream:
            info = env.read_envelope_info(stream, tender=args.tender, lot=args.lot)
    except env.EnvelopeError as exc:
        raise UsageError(f"{path} is not an envelope the platform would accept: {exc}") from None
    with _open_read(path) as stream:
        upload = _Upload(stream, info.size)
        try:
            # An iterable with a length: requests streams it with a Content-Length (no chunked encoding).
            answer = _request(args, "PUT", f"/api/tenders/{args.tender}/lots/{args.lot}/envelope",
                              data=upload, headers={"Content-Type": "application/octet-stream"})
        finally:
            upload.bar.close()
    receipt = answer.get("receipt")
    if not isinstance(receipt, str) or not receipt:
        raise UsageError("the platform answered without a receipt")
    receipt_path = path.with_name(path.name + ".receipt.jws")
    try:
        receipt_path.write_text(receipt.strip() + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {receipt_path}: {exc.strerror or exc}") from None
    _out(f"Envelope: {path} sha256={info.sha256}")
    _out(f"Bid: {answer.get('bid')}")
    stored = answer["bid"].get("envelope_sha256") if isinstance(answer.get("bid"), dict) else None
    if stored is not None and stored != info.sha256:
        # The receipt names the bytes the platform stored; a version 2 envelope's signature does not cover
        # every ciphertext byte, so this comparison is what tells the bidder the bytes arrived unchanged.
        raise VerificationError(f"the platform stored an envelope whose SHA-256 is {stored}, not this file's "
                                f"{info.sha256}: the bytes changed on the way; submit it again")
    _out(f"Receipt: {receipt_path}")
    if answer.get("receipt_pdf"):
        _out(f"Receipt PDF: {args.server.rstrip('/')}{answer['receipt_pdf']}"
             if str(answer["receipt_pdf"]).startswith("/") else f"Receipt PDF: {answer['receipt_pdf']}")
    _out(f"OK: envelope {info.sha256} submitted for tender {args.tender} lot {args.lot}; check the receipt "
         f"with `ebid verify-receipt {receipt_path} --server {args.server}`")
    return EXIT_OK
