"""Issue 4's server side, measured: intake of a large sealed envelope, and a deadline rush.

Both run the real server in its own process (`python wsgi.py`, as `make run` does, with the clock's jobs
in it) on a fresh instance folder and database, and talk to it over 127.0.0.1 only. The database is a
SQLite file, or, with EBID_BENCH_DATABASE_URL pointing at a PostgreSQL server (any database on it, e.g.
`postgresql+psycopg://postgres@/postgres?host=/tmp/pg&port=5432`), a fresh database made on that
server for the run and dropped after it.

`intake.envelope` streams one large envelope to `PUT /api/tenders/<id>/lots/1/envelope` with
`requests`, timed from the first byte to the 201 with the receipts, beside `openssl dgst -sha256`
(which uses the CPU's SHA instructions, as the server's hashlib does; `sha256sum`, the earlier reference,
does not) reading the same file; a thread samples the server's resident set every 50 ms meanwhile.
The envelopes are format version 2, as `ebid seal` and the browser write them: the server hashes such an
envelope once (the blob's name); a version 1 envelope it hashes twice (its signature covers a hash too).

`intake.rush` is the last minute before a deadline: bidders created in the database before the server
starts, envelopes sealed beforehand in load-generating processes (sealing is the bidders' machines'
work), then one submission per bidder at its scheduled moment, spread evenly over the window. The
reference is the same number of `GET /healthz` requests at the same schedule on the same server,
in a window of its own just before the rush. Afterwards the load processes verify every receipt
with the platform's published keys, and the close job's `tender.closed` entry is checked against
the envelopes accepted. Nothing here asserts a time.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import multiprocessing
import os
import queue
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from benchmarks import benchmark
from benchmarks.common import Report

ROOT = Path(__file__).resolve().parents[1]
GIB = 1 << 30
MIB = 1 << 20
HOST = "127.0.0.1"
PASSWORD = "rush-benchmark-password"  # noqa: S105 - throw-away accounts in a throw-away database
#: Settings the benchmark's server must not inherit from whoever runs it: it makes its own of each.
NOT_INHERITED = ("EBID_KEY_DIR", "EBID_BLOB_DIR", "EBID_UPLOAD_DIR", "BLOB_STORE", "MAX_ENVELOPE_SIZE",
                 "SECRET_KEY", "KEY_ENCRYPTION_KEY", "EBID_SCHEDULER", "HOST", "TEST_DATABASE_URL",
                 "EBID_ORIGIN", "TIMESTAMP_URL", "DATABASE_URL")
#: The legal periods, shrunk so a tender can close a minute after it is published (as `make run` does).
RULES = {"MIN_BIDDING_PERIOD": "5", "MIN_AMENDMENT_NOTICE": "1", "API_TOKEN_LIFETIME": "7200"}


# --- the server ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _status_kib(pid: int, name: str) -> int:
    """A `VmRSS`/`VmHWM`-style line of /proc/<pid>/status, in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(f"/proc/{pid}/status has no {name}")


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """The platform running in a process of its own, on a loopback port."""

    url: str
    process: subprocess.Popen
    instance: Path
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def logins(self) -> dict[str, str]:
        """The demo accounts' passwords by username (`flask demo seed` writes them)."""
        entries = json.loads((self.instance / "demo-logins.json").read_text(encoding="utf-8"))
        return {e["username"]: e["password"] for e in entries}

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]

    def errors(self) -> Counter[str]:
        """The errors the server logged so far, counted by where and what (the exception's last line)."""
        return server_errors(self.log.read_text(encoding="utf-8", errors="replace"))


_LOGGED_ERROR = re.compile(r"^\[[^\]]+\] ERROR in (\S+): (.*)$")
_NEXT_RECORD = re.compile(r"^(\[\d{4}-|127\.0\.0\.1 - -)")
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\b.*")


def server_errors(log: str) -> Counter[str]:
    """Each `ERROR in ...` block of a Flask log, as "where: message: exception [SQL]", counted."""
    found: Counter[str] = Counter()
    block: list[str] | None = None
    for line in [*log.splitlines(), "[end] ERROR in end: end"]:
        header = _LOGGED_ERROR.match(line)
        if block is not None and (header or _NEXT_RECORD.match(line)):
            at = max((i for i, x in enumerate(block) if _EXCEPTION.match(x)), default=0)
            cause = next((x for x in block[at + 1:at + 2] if x.startswith("(")), "")
            sql = next((x for x in block if x.startswith("[SQL: ")), "")
            found[" ".join(filter(None, (f"{block[0]}:", block[at][:90], cause, sql[:60])))] += 1
            block = None
        if header and header.group(1) != "end":
            block = [f"{header.group(1)}: {header.group(2)}"]
        elif block is not None:
            block.append(line)
    return found


def _note_errors(report: Report, errors: Counter[str]) -> None:
    if not errors:
        report.note("the server logged no errors")
    for what, count in errors.most_common(5):
        report.note(f"SERVER ERROR ×{count}: {what}")


