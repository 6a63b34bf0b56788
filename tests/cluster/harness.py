"""Driving the production topology from a test: one cluster started by `python -m deploy.cluster`
(PostgreSQL, Redis, nginx, web processes, job workers and the scheduler under supervisord), its
programs killed and restarted, its web processes reached one by one, and an opening ceremony on it.

What the cluster tests share; the fixtures are in conftest.py. Every wait is bounded by WAIT seconds
(EBID_CLUSTER_WAIT, generous by default for a busy two-core machine).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import socketio as socketio_client

from app.demo import Role

ROOT = Path(__file__).resolve().parents[2]
#: The longest any one wait in these tests lasts, in seconds.
WAIT = float(os.environ.get("EBID_CLUSTER_WAIT", "180"))
NS = "/opening"
#: Seconds without a heartbeat after which a job worker counts as dead (its jobs go to another).
HEARTBEAT = os.environ.get("EBID_CLUSTER_HEARTBEAT", "5")

#: The Debian binaries the cluster runs, and the package each comes from.
BINARIES = {"initdb": "postgresql", "pg_ctl": "postgresql", "redis-server": "redis-server", "nginx": "nginx"}

#: Settings of the test run that must not leak into the cluster's own processes.
_NOT_INHERITED = ("EBID_CONFIG", "EBID_INSTANCE", "DATABASE_URL", "TEST_DATABASE_URL", "SECRET_KEY",
                  "KEY_ENCRYPTION_KEY", "EBID_KEY_DIR", "EBID_BLOB_DIR", "REDIS_URL", "PORT", "FLASK_APP")


_runs = iter(range(1, 10_000))
_SEQ_BASE = int(time.time()) % 100_000 * 10_000  # usernames and credit codes new to the database


def missing_binaries() -> list[str]:
    """The Debian packages whose binaries are not installed (PostgreSQL's may live off PATH)."""
    missing = []
    for binary, package in BINARIES.items():
        found = shutil.which(binary) or any(Path("/usr/lib/postgresql").glob(f"*/bin/{binary}"))
        if not found and package not in missing:
            missing.append(package)
    return missing


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env.update(extra)
    return env


def wait_for(what: str, check: Callable[[], Any], *, timeout: float = WAIT, every: float = 0.25,
             detail: Callable[[], str] | None = None) -> Any:
    """Poll `check` until it answers something true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                                 + (f"\n{detail()}" if detail else ""))
        time.sleep(every)


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (optionally `export`ed or quoted; # comments), as the launcher writes them."""
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@dataclass
class Cluster:
    """A cluster the launcher brought up in `dir` (its cluster.json read once it is up)."""

    dir: Path
    info: dict[str, Any] = field(default_factory=dict)
    #: Tenders made ahead by `prepare`, waiting for their ceremony.
    prepared: list[dict[str, Any]] = field(default_factory=list)

    # -- the launcher -------------------------------------------------------------------------------------
    def launcher(self, *args: str, timeout: float = WAIT, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(  # noqa: S603 - our own launcher
            [sys.executable, "-m", "deploy.cluster", *args], cwd=ROOT, env=clean_env(),
            capture_output=True, text=True, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"deploy.cluster {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def up(self, *, workers: int = 2, job_workers: int = 2, port: int) -> subprocess.CompletedProcess:
        done = self.launcher("up", "--dir", str(self.dir), "--port", str(port), "--workers", str(workers),
                             "--job-workers", str(job_workers), "--no-demo", "--detach",
                             # a dead job worker's messages go back on the queue within seconds
                             "--env", f"JOB_HEARTBEAT_TIMEOUT={HEARTBEAT}",
                             timeout=max(WAIT, 300), check=False)
        if done.returncode == 0:
            self.info = json.loads((self.dir / "cluster.json").read_text())
        return done

    def down(self) -> None:
        self.launcher("down", "--dir", str(self.dir), timeout=max(WAIT, 120))

    def ctl(self, *args: str) -> str:
        """supervisorctl through the launcher; its output (its exit status says little: `status` is 3
        while any program is down)."""
        done = self.launcher("ctl", "--dir", str(self.dir), *args, check=False)
        return done.stdout + done.stderr

    # -- what the cluster is ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.info["url"]

    @property
    def web(self) -> list[dict[str, Any]]:
        return self.info["web"]

    def web_url(self, name: str) -> str:
        return next(w["url"] for w in self.web if w["name"] == name)

    @property
    def job_workers(self) -> list[str]:
        return list(self.info["job_workers"])

    @property
    def env(self) -> dict[str, str]:
        """The environment the cluster's programs run with (its generated env file), for commands run
        beside them on the same instance."""
        return clean_env(**parse_env_file(Path(self.info["env_file"])), EBID_SCHEDULER="off")

    def python(self, *args: str, timeout: float = WAIT) -> str:
        """Run `python ARGS` against the cluster's instance (not through a server); its standard output."""
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env,  # noqa: S603
                              capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    # -- tenders at their opening time -------------------------------------------------------------------
    def prepare(self, bids: list[int]) -> list[dict[str, Any]]:
        """Tenders closed and at their opening time, one per number of bids, made in one process
        (tests/cluster/opening_setup.py); kept for `take` as well as returned."""
        if not bids:
            return []
        out = self.python("-m", "tests.cluster.opening_setup", "--bids", ",".join(map(str, bids)),
                          "--seq-start", str(_SEQ_BASE + 1000 * next(_runs)), timeout=max(WAIT, 600))
        made = [json.loads(line) for line in out.splitlines() if line.startswith('{"tender"')]
        assert [len(m["bids"]) for m in made] == bids, out[-3000:]
        self.prepared.extend(made)
        return made

    def take(self, bids: int) -> dict[str, Any]:
        """A prepared tender with that many bids (made now if none is left)."""
        for facts in self.prepared:
            if len(facts["bids"]) == bids:
                self.prepared.remove(facts)
                return facts
        return self.prepare([bids])[0]

    # -- programs -----------------------------------------------------------------------------------------
    def pid(self, program: str) -> int:
        """The program's pid, 0 while it is not running."""
        out = self.ctl("pid", program).strip().splitlines()
        return int(out[-1]) if out and out[-1].strip().isdigit() else 0

    def status(self) -> dict[str, str]:
        states = {}
        for line in self.ctl("status").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1].isupper():
                states[parts[0]] = parts[1]
        return states

    def pids(self) -> dict[str, int]:
        """Each running program's pid, by name."""
        found = {}
        for line in self.ctl("status").splitlines():
            parts = line.replace(",", " ").split()
            if len(parts) >= 4 and parts[1] == "RUNNING" and parts[2] == "pid" and parts[3].isdigit():
                found[parts[0]] = int(parts[3])
        return found

    def healthy(self, url: str) -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def wait_all_running(self) -> None:
        """Every program RUNNING and every web process (and nginx) answering /healthz."""
        wait_for("every program of the cluster to run",
                 lambda: (s := self.status()) and all(v == "RUNNING" for v in s.values()) and s,
                 every=1, detail=lambda: self.ctl("status"))
        for url in [w["url"] for w in self.web] + [self.url]:
            wait_for(f"{url}/healthz to answer 200", lambda u=url: self.healthy(u), every=0.5)

    def kill9(self, program: str) -> int:
        """SIGKILL the program's process (nothing gets to clean up); returns the pid killed."""
        pid = self.pid(program)
        assert pid, f"{program} is not running:\n{self.ctl('status')}"
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_back(self, program: str, old_pid: int) -> int:
        """Wait until the supervisor has started the program again (and a web process answers)."""
        pid = wait_for(f"{program} to be restarted by the supervisor",
                       lambda: (p := self.pid(program)) and p != old_pid and p, every=0.5,
                       detail=lambda: self.ctl("status"))
        if program.startswith("web-"):
            wait_for(f"the restarted {program} to answer", lambda: self.healthy(self.web_url(program)),
                     every=0.5, detail=lambda: self.log_tail(program))
        return pid

    def log_tail(self, program: str, size: int = 4000) -> str:
        return self.ctl("tail", f"-{size}", program)

    # -- processes ----------------------------------------------------------------------------------------
    def processes(self) -> dict[int, tuple[int, str]]:
        """Every live process of this cluster, pid -> (ppid, command): those whose command line or
        environment names the cluster's folder, or whose title names its Redis's address (redis-server
        rewrites its command line and environment), and whatever descends from its supervisord."""
        listing = subprocess.run(["ps", "-eo", "pid=,ppid=,cmd="], capture_output=True, text=True,  # noqa: S607
                                 check=True).stdout
        mark = str(self.dir)
        titles = [mark] + ([f"127.0.0.1:{self.info['redis_port']}"] if self.info.get("redis_port") else [])
        found, every = {}, {}
        for line in listing.splitlines():
            parts = line.split(None, 2)
            if len(parts) < 3 or not parts[0].isdigit():
                continue
            pid, ppid, cmd = int(parts[0]), int(parts[1]), parts[2]
            if pid == os.getpid():
                continue
            every[pid] = (ppid, cmd)
            if any(t in cmd for t in titles) or mark.encode() in _environ(pid):
                found[pid] = (ppid, cmd)
        supervisord = self.supervisord_pid() if self.info else 0
        if supervisord in every:
            found[supervisord] = every[supervisord]
            for pid in descendants(supervisord):
                if pid in every:
                    found[pid] = every[pid]
        return found

    def orphans(self) -> list[str]:
        """The cluster's processes that do not descend from its supervisord (nobody would stop them)."""
        supervisord = self.supervisord_pid()
        every = self.processes()
        parents = _parents()
        lost = []
        for pid, (_ppid, cmd) in every.items():
            seen, cursor = set(), pid
            while cursor not in (0, 1, supervisord) and cursor not in seen:
                seen.add(cursor)
                cursor = parents.get(cursor, 0)
            if cursor != supervisord and pid != supervisord:
                lost.append(f"{pid} {cmd}")
        return lost

    def supervisord_pid(self) -> int:
        out = self.ctl("pid").strip().splitlines()
        return int(out[-1]) if out and out[-1].strip().isdigit() else 0

    # -- the store of record ------------------------------------------------------------------------------
    def sql(self, query: str, *args: Any) -> list[tuple]:
        """Read the cluster's PostgreSQL database directly (a fresh connection each time)."""
        import psycopg
        from sqlalchemy import make_url

        url = make_url(self.env["DATABASE_URL"]).set(drivername="postgresql")
        with psycopg.connect(url.render_as_string(hide_password=False), connect_timeout=10) as connection:
            return connection.execute(query, args).fetchall()

    def log_events(self, event: str, bids: list[int] | None = None) -> list[dict[str, Any]]:
        """The audit log's entries of that event (those naming one of `bids`, when given), in order."""
        rows = self.sql('SELECT body FROM log_entries WHERE event = %s ORDER BY "index"', event)
        entries = [json.loads(body) if isinstance(body, str) else body for (body,) in rows]
        if bids is not None:
            entries = [e for e in entries if e.get("data", {}).get("bid") in bids]
        return entries


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def _parents() -> dict[int, int]:
    listing = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True,  # noqa: S607
                             check=True).stdout
    return {int(a): int(b) for a, b in (line.split() for line in listing.splitlines() if line.strip())}


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(pid: int) -> list[int]:
    """The process's children, their children, and so on."""
    parents = _parents()
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier and p not in found]
        found.extend(children)
        frontier = children
    return found


