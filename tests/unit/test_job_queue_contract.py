"""One contract over both job queues: the embedded default (the scheduler's sweeps in this process) and
Dramatiq on Redis (job workers), so that a job behaves the same wherever it runs.

- a job enqueued in a transaction that commits runs its handler once, with its payload;
- a job enqueued in a transaction that rolls back is never handed over;
- a job whose worker dies mid-run is run again elsewhere (Dramatiq: a real redis-server and two worker
  processes, one killed with SIGKILL mid-job; embedded: the job's sweep at the scheduler's next turn);
- a job handed over twice has one effect (handlers are idempotent).

The Dramatiq half needs Debian's `redis-server`; without it those tests are skipped and say so.
"""

from __future__ import annotations

import base64
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core import job_queue, jobs
from core.extensions import db
from core.scheduler import Scheduler
from tests.ports import free_port
from tests.services import service_missing

ROOT = Path(__file__).resolve().parents[2]
JOB = "contract.record"
NO_SWEEP = "contract.sweep"
HEARTBEAT = 2.0  # seconds: a killed worker's job is back on the queue a few seconds after it dies


def _die_with_parent() -> None:  # preexec_fn: the child gets SIGKILL when the test process goes
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """A redis-server of this module's own, on a free port, in a temporary folder, without persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        service_missing("redis-server is not installed (Debian: apt-get install redis-server); "
                    "the Dramatiq queue's contract needs a real Redis")
    import redis

    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--logfile", str(folder / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Effects:
    """The test job: records each call, and has its effect (one entry per key) at most once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self.done: dict[str, int] = {}
        self.due: list[dict[str, Any]] = []  # what "the database" shows as due, for the embedded sweep
        self.crash_first = False

    def handler(self, payload: dict[str, Any]) -> str:
        with self.lock:
            self.calls.append(payload)
            first = len(self.calls) == 1
        if self.crash_first and first:
            raise RuntimeError("the process running this job died mid-run")
        with self.lock:
            if payload["key"] in self.done:
                return "done already"
            self.done[payload["key"]] = 1
        return "done"

    def sweep(self, now) -> None:
        for payload in list(self.due):
            if payload["key"] not in self.done:
                self.handler(payload)


class Harness:
    """One queue under test: how jobs reach their handler, and how long to let them run."""

    def __init__(self, app, kind: str, effects: Effects, redis_url: str | None) -> None:
        self.app, self.kind, self.effects = app, kind, effects
        self.submitted: list[tuple[str, dict[str, Any]]] = []
        if kind == "embedded":
            self.scheduler = Scheduler(app)
            self.queue: Any = jobs.EmbeddedQueue(app)
        else:
            self.queue = job_queue.DramatiqQueue(app, redis_url, heartbeat=HEARTBEAT)
            self.queue.redis.flushdb()

    def __enter__(self) -> Harness:
        app = self.app
        self.saved = {key: app.extensions.get(key) for key in ("ebid.jobs", "ebid.scheduler")}
        if self.kind == "embedded":
            app.extensions["ebid.scheduler"] = self.scheduler
            jobs.register(app, JOB, self.effects.handler, self.effects.sweep)
            self.scheduler.due[JOB] = self.scheduler.due[JOB] + job_queue.SWEEP_LEASE  # not due unless woken
        else:
            jobs.register(app, JOB, self.effects.handler, NO_SWEEP)
        app.extensions["ebid.jobs"] = self.queue
        real = self.queue.submit

        def spy(name: str, payload: dict[str, Any]) -> None:
            self.submitted.append((name, payload))
            real(name, payload)

        self.queue.submit = spy
        return self

    def __exit__(self, *exc) -> None:
        for key, value in self.saved.items():
            if value is None:
                self.app.extensions.pop(key, None)
            else:
                self.app.extensions[key] = value
        jobs.handlers(self.app).pop(JOB, None)
        jobs.sweeps(self.app).pop(JOB, None)
        if self.kind == "dramatiq":
            self.queue.broker.close()

    def enqueue(self, payload: dict[str, Any], *, commit: bool = True) -> None:
        """What a service and its edge do: the work recorded and the job asked for, then commit (or not)."""
        with self.app.app_context():
            self.effects.due.append(payload)
            jobs.enqueue(JOB, payload)
            if commit:
                db.session.commit()
            else:
                db.session.rollback()
                self.effects.due.remove(payload)
            db.session.remove()

    def work(self, until: Callable[[], bool], seconds: float = 30) -> bool:
        """Let the queue's workers run until `until()` or `seconds` pass; whether `until()` came true."""
        if self.kind == "embedded":
            deadline = time.monotonic() + seconds
            while not until() and time.monotonic() < deadline:
                self.scheduler.run_due()  # the scheduler's next turn
                if not until():
                    time.sleep(0.05)
            return until()
        import dramatiq

        worker = dramatiq.Worker(self.queue.broker, worker_threads=1, worker_timeout=100)
        worker.start()
        try:
            deadline = time.monotonic() + seconds
            while not until() and time.monotonic() < deadline:
                time.sleep(0.05)
            return until()
        finally:
            worker.stop(timeout=10_000)


@pytest.fixture(params=["embedded", "dramatiq"])
def harness(request, app) -> Iterator[Harness]:
    url = request.getfixturevalue("redis_url") if request.param == "dramatiq" else None
    with Harness(app, request.param, Effects(), url) as made:
        yield made