def _run_checked(argv: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False,  # noqa: S603
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


@contextmanager
def bench_database(work: Path) -> Iterator[tuple[str, str]]:
    """A fresh, empty database for one run, and a description of it: a SQLite file under `work`, or, with
    EBID_BENCH_DATABASE_URL set to a PostgreSQL URL, a new database on that server, dropped afterwards."""
    server = os.environ.get("EBID_BENCH_DATABASE_URL")
    if not server or not server.startswith("postgresql"):
        yield f"sqlite:///{work / 'ebid.sqlite3'}", f"SQLite (a file in {work.parent})"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(server)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"ebid_bench_{os.urandom(4).hex()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (base.set(database=name).render_as_string(hide_password=False),
               f"PostgreSQL {version} (a fresh database {name} on EBID_BENCH_DATABASE_URL's server)")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def live_server(work: Path, prepare: Callable[[dict[str, str]], None] | None = None, *,
                database: str | None = None, port: int | None = None) -> Iterator[Server]:
    """Migrate, make keys, seed the demo accounts, run `prepare(env)`, then serve until the block ends.

    `database` is the server's DATABASE_URL (default: a SQLite file under `work`); `port` its port
    (default: any free one). The server is stopped when the block ends, also on error.
    """
    port = port or _free_port()
    instance = work / "instance"
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(EBID_CONFIG="development", EBID_INSTANCE=str(instance), FLASK_APP="wsgi", PORT=str(port),
               DATABASE_URL=database or f"sqlite:///{work / 'ebid.sqlite3'}", PYTHONUNBUFFERED="1", **RULES)
    flask = [sys.executable, "-m", "flask"]
    for command in (["db", "upgrade"], ["keys", "ensure"], ["demo", "seed"]):
        _run_checked(flask + command, env, f"flask {' '.join(command)}")
    if prepare is not None:
        prepare(env)
    log = work / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "wsgi.py"], cwd=ROOT, env=env,  # noqa: S603
                                   stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://{HOST}:{port}", process, instance, log)
    try:
        give_up = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > give_up:
                raise RuntimeError(f"the server did not start:\n{server.log_tail()}")
            time.sleep(0.2)
        yield server
    except BaseException as exc:
        if process.poll() is not None:  # the server died under us: say how
            raise RuntimeError(f"the server exited ({process.returncode}); the end of its log:\n"
                               f"{server.log_tail()}") from exc
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


class Api:
    """One caller of the JSON API over its own `requests.Session`."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def login(cls, url: str, username: str, password: str) -> Api:
        token = cls(url).call("POST", "/api/auth/token", json={"username": username, "password": password})
        return cls(url, token["access_token"])

    def call(self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        response = self.http.request(method, self.url + path, timeout=120, **kw)
        if response.status_code not in expect:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:800]}")
        return response.json()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _tender_body(deadline: dt.datetime) -> dict[str, Any]:
    return {"title": "基准测试：城区道路照明改造工程", "description": "性能测量用的招标项目。",
            "region": "350102", "currency": "CNY", "estimated_price": "5000000.00",
            "deposit_amount": "50000.00",
            "submission_deadline": deadline.isoformat(), "bid_validity_days": 90,
            "evaluation_method": "comprehensive_scoring",
            "lots": [{"title": "一标段", "estimated_price": "5000000.00"}],
            "criteria": [{"name": "投标报价", "category": "price", "weight": "40", "max_score": "40"},
                         {"name": "技术方案", "category": "technical", "weight": "60", "max_score": "60"}]}


def _draft_tender(office: Api, deadline: dt.datetime) -> tuple[int, bytes]:
    """A draft tender with a registered opening key, as a custodian makes it; its id and public key."""
    from bidding.keyfile import make_opening_key

    tender = office.call("POST", "/api/tenders", json=_tender_body(deadline))
    public, kid, shares = make_opening_key(tender["id"], 2, 3)
    office.call("POST", f"/api/tenders/{tender['id']}/opening-key",
                json={"public_key": _b64(public), "kid": kid, "threshold": 2, "count": 3,
                      "fingerprints": [share.fingerprint for share in shares]})
    return tender["id"], public


def _publish(office: Api, tender_id: int, deadline: dt.datetime) -> dict[str, Any]:
    office.call("PUT", f"/api/tenders/{tender_id}", json=_tender_body(deadline))
    return office.call("POST", f"/api/tenders/{tender_id}/publish")


def _bid(tender: int, code: str, price: str) -> dict[str, Any]:
    return {"v": 2, "tender": tender, "lot": 1, "bidder": code, "price": {"amount": price, "currency": "CNY"},
            "duration_days": 365, "criteria": {"技术方案": "见 documents/technical.bin"}}


def _published_keys(url: str, http: requests.Session) -> tuple[dict, list[str]]:
    """The JWKS and the log's verifier keys, as anyone fetches them to check a receipt."""
    jwks = http.get(f"{url}/.well-known/jwks.json", timeout=60).json()
    answer = http.get(f"{url}/api/log/key", timeout=60).json()
    return jwks, answer.get("vkeys") or [answer["vkey"]]


def _scratch(size: int) -> tuple[str | None, str]:
    """Where the large files go: $EBID_BENCH_DIR, else a RAM disk with room, else the temporary directory."""
    chosen = os.environ.get("EBID_BENCH_DIR")
    if chosen:
        return chosen, f"files in {chosen} ($EBID_BENCH_DIR)"
    shm = Path("/dev/shm")  # noqa: S108 - a RAM disk, used only if present and roomy
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 4 * size + GIB:
        return str(shm), ("files, and the server's instance with its blob store, on the RAM disk /dev/shm "
                          "(set EBID_BENCH_DIR to measure a real disk)")
    return None, f"files in {tempfile.gettempdir()} (on disk: write-back makes the figures noisier)"


