"""The decryption pool's processes die with the process that made them: kill -9, SIGTERM, no orphans.

Each test starts a small Python process that makes the pool the way the serving process does
(`decryption.pool`), prints its pool's pids, and waits; the test then kills it and looks in /proc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from core import pools

ROOT = Path(__file__).resolve().parents[4]

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

SCRIPT = textwrap.dedent("""
    import sys, threading, time
    from flask import Flask
    from bidding.opening import decryption
    from core.pools import pool_pids

    app = Flask("pool-orphans")
    decryption.install_sigterm_handler(app)
    made = {}
    # made from a short-lived thread, as a request's thread would: the pool must outlive that thread
    maker = threading.Thread(target=lambda: made.setdefault("pool", decryption.pool(app)))
    maker.start()
    maker.join()
    print(" ".join(map(str, pool_pids(made["pool"]))), flush=True)
    # Short sleeps, not one long one: the kernel may hand SIGTERM to any thread of the process (the pool's
    # manager and feeder threads are candidates), and Python runs its handler in the main thread only at
    # its next bytecode, which one long sleep would put off for its whole length.
    for _ in range(1200):
        time.sleep(0.1)
""")


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting for its reaper counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_dead(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        living = [pid for pid in pids if alive(pid)]
        if not living:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


@pytest.fixture
def serving():
    """A process with a two-process decryption pool; yields (process, pool pids)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        line = proc.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2, f"no pool pids from the test process: {line!r} {proc.stderr.read()!r}"
        assert all(alive(pid) for pid in pids)
        yield proc, pids
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
        for pid in pids:  # never leave one behind, even when the test failed
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_pool_processes_die_when_the_serving_process_is_killed(serving):
    proc, pids = serving
    time.sleep(0.3)  # the short-lived thread that made the pool has ended: its processes are still there
    assert all(alive(pid) for pid in pids)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert wait_dead(pids, 5) == [], "decryption pool processes outlived kill -9 of their parent"


def test_pool_processes_die_on_sigterm(serving):
    proc, pids = serving
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == -signal.SIGTERM  # it still exits as SIGTERM says, after the pool
    assert wait_dead(pids, 5) == [], "decryption pool processes outlived SIGTERM of their parent"


def test_pool_made_in_a_thread_that_ends_keeps_working():
    made = {}
    maker = threading.Thread(target=lambda: made.setdefault("pool", pools.make_pool(1)))
    maker.start()
    maker.join()
    executor = made["pool"]
    try:
        pids = pools.pool_pids(executor)
        assert executor.submit(os.getpid).result(timeout=30) in pids
    finally:
        pools.shutdown_pool(executor)
    assert wait_dead(pids, 5) == []
