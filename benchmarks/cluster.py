"""Issue 13's production topology, measured: a busy morning on the cluster, beside bare python-socketio.

The platform runs as `python -m deploy.cluster up` starts it (PostgreSQL, Redis as the Socket.IO message
queue and the job broker, `WORKERS` web processes each a gunicorn with one worker, job workers, the
scheduler), brought up for the run and taken down after it. The reference is the bare baseline,
`benchmarks/bare_socketio.py`: python-socketio alone, under the same gunicorn worker class, as many
processes, each on its own port, on the same Redis server as its message queue (its own channel). The
clients are spread over the web processes' own ports (the launcher's cluster.json lists them), in
load-generating processes of their own (python-socketio's AsyncClient on aiohttp, over WebSocket).
Every scenario runs the platform and then the reference with the same clients in the same run.

1. Busy morning: `tenders` tenders closed on `bids` bids each open at once (the host starts each opening,
   the bidders check in and hand over their data keys through the JSON API, the job workers decrypt);
   `watchers` public watchers in the rooms. Latency runs from each announcement's commit (the bid's
   `opened_at`, written in the transaction that announces it, so a little before the commit itself) to
   its arrival at each watcher of that tender; announcements missed are counted. The reference replays
   what the platform's rooms received (every event, then "state" as large), at the same moments, through
   the Redis queue from outside the web processes, as the job workers publish; its announcements carry
   the moment they were emitted.
2. Reconnect storm: every watcher drops and rejoins within `storm_window` seconds; settled when the last
   one has its "state" again; each state is checked against the tender's snapshot from the API.
3. Evaluation rooms: `panels` panels of `experts` experts score at once (`benchmarks.evaluation_room`'s
   load, each panel on one web process, round the ports); emit to acknowledgement.
4. Deadline rush: `rush_bids` bids in the last `rush_window` seconds across `rush_tenders` tenders
   (`benchmarks.intake`'s rush workers, one load process per tender, each on a web process's port):
   lost submissions (sent before the deadline, no receipt) and receipts that do not verify. Its
   reference is the rush workers' own: GET /healthz at the same schedule, just before.
5. Memory and threads per connected watcher: the web processes' resident set and thread count (the
   gunicorn master and its worker) before the watchers connect and once they all have joined.
6. The worker class: scenarios 1-3 and 5 under each class in `EBID_BENCH_CLUSTER_CLASSES` (default
   gevent and gthread; `--quick`: gevent), the reference under the same class each time.

Settings: `EBID_BENCH_CLUSTER_WORKERS` (web processes, default 2), `EBID_BENCH_CLUSTER_CLASSES`,
`EBID_BENCH_CLUSTER_SCENARIOS` (any of morning, storm, evaluation, rush; default all),
`EBID_BENCH_CLUSTER_DIR` (measure the cluster already running there, started with BENCH_ENV's settings
as `--env`, and leave it running). Without the launcher (no deploy/cluster.py), or with
`EBID_BENCH_CLUSTER=single`, the platform runs as one `python wsgi.py` and the reference as one process,
said so in the notes. Nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import gc
import hashlib
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from benchmarks import benchmark
from benchmarks.common import Report

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
MIB = 1 << 20
NAMESPACE = "/opening"
#: The announcements measured: one per bid, when its decryption's outcome is committed.
ANNOUNCEMENTS = ("opening.bid_opened", "opening.bid_failed", "opening.platform_fault")
#: What the platform processes need for a run measured in minutes (as `make run` shrinks the periods),
#: and sign-in and upload limits that a few hundred clients from one address would otherwise hit.
BENCH_ENV = {
    "MIN_BIDDING_PERIOD": "5",
    "MIN_AMENDMENT_NOTICE": "1",
    "API_TOKEN_LIFETIME": "7200",
    "SIGN_IN_RATE_LIMIT": "100000/minute",
    "UPLOAD_START_RATE_LIMIT": "100000/minute",
    "SESSION_COOKIE_SECURE": "0",
}
#: Threads of a gthread worker (each open websocket holds one), for the reference and the platform.
GTHREADS = 1200


@dataclass(frozen=True)
class Size:
    tenders: int
    bids: int
    watchers: int
    watcher_processes: int
    storm_window: float
    panels: int
    experts: int
    panel_bids: int
    panel_processes: int
    rush_bids: int
    rush_tenders: int
    rush_window: float


FULL = Size(tenders=20, bids=20, watchers=1000, watcher_processes=4, storm_window=1.0, panels=5, experts=25,
            panel_bids=4, panel_processes=2, rush_bids=5000, rush_tenders=20, rush_window=60.0)
QUICK = Size(tenders=2, bids=3, watchers=40, watcher_processes=2, storm_window=1.0, panels=2, experts=5,
             panel_bids=2, panel_processes=1, rush_bids=40, rush_tenders=2, rush_window=10.0)
SCENARIOS = ("morning", "storm", "evaluation", "rush")
#: Bidder companies made in the platform's database before a scenario (`benchmarks.intake`'s maker).
CREATE_BIDDERS = """
import sys
from benchmarks.intake import create_bidders
create_bidders(int(sys.argv[1]), sys.argv[2], first=int(sys.argv[3]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    from benchmarks.intake import _percentile as nearest_rank

    return nearest_rank(values, q) if values else math.nan


def _wait_healthy(url: str, alive: Callable[[], bool], what: str, timeout: float = 90) -> None:
    give_up = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if not alive() or time.monotonic() > give_up:
            raise RuntimeError(f"{what} did not answer /healthz at {url}")
        time.sleep(0.2)


# --- process figures ----------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """The process and its descendants (a gunicorn master and its worker)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                parent = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _figures(pids: list[int]) -> tuple[int, int]:
    """Resident bytes and threads of these processes and their descendants, summed."""
    rss = threads = 0
    for root in pids:
        for pid in _tree(root):
            try:
                with open(f"/proc/{pid}/status", encoding="ascii") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            rss += int(line.split()[1]) * 1024
                        elif line.startswith("Threads:"):
                            threads += int(line.split()[1])
            except OSError:
                continue
    return rss, threads


# --- the two topologies -------------------------------------------------------------------------------


@dataclass
class Target:
    """Where the clients go: the web processes' own URLs, and how to reach what stands behind them."""

    name: str
    web: list[str]
    pids: Callable[[], list[int]]
    redis_url: str | None
    env: dict[str, str] = field(default_factory=dict)  # for scripts run against its database
    instance: Path | None = None
    description: str = ""
    made: dict[str, Any] = field(default_factory=dict)  # what a scenario made for another to reuse

    @property
    def url(self) -> str:
        return self.web[0]

    def logins(self) -> dict[str, str]:
        """The demo accounts' passwords by username (`flask demo seed` writes them)."""
        assert self.instance is not None
        entries = json.loads((self.instance / "demo-logins.json").read_text(encoding="utf-8"))
        return {e["username"]: e["password"] for e in entries}

    def at(self, n: int) -> str:
        """The n-th client's web process, round the ports."""
        return self.web[n % len(self.web)]


def launcher_available() -> bool:
    """The launcher is there and not set aside (EBID_BENCH_CLUSTER=single: one process, for a quick look)."""
    return (ROOT / "deploy" / "cluster.py").is_file() and os.environ.get("EBID_BENCH_CLUSTER") != "single"


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


def _launcher(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "deploy.cluster", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"deploy.cluster {args[0]} failed ({done.returncode}):\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done


@contextmanager
def platform_cluster(work: Path, worker_class: str, workers: int) -> Iterator[Target]:
    """The platform as the launcher runs it, up for the block and down after it (also on error).

    With EBID_BENCH_CLUSTER_DIR, the cluster already running there instead (started with the settings in
    BENCH_ENV as --env), left running."""
    existing = os.environ.get("EBID_BENCH_CLUSTER_DIR")
    directory = Path(existing) if existing else work / f"cluster-{worker_class}"
    # a loaded machine may take minutes to import the application in each process
    env = {"EBID_CLUSTER_START_TIMEOUT": "900", **os.environ, "PYTHONUNBUFFERED": "1"}
    extra = [f"--env={key}={value}" for key, value in {**BENCH_ENV, "WEB_THREADS": str(GTHREADS)}.items()]
    try:
        if not existing:
            _launcher("up", "--dir", str(directory), "--workers", str(workers), "--job-workers", "2",
                      "--worker-class", worker_class, "--detach", *extra, env=env, timeout=1800)
        info = json.loads((directory / "cluster.json").read_text(encoding="utf-8"))
        settings = _read_env_file(Path(info["env_file"]))
        script_env = {**env, **settings, **BENCH_ENV, "EBID_SCHEDULER": "off"}
        instance = Path(settings.get("EBID_INSTANCE") or directory / "instance")

        def pids() -> list[int]:
            found = []
            for web in info["web"]:
                done = _launcher("ctl", "--dir", str(directory), "pid", web["name"], env=env, timeout=60)
                found.append(int(done.stdout.strip().split()[-1]))
            return found

        used = info.get("worker_class", worker_class)
        yield Target(f"platform ({used})", [w["url"] for w in info["web"]], pids,
                     info.get("redis_url"), script_env, instance,
                     f"the cluster (deploy.cluster): {len(info['web'])} web processes (gunicorn -w 1 -k "
                     f"{used}), {len(info.get('job_workers', []))} job workers, PostgreSQL, Redis")
    finally:
        if not existing and (directory / "cluster.json").exists():
            try:
                _launcher("down", "--dir", str(directory), env=env, timeout=300)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"deploy.cluster down failed: {exc}", file=sys.stderr)


@contextmanager
def platform_single(work: Path) -> Iterator[Target]:
    """Without the launcher: the platform as `make run` runs it, one process (no message queue)."""
    from benchmarks.intake import live_server

    saved = {k: os.environ.get(k) for k in BENCH_ENV}
    os.environ.update(BENCH_ENV)  # live_server passes the environment on
    try:
        captured: dict[str, str] = {}
        with live_server(work, captured.update) as server:
            yield Target("platform (one process)", [server.url], lambda: [server.pid], None,
                         {**captured, "EBID_SCHEDULER": "off"}, server.instance,
                         "one process, `python wsgi.py` (the launcher deploy/cluster.py is not there)")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def own_redis(work: Path) -> Iterator[str | None]:
    """A Redis server of our own for the reference when there is no cluster (None without redis-server)."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = _free_port()
    folder = work / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(  # noqa: S603 - Debian's redis-server
        [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        give_up = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > give_up:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.1)
        yield f"redis://{HOST}:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def bare_servers(work: Path, worker_class: str, count: int, redis_url: str | None) -> Iterator[Target]:
    """`count` bare python-socketio servers, each one gunicorn with one worker of `worker_class`."""
    payloads = work / "bare-payloads.json"
    env = {**os.environ, "EBID_BARE_PAYLOADS": str(payloads), "PYTHONUNBUFFERED": "1"}
    if redis_url:
        env["EBID_BARE_REDIS"] = redis_url
    threads = ["--threads", str(GTHREADS)] if worker_class == "gthread" else []
    processes: list[subprocess.Popen] = []
    urls = []
    try:
        for n in range(count):
            port = _free_port()
            log = (work / f"bare-{worker_class}-{n + 1}.log").open("wb")
            processes.append(subprocess.Popen(  # noqa: S603 - our own interpreter and app
                [sys.executable, "-m", "gunicorn", "-k", worker_class, "-w", "1", *threads,
                 "--timeout", "300", "-b", f"{HOST}:{port}", "benchmarks.bare_socketio:app"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            log.close()
            urls.append(f"http://{HOST}:{port}")
        for url, process in zip(urls, processes, strict=True):
            _wait_healthy(url, lambda p=process: p.poll() is None, "the bare server")
        yield Target(f"bare ({worker_class})", urls, lambda: [p.pid for p in processes], redis_url,
                     {"payloads": str(payloads)},
                     description=f"{count} × gunicorn -w 1 -k {worker_class} benchmarks.bare_socketio:app"
                                 + (" on the same Redis (its own channel)" if redis_url else ", no Redis"))
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _write_payloads(target: Target, **values: Any) -> None:
    path = Path(target.env["payloads"])
    current = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    current.update(values)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


# --- the watchers -------------------------------------------------------------------------------------


def _bids_digest(state: Any) -> str | None:
    """What a watcher must have right after a reconnect: every bid's state (a short hash of it)."""
    if not isinstance(state, dict) or not isinstance(state.get("bids"), list):
        return None
    bids = sorted((str(b.get("bid")), str(b.get("state")), str(b.get("price"))) for b in state["bids"]
                  if isinstance(b, dict))
    return hashlib.sha256(json.dumps(bids).encode()).hexdigest()[:16]


def _watcher_process(number: int, assignments: list[tuple[str, int]], commands: Any, results: Any) -> None:
    """Watchers in one process: (url, tender) each; commands: report, storm, stop."""
    try:
        asyncio.run(_watch(number, assignments, commands, results))
    except BaseException:  # noqa: BLE001 - the parent reports it
        results.put(("error", number, traceback.format_exc()))


@dataclass
class _Watcher:
    url: str
    tender: int
    recorder: bool  # the tender's first watcher keeps the room's transcript (the reference replays it)
    sio: Any = None
    seen: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    state: Any = None
    state_at: float = 0.0
    transcript: list[tuple[float, str, Any]] = field(default_factory=list)


async def _close(sio: Any) -> None:
    """Disconnect, and close the client's HTTP session (python-socketio leaves aiohttp's open)."""
    await sio.disconnect()
    http = getattr(sio.eio, "http", None)
    if http is not None and not http.closed:
        await http.close()


async def _watch(number: int, assignments: list[tuple[str, int]], commands: Any, results: Any) -> None:
    import socketio

    recorded: set[int] = set()
    watchers = []
    for url, tender in assignments:  # each process's first watcher of a tender keeps its transcript
        watchers.append(_Watcher(url, tender, recorder=tender not in recorded))
        recorded.add(tender)

    def handler(watcher: _Watcher) -> Callable:
        async def anything(event: str, data: Any = None) -> None:
            now = time.time()
            if watcher.recorder:
                watcher.transcript.append((now, event, data))
            if event == "state":
                watcher.state, watcher.state_at = data, now
            elif event in ANNOUNCEMENTS and isinstance(data, dict):
                key = f"{watcher.tender}:{data.get('bid')}"
                if key in watcher.seen:
                    watcher.duplicates += 1
                else:
                    watcher.seen[key] = now
        return anything

    gate = asyncio.Semaphore(20)  # the first connections, a few at a time (the storm's are not held back)

    async def connect(watcher: _Watcher, gated: bool = True) -> None:
        sio = socketio.AsyncClient(reconnection=False)
        sio.on("*", handler(watcher), namespace=NAMESPACE)
        async with gate if gated else contextlib.nullcontext():
            await sio.connect(watcher.url, namespaces=[NAMESPACE], transports=["websocket"], wait_timeout=120)
            answer = await sio.call("join", {"tender": watcher.tender}, namespace=NAMESPACE, timeout=120)
        if not (isinstance(answer, dict) and answer.get("ok")):
            raise RuntimeError(f"join refused: {answer}")
        watcher.sio = sio

    began = time.time()
    await asyncio.gather(*(connect(w) for w in watchers))
    results.put(("ready", number, (began, time.time())))
    loop = asyncio.get_running_loop()
    while True:
        command, argument = await loop.run_in_executor(None, commands.get)
        if command == "report":
            results.put(("report", number, {
                "seen": [(w.tender, w.seen) for w in watchers],
                "duplicates": sum(w.duplicates for w in watchers),
                "transcripts": {w.tender: w.transcript for w in watchers if w.recorder},
            }))
        elif command == "storm":
            start, window = argument

            async def rejoin(watcher: _Watcher, start: float, window: float
                             ) -> tuple[int, float | None, str | None, str | None]:
                await asyncio.sleep(max(0.0, start + random.random() * window - time.time()))  # noqa: S311
                try:
                    await _close(watcher.sio)
                    watcher.state, watcher.state_at = None, 0.0
                    await connect(watcher, gated=False)
                    give_up = time.time() + 120
                    while watcher.state is None and time.time() < give_up:
                        await asyncio.sleep(0.01)
                except Exception as exc:  # noqa: BLE001 - counted as not back
                    return watcher.tender, None, None, f"{type(exc).__name__}: {exc}"
                if watcher.state is None:
                    return watcher.tender, None, None, "no state after rejoining"
                return watcher.tender, watcher.state_at, _bids_digest(watcher.state), None

            back = await asyncio.gather(*(rejoin(w, start, window) for w in watchers))
            results.put(("storm", number, back))
        elif command == "stop":
            for watcher in watchers:
                if watcher.sio is not None:
                    await _close(watcher.sio)
            watchers.clear()
            gc.collect()  # aiohttp's responses let go of their connections while the loop still runs
            await asyncio.sleep(0.5)
            results.put(("stopped", number, None))
            return


class Watchers:
    """The watcher processes of one run: start, command, collect."""

    def __init__(self, target: Target, tenders: list[int], size: Size) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.results = self.context.Queue()
        self.commands = [self.context.Queue() for _ in range(size.watcher_processes)]
        shares: list[list[tuple[str, int]]] = [[] for _ in range(size.watcher_processes)]
        for n in range(size.watchers):
            shares[n % size.watcher_processes].append((target.at(n), tenders[n % len(tenders)]))
        # the first process holds a watcher of every tender: it keeps the transcripts
        self.per_tender = {t: sum(1 for n in range(size.watchers) if tenders[n % len(tenders)] == t)
                           for t in tenders}
        self.processes = [self.context.Process(target=_watcher_process, name=f"cluster-watchers-{n}",
                                               daemon=True, args=(n, share, self.commands[n], self.results))
                          for n, share in enumerate(shares)]

    def start(self, timeout: float = 900) -> float:
        """Start the processes; seconds from the first watcher's connecting to the last one's joining."""
        for process in self.processes:
            process.start()
        spans = self.collect("ready", timeout).values()
        return max(end for _, end in spans) - min(start for start, _ in spans)

    def collect(self, kind: str, timeout: float) -> dict[int, Any]:
        from benchmarks.intake import _collect

        return _collect(self.results, self.processes, kind, timeout)

    def ask(self, command: str, argument: Any = None, reply: str = "", timeout: float = 600
            ) -> dict[int, Any]:
        for commands in self.commands:
            commands.put((command, argument))
        return self.collect(reply or command, timeout)

    def close(self) -> None:
        for process in self.processes:
            if process.is_alive():
                for commands in self.commands:
                    commands.put(("stop", None))
                break
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)


# --- 1. the busy morning ------------------------------------------------------------------------------


class _Site:
    """What `benchmarks.opening`'s tender maker needs of a server: its URL and the demo logins."""

    def __init__(self, target: Target, url: str) -> None:
        self.url = url
        self.logins = target.logins


def _run_script(script: str, args: list[str], env: dict[str, str], what: str) -> None:
    from benchmarks.intake import _run_checked

    _run_checked([sys.executable, "-c", script, *args], env, what)


def bidders_of(target: Target, work: Path, count: int) -> list[dict[str, Any]]:
    """`count` bidder companies on this target, shared by the scenarios (more are made when needed)."""
    made = target.made.setdefault("bidders", [])
    if len(made) < count:
        out = work / f"bidders-{len(made)}.json"
        # numbered apart from any other run's on the same database (a cluster kept running)
        first = int(time.time()) % 900 * 10_000 + len(made)  # credit codes hold 7 digits of it
        _run_script(CREATE_BIDDERS, [str(count - len(made)), str(out), str(first)], target.env,
                    "creating the bidders")
        made += json.loads(out.read_text(encoding="utf-8"))
    return made[:count]


def closed_tenders(target: Target, work: Path, size: Size) -> list[tuple[int, dict[str, Any]]]:
    """`size.tenders` tenders closed on `size.bids` bids each (from as many bidders), made at once."""
    from benchmarks.opening import FanoutSize, _closed_tender

    bidders = bidders_of(target, work, size.bids)
    shape = FanoutSize(watchers=0, bidders=size.bids, lots=1, processes=1, gap=0)
    failures = target.made.setdefault("setup_failures", [])

    def one(n: int) -> tuple[int, dict[str, Any]]:
        for _attempt in range(3):  # a refused setup step is noted and the tender made again
            try:
                return _closed_tender(_Site(target, target.at(n)), bidders, shape)
            except RuntimeError as exc:
                failures.append(str(exc).split("\n")[0][:200])
        return _closed_tender(_Site(target, target.at(n)), bidders, shape)

    # a few at a time: each must have its envelopes in within seconds (benchmarks.opening sets the deadline)
    with concurrent.futures.ThreadPoolExecutor(min(size.tenders, 4)) as pool:
        return list(pool.map(one, range(size.tenders)))


def _open_all(target: Target, made: list[tuple[int, dict[str, Any]]]) -> float:
    """Every opening at once: the host starts it, each bidder checks in and hands over its key."""
    from benchmarks.intake import Api

    def one(n: int, tender: int, plan: dict[str, Any]) -> None:
        url = target.at(n)
        Api(url, plan["host_token"]).call("POST", f"/api/tenders/{tender}/opening/start")
        for bidder in plan["bidders"]:
            api = Api(url, bidder["token"])
            api.call("POST", f"/api/tenders/{tender}/opening/check-in")
            for bid in bidder["bids"]:
                api.call("POST", f"/api/tenders/{tender}/opening/bids/{bid['id']}/key",
                         json={"data_key": bid["data_key"]}, expect=(200, 201, 202))

    began = time.time()
    with concurrent.futures.ThreadPoolExecutor(len(made)) as pool:
        for future in [pool.submit(one, n, tender, plan) for n, (tender, plan) in enumerate(made)]:
            future.result()
    return began


def _snapshots(target: Target, tenders: list[int]) -> dict[int, dict[str, Any]]:
    return {t: requests.get(f"{target.at(n)}/api/tenders/{t}/opening", timeout=60).json()
            for n, t in enumerate(tenders)}


def _announced(snapshot: dict[str, Any]) -> dict[int, float]:
    """Each decided bid's commit moment (its `opened_at`; a failed one has none and is not timed)."""
    return {int(b["bid"]): dt.datetime.fromisoformat(b["opened_at"]).timestamp()
            for b in snapshot.get("bids", []) if b.get("opened_at")}


@dataclass
class MorningRun:
    latencies: list[float]
    missing: int
    expected: int
    duplicates: int
    connect_seconds: float
    span: float  # first commit to last commit
    idle: tuple[int, int]  # rss, threads before the watchers
    loaded: tuple[int, int]  # with every watcher joined
    storm: StormRun | None = None
    notes: list[str] = field(default_factory=list)
    watchers: int = 0

    def per_watcher(self) -> tuple[float, float]:
        """Resident bytes and threads the web processes grew by, per connected watcher."""
        count = max(1, self.watchers)
        return (self.loaded[0] - self.idle[0]) / count, (self.loaded[1] - self.idle[1]) / count


@dataclass
class StormRun:
    settle: float
    back: int
    wrong: int
    failed: list[str]


def _storm(watchers: Watchers, window: float, expected: Callable[[], dict[int, str | None]]) -> StormRun:
    """Every watcher drops and rejoins; its state must be the tender's as the API gives it before or after
    (a window's end may change a bid meanwhile)."""
    before = expected()
    start = time.time() + 1.0
    got = watchers.ask("storm", (start, window), timeout=600)
    after = expected()
    back = [item for part in got.values() for item in part]
    times = [at for _, at, _, _ in back if at is not None]
    wrong = sum(1 for tender, at, digest, _ in back
                if at is not None and digest not in (before.get(tender), after.get(tender)))
    failed = [problem for _, _, _, problem in back if problem]
    return StormRun(max(times) - start if times else math.nan, len(times), wrong, failed)


def morning_platform(target: Target, work: Path, size: Size, storm: bool) -> tuple[MorningRun, dict]:
    """The platform's morning (and storm); also what the reference replays."""
    made = closed_tenders(target, work, size)
    tenders = [tender for tender, _ in made]
    watchers = Watchers(target, tenders, size)
    try:
        idle = _figures(target.pids())
        connect = watchers.start()
        time.sleep(1.0)
        loaded = _figures(target.pids())
        began = _open_all(target, made)
        give_up = time.monotonic() + 120 + 3 * size.tenders * size.bids
        progress = (-1, time.monotonic())
        while True:  # until every bid is decided, or nothing moves for a minute
            snapshots = _snapshots(target, tenders)
            decided = sum(len(_announced(s)) for s in snapshots.values())
            if decided != progress[0]:
                progress = (decided, time.monotonic())
            if (decided >= size.tenders * size.bids or time.monotonic() > give_up
                    or time.monotonic() - progress[1] > 60):
                break
            time.sleep(0.5)
        time.sleep(3.0)  # the last announcements reach every watcher
        report = watchers.ask("report")
        storm_run = None
        if storm:
            storm_run = _storm(watchers, size.storm_window,
                               lambda: {t: _bids_digest(s) for t, s in _snapshots(target, tenders).items()})
    finally:
        watchers.close()
    commits = {f"{t}:{bid}": at for t, s in snapshots.items() for bid, at in _announced(s).items()}
    run = _match(report, commits, watchers.per_tender, connect, idle, loaded)
    run.storm = storm_run
    run.watchers = size.watchers
    states = sorted({str(b.get("state")) for s in snapshots.values() for b in s.get("bids", [])})
    for failure in sorted(set(target.made.get("setup_failures", []))):
        count = target.made["setup_failures"].count(failure)
        run.notes.append(f"SETUP REFUSED ×{count} (the tender made again): {failure}")
    run.notes.append(f"{decided} of {size.tenders * size.bids} bids decided ({', '.join(states)}) "
                     f"{max(commits.values(), default=began) - began:.1f} s after the first action")
    transcripts = {t: v for part in report.values() for t, v in part["transcripts"].items()}
    sample = next(iter(snapshots.values()))
    return run, {"transcripts": transcripts, "commits": commits, "tenders": tenders, "state": sample,
                 "expected": {t: _bids_digest(s) for t, s in snapshots.items()}}


def _match(report: dict[int, Any], commits: dict[str, float], per_tender: dict[int, int], connect: float,
           idle: tuple[int, int], loaded: tuple[int, int]) -> MorningRun:
    latencies, received = [], 0
    for part in report.values():
        for _tender, seen in part["seen"]:
            for key, at in seen.items():
                if key in commits:
                    latencies.append(at - commits[key])
                    received += 1
    expected = sum(per_tender[int(key.split(":")[0])] for key in commits)
    duplicates = sum(part["duplicates"] for part in report.values())
    span = (max(commits.values()) - min(commits.values())) if commits else math.nan
    return MorningRun(latencies, expected - received, expected, duplicates, connect, span, idle, loaded)


def _replay(redis_url: str | None, target: Target, recorded: dict, emitted: dict[str, float]) -> None:
    """What the platform's rooms received, sent again at the same moments through the bare queue."""
    from benchmarks.bare_socketio import OPENING, emitter

    manager = emitter(redis_url) if redis_url else None
    if manager is None:
        raise RuntimeError("the reference needs Redis (redis-server) for its emitter")
    schedule = []
    commits = recorded["commits"]
    for tender, transcript in recorded["transcripts"].items():
        for at, event, data in transcript:
            key = f"{tender}:{data.get('bid')}" if event in ANNOUNCEMENTS and isinstance(data, dict) else None
            schedule.append((commits.get(key, at) if key else at, tender, event, data, key))
    schedule.sort(key=lambda item: item[0])
    if not schedule:
        raise RuntimeError("the platform's rooms received nothing to replay")
    shift = time.time() + 2.0 - schedule[0][0]
    for at, tender, event, data, key in schedule:
        time.sleep(max(0.0, at + shift - time.time()))
        if key:
            emitted[key] = time.time()
        manager.emit(event, data, namespace=OPENING, room=f"tender:{tender}")


def morning_bare(target: Target, size: Size, recorded: dict, storm: bool) -> MorningRun:
    _write_payloads(target, opening_state=recorded["state"])
    tenders = recorded["tenders"]
    watchers = Watchers(target, tenders, size)
    try:
        idle = _figures(target.pids())
        connect = watchers.start()
        time.sleep(1.0)
        loaded = _figures(target.pids())
        emitted: dict[str, float] = {}
        _replay(target.redis_url, target, recorded, emitted)
        time.sleep(3.0)
        report = watchers.ask("report")
        storm_run = None
        if storm:
            digest = _bids_digest(recorded["state"])
            storm_run = _storm(watchers, size.storm_window, lambda: dict.fromkeys(tenders, digest))
    finally:
        watchers.close()
    run = _match(report, emitted, watchers.per_tender, connect, idle, loaded)
    run.storm = storm_run
    run.watchers = size.watchers
    return run


# --- 3. the evaluation rooms --------------------------------------------------------------------------


def _panels(target: Target, work: Path, size: Size) -> list[dict[str, Any]]:
    from benchmarks.evaluation_room import PASSWORD, SEED

    made = []
    for n in range(size.panels):
        out = work / f"panel-{n}.json"
        _run_script(SEED, [str(size.experts), str(size.panel_bids), PASSWORD, str(out)], target.env,
                    "seeding an evaluation room")
        made.append(json.loads(out.read_text(encoding="utf-8")))
    return made


def _payloads_of(target: Target, made: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.evaluation_room import PASSWORD

    token = requests.post(f"{target.url}/api/auth/token", timeout=60,
                          json={"username": made["experts"][0], "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    base = f"{target.url}/api/evaluation/panels/{made['panel']}"
    return {"state": requests.get(base, headers=headers, timeout=60).json(),
            "sheet": requests.get(f"{base}/sheet", headers=headers, timeout=60).json()}


def rooms(target: Target, panels: list[dict[str, Any]], size: Size, password: str | None
          ) -> tuple[list[float], list[str], float]:
    """Every panel scoring at once, panel n on web process n (round the ports)."""
    from benchmarks.evaluation_room import _drive

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(len(panels)) as pool:
        futures = [pool.submit(_drive, target.at(n), made, password, size.panel_processes, 1)
                   for n, made in enumerate(panels)]
        results = [future.result() for future in futures]
    return ([v for r in results for v in r[0]], [e for r in results for e in r[1]],
            time.perf_counter() - began)


# --- 4. the deadline rush -----------------------------------------------------------------------------


def rush(target: Target, work: Path, size: Size, report: Report) -> None:
    """`rush_bids` envelopes in the last `rush_window` seconds over `rush_tenders` tenders."""
    from benchmarks.intake import (
        Api,
        RushSize,
        _b64,
        _collect,
        _draft_tender,
        _publish,
        _rush_worker,
    )

    made = bidders_of(target, work, size.rush_bids)
    bidders = [{**bidder, "index": n} for n, bidder in enumerate(made)]
    office = Api.login(target.url, "office", target.logins()["office"])
    placeholder = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    tenders = [_draft_tender(office, placeholder) for _ in range(size.rush_tenders)]
    shape = RushSize(bidders=size.rush_bids, window=size.rush_window, processes=size.rush_tenders,
                     gap=3.0 if size.rush_window >= 30 else 2.0)
    context = multiprocessing.get_context("spawn")
    plans, results = context.Queue(), context.Queue()
    workers = [context.Process(target=_rush_worker, name=f"cluster-rush-{n}", daemon=True,
                               args=(n, target.at(n), tender, _b64(opening), bidders[n::size.rush_tenders],
                                     shape, plans, results))
               for n, (tender, opening) in enumerate(tenders)]
    for worker in workers:
        worker.start()
    try:
        _collect(results, workers, "ready", timeout=900)
        deadline_epoch = math.ceil(time.time() + 5.0 + 2 * shape.window + shape.gap)
        deadline = dt.datetime.fromtimestamp(deadline_epoch, dt.UTC)
        for tender, _ in tenders:
            _publish(office, tender, deadline)
        rush_start = deadline_epoch - shape.window
        plan = {"baseline": rush_start - shape.gap - shape.window, "rush": rush_start,
                "deadline": deadline_epoch}
        for _ in workers:
            plans.put(plan)
        done = _collect(results, workers, "done", timeout=deadline_epoch - time.time() + 1200)
    finally:
        for _ in workers:
            plans.put(None)
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=10)
    shots = [shot for outcome in done.values() for shot in outcome.rush]
    base = [shot for outcome in done.values() for shot in outcome.baseline]
    accepted = [shot for shot in shots if shot.status == 201]
    lost = [shot for shot in shots if shot.status != 201 and shot.sent < deadline_epoch]
    verified = sum(1 for shot in accepted if shot.verified)
    answered = [shot.latency for shot in shots if shot.status is not None]
    healthz = [shot.latency for shot in base if shot.status == 200]
    for q in (50, 99):
        report.compare(f"deadline rush: submission, p{q}", _percentile(answered, q), _percentile(healthz, q),
                       unit="seconds", against="GET /healthz at the same schedule (the same cluster)")
    states = [office.call("GET", f"/api/tenders/{tender}")["state"] for tender, _ in tenders]
    pdfs = sum(o.pdfs for o in done.values())
    goal = not lost and verified == len(accepted) == len(shots)
    report.note(f"deadline rush: {len(shots):,} envelopes due evenly over the last {shape.window:g} s "
                f"across {len(tenders)} tenders ({len(workers)} load processes, one per tender, round the "
                f"web ports): accepted {len(accepted):,}, LOST {len(lost)}, receipts verified "
                f"{verified:,} of "
                f"{len(accepted):,}; PDF receipts fetched {pdfs:,}; tenders now "
                f"{', '.join(sorted(set(states)))}; goal (0 lost, every receipt verifies): "
                f"{'met' if goal else 'NOT met'}")
    codes: dict[str, int] = {}
    for shot in lost:
        codes[str(shot.code)] = codes.get(str(shot.code), 0) + 1
    if codes:
        report.note("  lost by code: " + ", ".join(f"{c} {n}" for c, n in codes.items()))


# --- the benchmark ------------------------------------------------------------------------------------


def _settings(quick: bool) -> tuple[int, list[str], set[str]]:
    workers = int(os.environ.get("EBID_BENCH_CLUSTER_WORKERS", "2"))
    classes = os.environ.get("EBID_BENCH_CLUSTER_CLASSES", "gevent" if quick else "gevent,gthread")
    scenarios = os.environ.get("EBID_BENCH_CLUSTER_SCENARIOS", ",".join(SCENARIOS))
    chosen = {s.strip() for s in scenarios.split(",") if s.strip()}
    unknown = chosen - set(SCENARIOS)
    if unknown:
        raise ValueError(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    return workers, [c.strip() for c in classes.split(",") if c.strip()], chosen


@dataclass
class ClassRun:
    """Everything measured under one worker class."""

    worker_class: str
    platform: str = ""
    reference: str = ""
    ours: MorningRun | None = None
    bare: MorningRun | None = None
    rooms: tuple[list[float], list[str], float] | None = None
    bare_rooms: tuple[list[float], list[str], float] | None = None
    rush: Report = field(default_factory=Report)  # printed after the rooms' rows
    failures: list[str] = field(default_factory=list)  # a scenario that failed, the others still printed


def _one_class(report: Report, work: Path, worker_class: str, workers: int, size: Size, chosen: set[str],
               with_rush: bool) -> ClassRun:
    run = ClassRun(worker_class)
    with ExitStack() as stack:
        if launcher_available():
            target = stack.enter_context(platform_cluster(work, worker_class, workers))
            redis_url = target.redis_url
        else:
            target = stack.enter_context(platform_single(work / f"single-{worker_class}"))
            redis_url = stack.enter_context(own_redis(work))
        run.platform = target.description
        if with_rush and "rush" in chosen:  # every scenario's bidders in one go
            bidders_of(target, work, max(size.bids, size.rush_bids))
        recorded = None
        if chosen & {"morning", "storm"}:
            run.ours, recorded = morning_platform(target, work, size, "storm" in chosen)
        panels: list[dict[str, Any]] = []
        if "evaluation" in chosen:
            with _scenario(run, "evaluation rooms"):
                panels = _panels(target, work, size)
                run.rooms = rooms(target, panels, size, _password())
        if with_rush and "rush" in chosen:
            with _scenario(run, "deadline rush"):
                rush(target, work, size, run.rush)
        bare = stack.enter_context(bare_servers(work, worker_class, len(target.web), redis_url))
        run.reference = bare.description
        if recorded is not None:
            run.bare = morning_bare(bare, size, recorded, "storm" in chosen)
        if run.rooms:
            with _scenario(run, "evaluation rooms, the reference"):
                _write_payloads(bare, evaluation=_payloads_of(target, panels[0]))
                run.bare_rooms = rooms(bare, panels, size, None)
    return run


@contextlib.contextmanager
def _scenario(run: ClassRun, name: str) -> Iterator[None]:
    """A scenario's failure is reported with the figures, and the others still run and print."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - reported, never hidden
        run.failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:500]}")
        traceback.print_exc()


def _password() -> str:
    from benchmarks.evaluation_room import PASSWORD

    return PASSWORD


def _rows(report: Report, run: ClassRun, size: Size) -> None:
    label = run.worker_class
    for failure in run.failures:
        report.note(f"{label}: FAILED {failure}")
    against = f"bare python-socketio ({label})"
    if run.ours and run.bare:
        ours, bare = run.ours, run.bare
        for q in (50, 99):
            report.compare(f"{label}: announcement commit -> watcher, p{q}", _percentile(ours.latencies, q),
                           _percentile(bare.latencies, q), unit="seconds", against=against)
        ratio = _percentile(ours.latencies, 99) / _percentile(bare.latencies, 99)
        report.note(f"{label}: busy morning, {size.tenders} tenders × {size.bids} bids, {size.watchers:,} "
                    f"watchers round the web ports: {len(ours.latencies):,} deliveries, MISSED "
                    f"{ours.missing} of {ours.expected:,} (reference missed {bare.missing}), duplicates "
                    f"{ours.duplicates}; goal p99 ≤ 1.5× bare: {'met' if ratio <= 1.5 else 'NOT met'} "
                    f"({ratio:.2f}×); announcements committed over {ours.span:.1f} s")
        report.compare(f"{label}: {size.watchers:,} watchers connect and join", ours.connect_seconds,
                       bare.connect_seconds, unit="seconds", against=against)
        for note in ours.notes:
            report.note(f"{label}: {note}")
        if ours.storm and bare.storm:
            report.compare(f"{label}: reconnect storm, time to settle", ours.storm.settle, bare.storm.settle,
                           unit="seconds", against=against)
            storm_ratio = ours.storm.settle / bare.storm.settle
            first = f" ({ours.storm.failed[0]})" if ours.storm.failed else ""
            report.note(f"{label}: reconnect storm of {size.watchers:,} within {size.storm_window:g} s: back "
                        f"{ours.storm.back:,}, with a WRONG state {ours.storm.wrong}, failed "
                        f"{len(ours.storm.failed)}{first}"
                        f"; reference back {bare.storm.back:,}, wrong {bare.storm.wrong}; goal ≤ 2× bare: "
                        f"{'met' if storm_ratio <= 2 else 'NOT met'} ({storm_ratio:.2f}×)")
        mine, theirs = ours.per_watcher(), bare.per_watcher()
        report.compare(f"{label}: memory per connected watcher", mine[0], theirs[0], unit="bytes",
                       against=against + ", RSS of the web processes")
        report.note(f"{label}: threads per connected watcher {mine[1]:.2f} (bare {theirs[1]:.2f}); web "
                    f"processes idle {ours.idle[0] / MIB:,.0f} MiB / {ours.idle[1]} threads, with the "
                    f"watchers {ours.loaded[0] / MIB:,.0f} MiB / {ours.loaded[1]} threads (bare "
                    f"{bare.idle[0] / MIB:,.0f} → {bare.loaded[0] / MIB:,.0f} MiB, {bare.idle[1]} → "
                    f"{bare.loaded[1]} threads)")
    if run.rooms and run.bare_rooms:
        ours_l, ours_e, ours_w = run.rooms
        bare_l, bare_e, bare_w = run.bare_rooms
        for q in (50, 99):
            report.compare(f"{label}: evaluation acknowledgement, p{q}", _percentile(ours_l, q),
                           _percentile(bare_l, q), unit="seconds", against=against)
        ratio = _percentile(ours_l, 99) / _percentile(bare_l, 99)
        report.note(f"{label}: {size.panels} panels × {size.experts} experts at once: {len(ours_l):,} events "
                    f"answered in {ours_w:.1f} s (reference {len(bare_l):,} in {bare_w:.1f} s), errors "
                    f"{len(ours_e)} (reference {len(bare_e)}); goal p99 ≤ 3× bare: "
                    f"{'met' if ratio <= 3 else 'NOT met'} ({ratio:.2f}×)")
        for error in ours_e[:3]:
            report.note(f"{label}: CLIENT ERROR: {error}")


@benchmark(
    "cluster.morning",
    title="Production topology: a busy morning of openings, a reconnect storm, evaluation rooms, a rush",
    comparison="ours: the platform on the cluster (deploy.cluster: gunicorn web processes, Redis queue, job "
    "workers, PostgreSQL) · reference: bare python-socketio servers (benchmarks/bare_socketio.py), the same "
    "worker class, process count and Redis · clients: load processes over WebSocket, round the web ports",
)
def cluster_morning(report: Report, quick: bool) -> None:
    size = QUICK if quick else FULL
    workers, classes, chosen = _settings(quick)
    runs = []
    with tempfile.TemporaryDirectory(prefix="ebid-bench-cluster-") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - the cluster's database runs as its own user and must reach its files
        for n, worker_class in enumerate(classes):
            work = Path(tmp) / worker_class
            work.mkdir()
            run = _one_class(report, work, worker_class, workers, size, chosen, with_rush=n == 0)
            _rows(report, run, size)
            report.rows += run.rush.rows
            report.notes += run.rush.notes
            runs.append(run)
    for run in runs:
        report.note(f"{run.worker_class}: platform: {run.platform}; reference: {run.reference}")
    _compare_classes(report, runs)


def _compare_classes(report: Report, runs: list[ClassRun]) -> None:
    """Scenario 6: which worker class serves the morning better, and by how much."""
    timed = [r for r in runs if r.ours and r.ours.latencies]
    if len(timed) < 2:
        return
    scored = sorted(timed, key=lambda r: _percentile(r.ours.latencies, 99))
    best, other = scored[0], scored[1]
    p99 = {r.worker_class: _percentile(r.ours.latencies, 99) for r in timed}
    report.compare(f"worker class: announcement p99, {best.worker_class} vs {other.worker_class}",
                   p99[best.worker_class], p99[other.worker_class], unit="seconds",
                   against=f"the platform under {other.worker_class}")
    rooms_note = ""
    if best.rooms and other.rooms:
        rooms_note = (f"; evaluation p99 {_percentile(best.rooms[0], 99) * 1000:,.0f} ms vs "
                      f"{_percentile(other.rooms[0], 99) * 1000:,.0f} ms")
    report.note(f"worker class: {best.worker_class} wins the morning's p99 by "
                f"{p99[other.worker_class] / p99[best.worker_class]:.2f}×{rooms_note}; per connected "
                "watcher: "
                + ", ".join(f"{r.worker_class} {r.ours.per_watcher()[0] / 1024:,.1f} KiB and "
                            f"{r.ours.per_watcher()[1]:.2f} threads" for r in timed))