# --- 1. one large envelope ---------------------------------------------------------------------------------


class RssSampler:
    """Samples a process's resident set every `interval` seconds while the block runs."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.before = self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        self.peak = max(self.peak, _status_kib(self.pid, "VmRSS"))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssSampler:
        self.before = self.peak = _status_kib(self.pid, "VmRSS")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def growth(self) -> int:
        return self.peak - self.before


@dataclass(frozen=True)
class Upload:
    """One timed intake: wall seconds, the server's RSS before and its growth, its CPU seconds."""

    seconds: float
    rss_before: int
    rss_growth: int
    samples: int
    server_cpu: float
    sha256: str


def _write_document(path: Path, size: int) -> None:
    """`size` bytes of os.urandom in 1 MiB blocks (the envelope is ciphertext whatever goes in)."""
    with path.open("wb") as out:
        left = size
        while left:
            out.write(os.urandom(min(MIB, left)))
            left -= min(MIB, left)


def _seal_file(document: Path, out_path: Path, *, tender: int, code: str, opening: bytes, pair) -> None:
    """Seal a package holding `document` into `out_path` (the tar is made as it is read), format version 2."""
    from bidding import envelope
    from bidding.package import prepare_package

    with prepare_package(_bid(tender, code, "4850000.00"), [("technical.bin", document)]) as prepared, \
            out_path.open("wb") as out:
        envelope.seal(prepared.open(), out, tender=tender, lot=1, bidder=code, opening_public=opening,
                      bidder_public=pair.x25519_public, signing_key=pair.ed25519, version=2)