def open_files(pid: int) -> set[str]:
    """The paths a process has open (its /proc fd links)."""
    names = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                names.add(os.readlink(fd))
            except OSError:
                pass
    except OSError:
        pass
    return names


# -- people and watchers ------------------------------------------------------------------------------------


def at(person: Role, url: str) -> Role:
    """The same signed-in person talking to another address (another web process, or nginx)."""
    other = Role(url)
    other.username = person.username
    other.http.headers["Authorization"] = person.http.headers["Authorization"]
    return other


class Watcher:
    """A public watcher of the opening room: a python-socketio client (websocket transport) connected
    to one given web process, that joins `tender:<id>` on every (re)connection and keeps every event
    it is sent, in order.

    `failover=False`: python-socketio's own reconnection, to the same address (a restarted process).
    `failover=True`: when the connection drops, it connects to the next address in `urls` instead
    (the other web process), as a client that knows several does.
    """

    def __init__(self, urls: list[str], tender: int, *, failover: bool = False,
                 name: str = "watcher") -> None:
        self.urls, self.tender, self.failover, self.name = list(urls), tender, failover, name
        self.events: list[tuple[str, Any]] = []
        self.connected_to: list[str] = []  # the address of each (re)connection, in order
        self.closing = False
        self.client = self._connect(0)

    def _connect(self, index: int) -> socketio_client.Client:
        url = self.urls[index % len(self.urls)]
        client = socketio_client.Client(reconnection=not self.failover, reconnection_delay=0.5,
                                        reconnection_delay_max=2, randomization_factor=0)

        @client.on("connect", namespace=NS)
        def joined():
            self.connected_to.append(url)
            client.emit("join", {"tender": self.tender}, namespace=NS)

        @client.on("*", namespace=NS)
        def anything(event, data=None):
            self.events.append((event, data))

        @client.on("disconnect", namespace=NS)
        def dropped(*_reason):
            if self.failover and not self.closing:
                threading.Thread(target=self._fail_over, args=(index + 1,), daemon=True).start()

        client.connect(url, namespaces=[NS], transports=["websocket"], wait_timeout=30)
        return client

    def _fail_over(self, index: int) -> None:
        deadline = time.monotonic() + WAIT
        while not self.closing and time.monotonic() < deadline:
            try:
                self.client = self._connect(index)
                return
            except socketio_client.exceptions.ConnectionError:
                index += 1
                time.sleep(0.5)

    def rejoin(self) -> None:
        """Ask for the room again on the open connection (the answer is the current state)."""
        self.client.emit("join", {"tender": self.tender}, namespace=NS)

    def close(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):  # already gone
            self.client.disconnect()

    # -- what it was told ---------------------------------------------------------------------------------
    def opened(self) -> Counter:
        """How many times each bid's opening was announced to this watcher."""
        return Counter(data["bid"] for event, data in list(self.events) if event == "opening.bid_opened")

    def states(self) -> list[dict[str, Any]]:
        return [data for event, data in list(self.events) if event == "state"]

    def latest(self) -> dict[str, Any] | None:
        """The newest state it holds (by the server's clock, as the room's page draws them)."""
        states = self.states()
        return max(states, key=lambda s: dt.datetime.fromisoformat(s["server_time"])) if states else None

    def sees(self, bid_states: dict[int, str]) -> bool:
        """Its newest state shows each of these bids in that state."""
        latest = self.latest()
        if latest is None:
            return False
        shown = {b["bid"]: b["state"] for b in latest["bids"]}
        return all(shown.get(bid) == state for bid, state in bid_states.items())


