"""Signing works where an event loop is already running (pyHanko calls asyncio.run())."""

from __future__ import annotations

import asyncio

from signing.loops import outside_event_loop


def test_a_function_that_calls_asyncio_run_works_inside_a_running_loop() -> None:
    @outside_event_loop
    def uses_asyncio_run() -> int:
        async def answer() -> int:
            return 42

        return asyncio.run(answer())

    assert uses_asyncio_run() == 42

    async def inside() -> int:
        return uses_asyncio_run()

    assert asyncio.run(inside()) == 42


def test_without_a_loop_it_runs_in_the_calling_thread() -> None:
    import threading

    @outside_event_loop
    def where() -> str:
        return threading.current_thread().name

    assert where() == threading.current_thread().name


GEVENT_CONCURRENT_SIGNINGS = """
from gevent import monkey
monkey.patch_all()

import asyncio, sys, time
import gevent
sys.path.insert(0, {root!r})
from signing.loops import outside_event_loop

def signing():
    async def wait():
        time.sleep(0.2)  # patched: yields to the hub while this loop is running, as a socket read would
        return 1
    return asyncio.run(wait())

fn = outside_event_loop(signing) if {wrapped} else signing
jobs = [gevent.spawn(fn) for _ in range(4)]
gevent.joinall(jobs)
failed = [repr(job.exception) for job in jobs if job.exception is not None]
print("FAILED" if failed else "OK", failed)
"""


def _run_under_gevent(wrapped: bool) -> str:
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[3])
    script = GEVENT_CONCURRENT_SIGNINGS.format(root=root, wrapped=wrapped)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_under_gevent_concurrent_signings_each_get_a_real_thread() -> None:
    """Under gunicorn's gevent worker, concurrent publications once answered 500 ('asyncio.run() cannot
    be called from a running event loop'): greenlets share one OS thread and so one running loop."""
    assert _run_under_gevent(wrapped=False).startswith("FAILED")  # the failure this guards against
    assert _run_under_gevent(wrapped=True).startswith("OK")