def _digest_tool(argv: list[str]) -> tuple[float, str]:
    """Wall seconds of a hashing tool run to completion, and the hex digest it printed."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)  # noqa: S603
    return time.perf_counter() - start, done.stdout.split()[0]  # both print "<digest> <file>" (openssl -r)


def _put_envelope(server: Server, bidder: Api, tender: int, path: Path) -> tuple[Upload, dict[str, Any]]:
    url = f"{server.url}/api/tenders/{tender}/lots/1/envelope"
    headers = {"Content-Type": "application/octet-stream"}
    cpu = _cpu_seconds(server.pid)
    with RssSampler(server.pid) as rss, path.open("rb") as body:
        start = time.perf_counter()
        response = bidder.http.put(url, data=body, headers=headers, timeout=3600)
        seconds = time.perf_counter() - start
    cpu = _cpu_seconds(server.pid) - cpu
    if response.status_code != 201:
        raise RuntimeError(f"the envelope was refused ({response.status_code}): {response.text[:800]}")
    result = response.json()
    return Upload(seconds, rss.before, rss.growth, rss.samples, cpu, result["bid"]["envelope_sha256"]), result


@benchmark("intake.envelope", title="Server intake of a large sealed envelope over loopback",
           comparison="ours: PUT /api/tenders/<id>/lots/1/envelope to the real server in its own process "
                      "(requests streams the file; first byte to the 201 with the receipts) · references: "
                      "`openssl dgst -sha256` over the same file · memory: the server's RSS "
                      "growth beside the envelope's size")
def envelope_intake(report: Report, quick: bool) -> None:
    from bidding.keyfile import generate_bidder_keys
    from signing.verify import verify_receipt

    size = 32 * MIB if quick else GIB
    rounds = 2 if quick else 3
    where, where_note = _scratch(size)
    with tempfile.TemporaryDirectory(prefix="ebid-bench-intake-", dir=where) as tmp:
        work = Path(tmp)
        document, sealed = work / "technical.bin", work / "envelope.bin"
        _write_document(document, size)
        with live_server(work) as server:
            logins = server.logins()
            office = Api.login(server.url, "office", logins["office"])
            bidder = Api.login(server.url, "bidder1", logins["bidder1"])
            pair = generate_bidder_keys()
            bidder.call("POST", "/api/bidder-keys", json={"x25519_public": _b64(pair.x25519_public),
                                                          "ed25519_public": _b64(pair.ed25519_public)})
            deadline = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
            tender, opening = _draft_tender(office, deadline)
            _publish(office, tender, deadline)
            code = bidder.call("GET", f"/api/tenders/{tender}/sealing")["bidder"]
            hwm_start = _status_kib(server.pid, "VmHWM")

            openssl = shutil.which("openssl")
            if openssl is None:
                raise RuntimeError("openssl (Debian's openssl), the reference, is not installed")
            ours: list[Upload] = []
            theirs: list[float] = []
            envelope_size = 0
            blobs = server.instance / "blobs"
            for _ in range(rounds):  # a fresh envelope each round: the server refuses one it has seen
                _seal_file(document, sealed, tender=tender, code=code, opening=opening, pair=pair)
                envelope_size = sealed.stat().st_size
                os.sync()  # the sealing's dirty pages must not slow the measured runs
                seconds, digest = _digest_tool([openssl, "dgst", "-sha256", "-r", str(sealed)])
                theirs.append(seconds)
                upload, result = _put_envelope(server, bidder, tender, sealed)
                if digest != upload.sha256:
                    raise RuntimeError("openssl and the server disagree on the envelope's hash")
                jwks, vkeys = _published_keys(server.url, bidder.http)
                verify_receipt(result["receipt"], jwks, vkeys)
                ours.append(upload)
                # The superseded envelope is never read again in this run: keep the scratch to one blob.
                for old in blobs.rglob("*"):
                    if old.is_file() and len(old.name) == 64 and old.name != upload.sha256:
                        old.unlink()
            hwm_end = _status_kib(server.pid, "VmHWM")
            sealed.unlink()
            errors = server.errors()

    best = min(ours, key=lambda u: u.seconds)
    reference = min(theirs)
    growth = max(u.rss_growth for u in ours)
    label = f"{size / GIB:g} GiB" if size >= GIB else f"{size // MIB} MiB"
    report.compare(f"intake of a {label} envelope (vs openssl)", best.seconds, reference, unit="seconds",
                   against="openssl dgst -sha256 of the same file")
    report.compare(f"server RSS growth during a {label} intake", growth, envelope_size, unit="bytes",
                   against="the envelope's size")
    share = reference / best.seconds
    report.notes.insert(0, f"throughput: intake {envelope_size / best.seconds / MIB:,.0f} MiB/s, openssl "
                           f"{envelope_size / reference / MIB:,.0f} MiB/s: intake at {share:.2f}× openssl's "
                           f"throughput (goal at least 0.5×: {'met' if share >= 0.5 else 'NOT met'}); "
                           f"envelope {envelope_size:,} bytes ({size:,} bytes of document)")
    report.note(f"server memory: RSS {best.rss_before / MIB:.1f} MiB before an upload, at most "
                f"+{growth / MIB:.2f} MiB during one (sampled every 50 ms, {min(u.samples for u in ours)}+ "
                f"samples an upload); VmHWM {hwm_start / MIB:.1f} MiB before the first, "
                f"{hwm_end / MIB:.1f} MiB after the last")
    report.note(f"server CPU during the best upload: {best.server_cpu:.2f} s of {best.seconds:.2f} s wall; "
                "it reads the body in 64 KiB blocks, parses the framing and collects the chunks' tags (a "
                "version 2 envelope's signature covers them, not a hash of the ciphertext), hashes the file "
                "once for the blob's name, writes and fsyncs it, then verifies the Ed25519 signature, logs "
                "the bid and signs its JWS receipt (the PDF receipt is made after the commit, by the "
                "clock's job)")
    report.note("openssl, like Python's hashlib and so the server, uses the CPU's SHA extensions; "
                "sha256sum (coreutils), the earlier reference, does not")
    runs = "; ".join(f"{name} {', '.join(f'{s:.2f}' for s in values)}"
                     for name, values in (("intake", [u.seconds for u in ours]), ("openssl", theirs))
                     if values)
    report.note(f"best of {rounds} rounds, a freshly sealed envelope each; every run in seconds: {runs}")
    report.note(f"the client is `requests` in the benchmark's process, the server `python wsgi.py`; "
                f"{where_note}")
    _note_errors(report, errors)


# --- 2. the deadline rush ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RushSize:
    """How big the rush is: bidders (one envelope each), the window, and the load processes."""

    bidders: int
    window: float  # seconds: the rush is the tender's last `window` seconds; the baseline as long
    processes: int = 4
    gap: float = 3.0  # seconds between the baseline's window and the rush's

    @property
    def threads(self) -> int:
        """Threads per load process: one per bidder (so a slow server never delays a bidder's sending,
        as a bounded pool would), at most 256."""
        return min(256, math.ceil(self.bidders / self.processes))


FULL_RUSH = RushSize(bidders=1000, window=60.0)
QUICK_RUSH = RushSize(bidders=50, window=10.0, gap=2.0)


#: The setup script, run with the server's environment before the server starts.
CREATE_BIDDERS = """
import sys
from benchmarks.intake import create_bidders
create_bidders(int(sys.argv[1]), sys.argv[2])
"""


def create_bidders(count: int, out: str, first: int = 0) -> None:
    """Run in the server's environment before it starts: `count` bidder companies, each with one user,
    registered keys and a bearer token, written to `out` with their private keys (the bidders' side).
    Their names and credit codes are numbered from `first` (another run on the same database starts
    further on); their `index` counts from 0 either way.

    Every user gets the same argon2 hash of the same password, made once: a thousand hashes would cost
    minutes and measure nothing the rush is about. The tokens are minted here for the same reason.
    """
    from app import create_app
    from bidding import keys
    from bidding.keyfile import generate_bidder_keys
    from core import accounts as auth
    from core import credit_code
    from core.extensions import db
    from core.models import OrganisationKind, Role
    from core.organisations import register
    from signing.api_tokens import issue_token

    app = create_app("development")
    hashed = auth.hash_password(PASSWORD)
    auth.hash_password = lambda _password: hashed
    bidders = []
    with app.app_context():
        for index in range(count):
            i = first + index
            code = credit_code.make(f"91350100R{i:07d}")
            organisation = register(name=f"压力测试投标公司{i:04d}", kind=OrganisationKind.BIDDER,
                                    credit_code=code, region="350100")
            user = auth.create_user(username=f"rush{i:04d}", display_name=f"投标人{i:04d}", password=PASSWORD,
                                    role=Role.BIDDER, organisation=organisation)
            pair = generate_bidder_keys(code)
            keys.register_bidder_keys(user, {"x25519_public": _b64(pair.x25519_public),
                                             "ed25519_public": _b64(pair.ed25519_public)})
            token, _ = issue_token(user)
            bidders.append({"index": index, "code": code, "token": token,
                            "x25519": _b64(pair.x25519.private_bytes_raw()),
                            "ed25519": _b64(pair.ed25519.private_bytes_raw())})
            if index % 100 == 99:
                db.session.commit()
        db.session.commit()
    Path(out).write_text(json.dumps(bidders), encoding="utf-8")


@dataclass(frozen=True)
class Shot:
    """One request of a load process: when it was due, when it went, how long, and what came back."""

    index: int
    due: float  # epoch seconds
    sent: float  # epoch seconds
    latency: float  # seconds
    status: int | None  # None: no response at all
    code: str | None = None  # the error's code, or the exception's name
    envelope: str | None = None  # the accepted envelope's SHA-256
    verified: bool | None = None  # whether its receipt verified (submissions that got one)
    problem: str | None = None
    submitted: float | None = None  # the submission time the server recorded (epoch seconds)


@dataclass
class WorkerResult:
    number: int
    sealing_seconds: float
    baseline: list[Shot] = field(default_factory=list)
    rush: list[Shot] = field(default_factory=list)
    verify_seconds: float = 0.0
    verify_failures: list[str] = field(default_factory=list)
    pdfs: int = 0  # PDF receipts fetched (200, a PDF) through the API
    pdf_waiting: int = 0  # still 202 when the load process gave up
    pdf_failures: list[str] = field(default_factory=list)
    pdf_seconds: float = 0.0  # from the start of fetching to the last PDF fetched


def _fire(jobs: list[tuple[float, int, Callable[[requests.Session], requests.Response]]],
          threads: int) -> list[tuple[Shot, requests.Response | None]]:
    """Send each job at its due time (epoch seconds) from a pool of threads, each with its own session."""
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "http"):
            local.http = requests.Session()
        return local.http

    def run(due: float, index: int, job: Callable[[requests.Session], requests.Response]):
        http = session()
        sent = time.time()
        start = time.perf_counter()
        try:
            response = job(http)
        except requests.RequestException as exc:
            return Shot(index, due, sent, time.perf_counter() - start, None, type(exc).__name__,
                        problem=str(exc)[:300]), None
        latency = time.perf_counter() - start
        code = problem = None
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, problem = error["code"], error["message"][:300]
            except (ValueError, KeyError, TypeError):
                code, problem = f"http_{response.status_code}", response.text[:300].strip()
        return Shot(index, due, sent, latency, response.status_code, code, problem=problem), response

    with ThreadPoolExecutor(threads, thread_name_prefix="load") as pool:
        futures = []
        for due, index, job in sorted(jobs, key=lambda j: j[0]):
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(run, due, index, job))
        return [future.result() for future in futures]


def _rush_worker(number: int, url: str, tender: int, opening_b64: str, bidders: list[dict[str, Any]],
                 size: RushSize, plans: Any, results: Any) -> None:
    """A load-generating process: seal its bidders' envelopes, say so, then fire at the plan's times."""
    try:
        import io

        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        from bidding import envelope
        from bidding.package import write_package
        from signing.verify import VerificationError, verify_receipt

        opening = base64.b64decode(opening_b64)
        start = time.perf_counter()
        sealed: dict[int, tuple[str, bytes]] = {}
        for bidder in bidders:
            package = io.BytesIO()
            document = io.BytesIO(os.urandom(8 * 1024))  # a small bid: bid.json and an 8 KiB document
            write_package(package, _bid(tender, bidder["code"], f"{4_000_000 + bidder['index']}.00"),
                          [("technical.bin", document)])
            package.seek(0)
            out = io.BytesIO()
            envelope.seal(package, out, tender=tender, lot=1, bidder=bidder["code"], opening_public=opening,
                          bidder_public=envelope.raw_public(X25519PrivateKey.from_private_bytes(
                              base64.b64decode(bidder["x25519"]))),
                          signing_key=Ed25519PrivateKey.from_private_bytes(base64.b64decode(bidder["ed25519"])),
                          version=2)
            sealed[bidder["index"]] = (bidder["token"], out.getvalue())
        outcome = WorkerResult(number, time.perf_counter() - start)
        results.put(("ready", number, None))

        plan = plans.get(timeout=600)
        if plan is None:  # the run was called off
            return
        slot = size.window / size.bidders

        def healthz(http: requests.Session) -> requests.Response:
            return http.get(f"{url}/healthz", timeout=120)

        def submit(token: str, body: bytes) -> Callable[[requests.Session], requests.Response]:
            def send(http: requests.Session) -> requests.Response:
                return http.put(f"{url}/api/tenders/{tender}/lots/1/envelope", data=body, timeout=120,
                                headers={"Authorization": f"Bearer {token}",
                                         "Content-Type": "application/octet-stream"})
            return send

        baseline = _fire([(plan["baseline"] + (i + 0.5) * slot, i, healthz) for i in sealed], size.threads)
        outcome.baseline = [shot for shot, _ in baseline]
        rush = _fire([(plan["rush"] + (i + 0.5) * slot, i, submit(*sealed[i])) for i in sealed], size.threads)

        # After the deadline, as anyone would: fetch the published keys and check every receipt.
        time.sleep(max(0.0, plan["deadline"] + 0.5 - time.time()))
        http = requests.Session()
        jwks, vkeys = _published_keys(url, http)
        start = time.perf_counter()
        pdf_urls: list[tuple[int, str, str]] = []
        for shot, response in rush:
            if shot.status != 201 or response is None:
                outcome.rush.append(shot)
                continue
            answer = response.json()
            try:
                verify_receipt(answer["receipt"], jwks, vkeys)
                verified = True
            except VerificationError as exc:
                verified = False
                outcome.verify_failures.append(f"bidder {shot.index}: {exc}")
            pdf_urls.append((answer["bid"]["id"], sealed[shot.index][0], answer["receipt_pdf_api"]))
            submitted = dt.datetime.fromisoformat(answer["bid"]["submitted_at"]).timestamp()
            outcome.rush.append(Shot(shot.index, shot.due, shot.sent, shot.latency, shot.status,
                                     envelope=answer["bid"]["envelope_sha256"], verified=verified,
                                     submitted=submitted))
        outcome.verify_seconds = time.perf_counter() - start
        _fetch_pdfs(url, http, outcome, pdf_urls)
        results.put(("done", number, outcome))
    except BaseException:  # noqa: BLE001 - the parent reports it
        results.put(("error", number, traceback.format_exc()))


def _fetch_pdfs(url: str, http: requests.Session, outcome: WorkerResult, pdfs: list[tuple[int, str, str]],
                give_up: float = 900.0) -> None:
    """Fetch every accepted bid's PDF receipt through the API, as its bidder would, once it is made.

    The receipt job issues them in bid order after the commits; rather than have every bidder poll
    (which would load the server that is making them), wait for this process's newest bid's PDF
    (polling it every second), then fetch them all, going round again for any still answered 202.
    """
    start = time.perf_counter()
    deadline = time.monotonic() + give_up

    def get(token: str, path: str) -> requests.Response:
        return http.get(url + path, headers={"Authorization": f"Bearer {token}"}, timeout=120)

    waiting = sorted(pdfs)
    while waiting and time.monotonic() < deadline:
        _, token, path = waiting[-1]
        if get(token, path).status_code == 202:
            time.sleep(1.0)
            continue
        still = []
        for bid_id, token, path in waiting:
            response = get(token, path)
            if response.status_code == 200 and response.content.startswith(b"%PDF"):
                outcome.pdfs += 1
            elif response.status_code == 202:
                still.append((bid_id, token, path))
            else:
                outcome.pdf_failures.append(f"bid {bid_id}: {response.status_code} {response.text[:200]}")
        waiting = still
    outcome.pdf_waiting = len(waiting)
    outcome.pdf_seconds = time.perf_counter() - start


def _cpu_marks(pid: int, at: dict[str, float], out: dict[str, float]) -> None:
    """The server's CPU seconds at each named epoch time."""
    for name, when in sorted(at.items(), key=lambda item: item[1]):
        time.sleep(max(0.0, when - time.time()))
        out[name] = _cpu_seconds(pid)


def _percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of the values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _collect(results: Any, workers: list, kind: str, timeout: float) -> dict[int, Any]:
    """One `kind` message from every worker; a worker's error or death stops the run."""
    got: dict[int, Any] = {}
    give_up = time.monotonic() + timeout
    while len(got) < len(workers):
        try:
            what, number, payload = results.get(timeout=1)
        except queue.Empty:
            if time.monotonic() > give_up:
                raise RuntimeError(f"the load processes did not report {kind!r} in {timeout:.0f} s") from None
            dead = [w for w in workers if not w.is_alive() and w.exitcode not in (0, None)]
            if dead:
                raise RuntimeError(f"load process {dead[0].name} died ({dead[0].exitcode})") from None
            continue
        if what == "error":
            raise RuntimeError(f"load process {number} failed:\n{payload}")
        if what == kind:
            got[number] = payload
    return got


def _close_entry(server: Server, tender: int) -> tuple[dict[str, Any] | None, list[str], Any]:
    """The log's `tender.closed` entry for the tender, the export's lines, and the export's verification."""
    from signing.verify import verify_log_export

    lines = requests.get(f"{server.url}/api/log/export", timeout=120).text.splitlines()
    _, vkeys = _published_keys(server.url, requests.Session())
    checked = verify_log_export(lines, vkeys)
    for line in lines[1:]:
        entry = json.loads(line)
        if entry.get("event") == "tender.closed" and entry.get("subject") == {"tender": tender}:
            return entry, lines, checked
    return None, lines, checked


@benchmark("intake.rush", title="Deadline rush: bidders submitting small bids in the tender's last minute",
           comparison="ours: PUT .../envelope from 4 load processes at scheduled moments spread evenly over "
                      "the last minute before the deadline · reference: GET /healthz, as many requests at "
                      "the same schedule on the same server, in a window just before")
def deadline_rush(report: Report, quick: bool) -> None:
    size = QUICK_RUSH if quick else FULL_RUSH
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="ebid-bench-rush-") as tmp:
        work = Path(tmp)
        bidders_file = work / "bidders.json"
        setup_start = time.perf_counter()

        def prepare(env: dict[str, str]) -> None:
            _run_checked([sys.executable, "-c", CREATE_BIDDERS, str(size.bidders), str(bidders_file)], env,
                         "creating the bidders")

        with bench_database(work) as (database, database_note), \
                live_server(work, prepare, database=database) as server:
            setup_seconds = time.perf_counter() - setup_start
            bidders = json.loads(bidders_file.read_text(encoding="utf-8"))
            office = Api.login(server.url, "office", server.logins()["office"])
            placeholder = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
            tender, opening = _draft_tender(office, placeholder)

            plans, results = context.Queue(), context.Queue()
            workers = [context.Process(target=_rush_worker, name=f"rush-load-{n}", daemon=True,
                                       args=(n, server.url, tender, _b64(opening), bidders[n::size.processes],
                                             size, plans, results))
                       for n in range(size.processes)]
            for worker in workers:
                worker.start()
            try:
                _collect(results, workers, "ready", timeout=300)
                # Everyone is sealed and waiting: now fix the deadline, publish, and hand out the times.
                now = time.time()
                deadline_epoch = math.ceil(now + 2.0 + 2 * size.window + size.gap)
                deadline = dt.datetime.fromtimestamp(deadline_epoch, dt.UTC)
                published = _publish(office, tender, deadline)
                if dt.datetime.fromisoformat(published["submission_deadline"]) != deadline:
                    raise RuntimeError(f"the server kept the deadline as {published['submission_deadline']}")
                rush_start = deadline_epoch - size.window
                plan = {"baseline": rush_start - size.gap - size.window, "rush": rush_start,
                        "deadline": deadline_epoch}
                for _ in workers:
                    plans.put(plan)
                cpu: dict[str, float] = {}
                marks = threading.Thread(target=_cpu_marks, daemon=True, args=(
                    server.pid, {"baseline": plan["baseline"], "between": rush_start - size.gap / 2,
                                 "deadline": deadline_epoch + 2.0}, cpu))
                marks.start()
                done: dict[int, WorkerResult] = _collect(results, workers, "done",
                                                         timeout=deadline_epoch - time.time() + 600)
                cpu["end"] = _cpu_seconds(server.pid)
            finally:
                for _ in workers:
                    plans.put(None)  # a worker still waiting for its plan ends
                for worker in workers:
                    worker.join(timeout=30)
                    if worker.is_alive():
                        worker.terminate()
                        worker.join(timeout=10)

            closed = None
            give_up = time.monotonic() + 60
            while time.monotonic() < give_up:
                state = office.call("GET", f"/api/tenders/{tender}")["state"]
                if state != "published":
                    closed = state
                    break
                time.sleep(0.2)
            # The export ends at the latest signed checkpoint (one a minute, and one at the close): wait
            # until it holds a receipt PDF's entry for every accepted envelope, or two checkpoints.
            accepted = {shot.envelope for o in done.values() for shot in o.rush if shot.status == 201}
            give_up = time.monotonic() + 150
            while True:
                entry, lines, export = _close_entry(server, tender)
                if len(_issued_pdfs(lines, accepted)) >= len(accepted) or time.monotonic() > give_up:
                    break
                time.sleep(5)
            server_hwm = _status_kib(server.pid, "VmHWM")
            errors = server.errors()

    _rush_report(report, size, list(done.values()), deadline_epoch, tender, closed, entry, export,
                 setup_seconds, server_hwm, lines, cpu, database_note)
    _note_errors(report, errors)