# -- an opening on the cluster ------------------------------------------------------------------------------

class Ceremony:
    """A tender closed and at its opening time on the cluster (`Cluster.take`), with its host,
    supervisor and bidders signed in over the API of `url`."""

    def __init__(self, cluster: Cluster, *, bids: int = 3, url: str | None = None) -> None:
        self.cluster = cluster
        self.url = url or cluster.web[0]["url"]
        self.facts = cluster.take(bids)
        self.tender: int = self.facts["tender"]
        self.bids: list[dict[str, Any]] = self.facts["bids"]
        self.ids = [b["id"] for b in self.bids]
        self.base = f"/api/tenders/{self.tender}/opening"
        password = self.facts["password"]
        self.office = Role(self.url, self.facts["office"], password)
        self.supervisor = Role(self.url, self.facts["supervisor"], password)
        self.bidders = [Role(self.url, b["username"], password) for b in self.bids]

    def blob(self, index: int) -> Path:
        sha = self.bids[index]["sha256"]
        return Path(self.facts["blobs"]) / sha[:2] / sha[2:4] / sha

    def start(self) -> dict[str, Any]:
        started = self.office.call("POST", f"{self.base}/start")
        for person in (self.supervisor, self.office, *self.bidders):
            person.call("POST", f"{self.base}/check-in")
        return started

    def hand_over(self, index: int, url: str | None = None) -> dict[str, Any]:
        bidder = self.bidders[index] if url is None else at(self.bidders[index], url)
        bid = self.bids[index]
        return bidder.call("POST", f"{self.base}/bids/{bid['id']}/key", json={"data_key": bid["data_key"]},
                           expect=202)

    def state(self, url: str | None = None) -> dict[str, Any]:
        response = requests.get(f"{url or self.url}{self.base}", timeout=60)
        assert response.status_code == 200, response.text[:1000]
        return response.json()

    def bid_states(self, url: str | None = None) -> dict[int, str]:
        return {b["bid"]: b["state"] for b in self.state(url)["bids"]}

    def wait_opened(self, indexes: list[int], url: str | None = None) -> dict[str, Any]:
        wanted = [self.ids[i] for i in indexes]
        return wait_for(f"bids {wanted} to open",
                        lambda: all(self.bid_states(url)[b] == "opened" for b in wanted) and self.state(url),
                        detail=lambda: json.dumps(self.bid_states(url)))

    def conclude(self, url: str | None = None) -> dict[str, Any]:
        office = self.office if url is None else at(self.office, url)
        return office.call("POST", f"{self.base}/conclude")

    def logged_openings(self) -> list[int]:
        """The bids `opening.bid_opened` names in the audit log, sorted (once each, or it shows)."""
        return sorted(e["data"]["bid"] for e in self.cluster.log_events("opening.bid_opened", self.ids))

    def wait_watchers(self, watchers: list[Watcher], indexes: list[int], *, told: bool = True) -> None:
        """Every watcher holds a state showing these bids opened and, with `told`, was sent each one's
        announcement (a client away when it was made is only given the state when it rejoins)."""
        wanted = {self.ids[i]: "opened" for i in indexes}
        for w in watchers:
            wait_for(f"{w.name} to {'be told' if told else 'see'} bids {list(wanted)} opened",
                     lambda w=w: (not told or all(w.opened()[b] >= 1 for b in wanted)) and w.sees(wanted),
                     detail=lambda w=w: f"told {dict(w.opened())}; connected to {w.connected_to}")