def test_a_committed_job_runs_its_handler_once_with_its_payload(harness):
    payload = {"key": uuid.uuid4().hex, "tender": 7, "note": "原件"}
    harness.enqueue(payload)
    assert harness.submitted == [(JOB, payload)]
    assert harness.work(lambda: payload["key"] in harness.effects.done)
    harness.work(lambda: False, seconds=0.5)  # and nothing more comes
    assert harness.effects.calls == [payload]


def test_a_rolled_back_job_is_never_handed_over(harness):
    payload = {"key": uuid.uuid4().hex}
    harness.enqueue(payload, commit=False)
    assert harness.submitted == []
    assert not harness.work(lambda: bool(harness.effects.calls), seconds=1.5)
    assert harness.effects.calls == [] and harness.effects.done == {}


def test_a_job_handed_over_twice_has_one_effect(harness):
    payload = {"key": uuid.uuid4().hex}
    harness.enqueue(payload)
    with harness.app.app_context():  # the same job asked for again (a retried request, a second hand-over)
        jobs.enqueue(JOB, payload)
        db.session.commit()
        db.session.remove()
    assert [name for name, _ in harness.submitted] == [JOB, JOB]
    assert harness.work(lambda: payload["key"] in harness.effects.done)
    harness.work(lambda: len(harness.effects.calls) >= 2, seconds=2)
    assert harness.effects.done == {payload["key"]: 1}


def test_a_job_whose_run_is_cut_short_is_run_again(harness):
    """Embedded: the process running it is gone and its sweep does it; Dramatiq: the handler's failure is
    retried (the death of a worker process is the next test)."""
    harness.effects.crash_first = True
    payload = {"key": uuid.uuid4().hex}
    harness.enqueue(payload)
    if harness.kind == "embedded":
        harness.scheduler.wake(JOB)
    assert harness.work(lambda: payload["key"] in harness.effects.done, seconds=30)
    assert len(harness.effects.calls) == 2 and harness.effects.done == {payload["key"]: 1}


# -- Dramatiq: a worker process killed mid-job --------------------------------------------------------------

WORKER = textwrap.dedent("""
    import os, sys, time
    import redis
    from app import create_app
    from app.worker import serve
    from core import jobs

    app = create_app("test")
    r = redis.Redis.from_url(os.environ["REDIS_URL"])

    def handler(payload):
        key = payload["key"]
        attempt = r.incr(f"contract:{key}:attempts")
        r.rpush(f"contract:{key}:started", os.getpid())
        if attempt == 1:
            time.sleep(120)  # killed meanwhile
        # one effect whoever runs it; "done" is set after the effect, so a reader that sees it sees the effect
        if r.set(f"contract:{key}:claimed", os.getpid(), nx=True):
            r.incr(f"contract:{key}:effects")
            r.set(f"contract:{key}:done", os.getpid())
        return "done"

    jobs.register(app, "contract.record", handler, "contract.sweep")
    r.rpush("contract:ready", os.getpid())
    sys.exit(serve(app, threads=1, stop_timeout=5))
""")


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_dramatiq_a_job_whose_worker_is_killed_mid_run_is_finished_by_another_worker(
    app, redis_url, tmp_path
):
    import redis

    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "EBID_CONFIG": "test",
        "EBID_INSTANCE": str(tmp_path),
        "REDIS_URL": redis_url,
        "JOB_QUEUE": "dramatiq",
        "JOB_HEARTBEAT_TIMEOUT": str(HEARTBEAT),
        "KEY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    workers: list[subprocess.Popen] = []
    logs = []
    try:
        for n in range(2):
            log = open(tmp_path / f"worker-{n}.log", "wb")  # noqa: SIM115  (closed below)
            logs.append(log)
            workers.append(subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, preexec_fn=_die_with_parent))
        wait_for(lambda: r.llen("contract:ready") == 2 or any(w.poll() is not None for w in workers), 180,
                 "two job workers")
        assert all(w.poll() is None for w in workers), (tmp_path / "worker-0.log").read_text()
        pids = {w.pid for w in workers}
        assert all(children(pid) == [] for pid in pids)  # one process each, no pool, no children

        queue = job_queue.DramatiqQueue(app, redis_url, heartbeat=HEARTBEAT)
        key = uuid.uuid4().hex
        try:
            queue.submit(JOB, {"key": key})
        finally:
            queue.broker.close()
        first = int(wait_for(lambda: r.lindex(f"contract:{key}:started", 0), 60, "the job to start"))
        assert first in pids
        os.kill(first, signal.SIGKILL)
        victim = next(w for w in workers if w.pid == first)
        victim.wait(timeout=10)

        started = time.monotonic()
        finisher = int(wait_for(lambda: r.get(f"contract:{key}:done"), 60, "another worker to finish it"))
        assert finisher != first and finisher in pids
        assert time.monotonic() - started < 30  # the heartbeat timeout and a maintenance pass, not minutes
        assert [int(p) for p in r.lrange(f"contract:{key}:started", 0, -1)] == [first, finisher]
        assert int(r.get(f"contract:{key}:effects")) == 1

        survivor = next(w for w in workers if w.pid == finisher)
        survivor.send_signal(signal.SIGTERM)  # stops cleanly
        assert survivor.wait(timeout=30) == 0
        assert not alive(first) and not alive(finisher)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait(timeout=10)
        for log in logs:
            log.close()
        r.close()