def _rush_report(report: Report, size: RushSize, outcomes: list[WorkerResult], deadline: float, tender: int,
                 closed: str | None, entry: dict[str, Any] | None, export: Any, setup_seconds: float,
                 server_hwm: int, lines: list[str], cpu: dict[str, float], database: str) -> None:
    log_entries = len(lines) - 1
    rush = [shot for outcome in outcomes for shot in outcome.rush]
    baseline = [shot for outcome in outcomes for shot in outcome.baseline]
    accepted = [shot for shot in rush if shot.status == 201]
    refused = [shot for shot in rush if shot.status is not None and shot.status != 201]
    lost = [shot for shot in rush if shot.status != 201 and shot.sent < deadline]
    verified = sum(1 for shot in accepted if shot.verified)
    answered = [shot.latency for shot in rush if shot.status is not None]
    base_answered = [shot.latency for shot in baseline if shot.status == 200]

    for q in (50, 99):
        report.compare(f"rush submission latency, p{q}", _percentile(answered, q),
                       _percentile(base_answered, q), unit="seconds",
                       against="GET /healthz at the same schedule")
    if len(cpu) == 4:
        report.compare("server CPU per request", (cpu["deadline"] - cpu["between"]) / len(rush),
                       (cpu["between"] - cpu["baseline"]) / len(baseline), unit="seconds",
                       against="the same for GET /healthz")
    report.note(f"{size.bidders:,} bidders, one small envelope each ({len(rush)} submitted), due evenly over "
                f"the last {size.window:g} s before the deadline from {size.processes} load processes "
                f"({size.threads} threads each)")

    def by_code(shots: list[Shot]) -> str:
        counts = Counter(shot.code for shot in shots)
        return f" ({', '.join(f'{code} {n}' for code, n in counts.items())})" if shots else ""

    report.note(f"accepted {len(accepted):,}, refused {len(refused):,}{by_code(refused)}"
                + f", no answer {sum(1 for s in rush if s.status is None)}; "
                f"LOST (sent before the deadline, no 201): {len(lost)}{by_code(lost)}")
    for code in sorted({shot.code for shot in lost}, key=str):
        some = [shot for shot in lost if shot.code == code]
        early = max(some, key=lambda shot: deadline - shot.sent)
        report.note(f"  lost as {code}: {len(some)}, sent up to {deadline - early.sent:.1f} s before the "
                    f"deadline and answered after {early.latency:.1f} s ({early.status}: {early.problem})")
    if len(cpu) == 4:
        report.note("server CPU per request: the server process's CPU time from between the windows to 2 s "
                    "after the deadline (the close job included), over the submissions; the same over the "
                    f"/healthz window for the reference; afterwards, issuing the PDF receipts and answering "
                    f"their fetches: {(cpu['end'] - cpu['deadline']) / max(1, len(accepted)) * 1000:,.1f} ms "
                    "of CPU per accepted envelope")
    failures = [f for outcome in outcomes for f in outcome.verify_failures]
    report.note(f"receipts verified (ES256 signature, entry, inclusion proof, signed checkpoint) in the "
                f"load processes after the deadline: {verified:,} of {len(accepted):,}"
                + (f"; first failure: {failures[0]}" if failures else ""))
    if accepted:
        last = max(shot.submitted or math.inf for shot in accepted)
        report.note(f"every accepted envelope was received before the deadline by the server's clock: "
                    f"{'yes' if last < deadline else 'NO'} (the last {(deadline - last) * 1000:,.0f} ms "
                    "before it)")
    hashes = sorted(shot.envelope for shot in accepted if shot.envelope)
    listed = entry["data"]["envelopes"].get("1", []) if entry else None
    if entry is None:
        report.note(f"the tender is {closed or 'still published'}; NO tender.closed entry in the log export")
    else:
        late = (dt.datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp() - deadline)
        report.note(f"tender.closed (log entry {entry['index']}, {late * 1000:,.0f} ms after the deadline) "
                    f"lists {len(listed):,} envelopes: "
                    + ("exactly the accepted ones" if listed == hashes else
                       f"NOT the accepted ones ({len(set(listed) - set(hashes))} unknown, "
                       f"{len(set(hashes) - set(listed))} missing)"))
    _pdf_notes(report, outcomes, accepted, lines, deadline)
    report.note(f"the log export ({log_entries:,} entries) verifies: tree size {export.tree_size:,}")
    lag = [shot.sent - shot.due for shot in rush + baseline]
    report.note(f"schedule kept: requests went at most {max(lag) * 1000:,.1f} ms after their due time "
                f"(median {statistics.median(lag) * 1000:.2f} ms)")
    report.note(f"medians: rush {statistics.median(answered) * 1000:,.1f} ms, /healthz "
                f"{statistics.median(base_answered) * 1000:,.2f} ms; slowest: rush "
                f"{max(answered) * 1000:,.0f} ms, /healthz {max(base_answered) * 1000:,.0f} ms; "
                f"{len(base_answered)} of {len(baseline)} /healthz answered 200")
    sealing = max(o.sealing_seconds for o in outcomes)
    report.note(f"sealing beforehand in the load processes: {sealing:.1f} s; "
                f"verifying the receipts afterwards: {max(o.verify_seconds for o in outcomes):.1f} s; "
                f"setup (migrations, keys, {size.bidders:,} bidders and their keys) {setup_seconds:.1f} s; "
                f"server peak RSS {server_hwm / MIB:.0f} MiB")
    report.note(f"the server: `python wsgi.py` (Werkzeug threads, the clock's jobs in a thread of the same "
                f"process: the close, and the PDF receipts after the commits) on {database}; "
                "everything on the same 127.0.0.1")


def _pdf_notes(report: Report, outcomes: list[WorkerResult], accepted: list[Shot], lines: list[str],
               deadline: float) -> None:
    """What happened to the PDF receipts: issued (the log) and fetched (the load processes)."""
    issued = _issued_pdfs(lines, {shot.envelope for shot in accepted})
    fetched = sum(o.pdfs for o in outcomes)
    waiting = sum(o.pdf_waiting for o in outcomes)
    failures = [f for o in outcomes for f in o.pdf_failures]
    if issued:
        before = sum(1 for t in issued if t < deadline)
        report.note(f"PDF receipts, issued after the commits by the clock's job: {len(issued):,} of "
                    f"{len(accepted):,} in the log ({before:,} before the deadline, the last "
                    f"{max(issued) - deadline:,.1f} s after it); fetched through the API by the load "
                    f"processes: {fetched:,} PDFs"
                    + (f", {waiting} still 202 when they gave up" if waiting else "")
                    + (f"; {len(failures)} failed, first: {failures[0]}" if failures else ""))
    else:
        report.note(f"NO PDF receipt was issued for the {len(accepted):,} accepted envelopes")


def _issued_pdfs(lines: list[str], envelopes: set[str | None]) -> list[float]:
    """When each PDF receipt of these envelopes was issued, from a log export (epoch seconds)."""
    issued = []
    for line in lines[1:]:
        entry = json.loads(line)
        if entry.get("event") == "document.issued" and entry["subject"].get("envelope") in envelopes:
            issued.append(dt.datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp())
    return issued
