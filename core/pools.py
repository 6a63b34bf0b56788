"""Process pools whose processes die with the process that made them (kill -9, SIGTERM, a crash).

The embedded default opens envelopes in a `ProcessPoolExecutor` (bidding/opening/decryption.py). Left to
itself, a pool process whose parent was killed lives on, blocked on its call queue, holding its memory:
an orphan per core and per crash. Three things prevent that:

- Linux: each pool process asks the kernel for SIGKILL when its parent goes (`prctl(PR_SET_PDEATHSIG)`).
  The kernel means the parent *thread*, so every pool process is started from one thread that lives as
  long as the pool (`_Owner`), never from a request's thread that ends after its answer.
- Everywhere: each pool process watches its parent's pid and exits once it has changed (a backstop for
  systems without prctl, and for the moment between the spawn and the prctl).
- A SIGTERM handler in the serving process shuts the pool down before the process exits as it would
  have (`install_sigterm_handler`, from the main thread).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
#: How often a pool process looks at its parent's pid.
WATCH_EVERY = 0.25


def _die_with_parent(parent: int) -> None:
    """Pool initializer (runs in each pool process): die when the parent does."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %s", ctypes.get_errno())
        except OSError:
            log.warning("prctl is not available; the parent-pid watch alone ends this process")
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCH_EVERY)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="ebid-parent-watch", daemon=True).start()


def _started() -> int:
    return os.getpid()


class _Owner(threading.Thread):
    """The thread that starts the pool's processes and lives as long as the pool (see the module doc)."""

    def __init__(self, workers: int) -> None:
        super().__init__(name="ebid-process-pool", daemon=True)
        self.workers = workers
        self.ready = threading.Event()
        self.done = threading.Event()
        self.executor: concurrent.futures.ProcessPoolExecutor | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            # spawn, not fork: the server has threads (scheduler, sockets) that fork would copy mid-flight
            self.executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_die_with_parent,
                initargs=(os.getpid(),),
            )
            # Every process is started now, from this thread: submitted together, each warm-up task
            # finds no idle process and starts one (the pool never starts more than `workers`). Started
            # is enough; nobody waits for them to be ready.
            for _ in range(self.workers):
                self.executor.submit(_started)
        except BaseException as exc:  # noqa: BLE001  (handed to the caller of make_pool)
            self.error = exc
        finally:
            self.ready.set()
        self.done.wait()


def make_pool(workers: int | None = None) -> concurrent.futures.ProcessPoolExecutor:
    """A process pool whose processes die with this process; `shutdown_pool` ends it."""
    owner = _Owner(workers or os.cpu_count() or 1)
    owner.start()
    owner.ready.wait()
    if owner.error is not None or owner.executor is None:
        owner.done.set()
        raise RuntimeError("the process pool could not be started") from owner.error
    executor = owner.executor
    executor._ebid_owner = owner  # type: ignore[attr-defined]
    return executor


def pool_pids(executor: concurrent.futures.ProcessPoolExecutor) -> list[int]:
    """The pool's process ids (tests, diagnostics)."""
    return sorted(p.pid for p in (executor._processes or {}).values() if p.pid)  # type: ignore[attr-defined]


def shutdown_pool(executor: concurrent.futures.ProcessPoolExecutor, *, wait: bool = True) -> None:
    """Stop the pool (running jobs are abandoned when `wait` is False) and let its owner thread end."""
    try:
        executor.shutdown(wait=wait, cancel_futures=True)
        if not wait:
            for process in list((executor._processes or {}).values()):  # type: ignore[attr-defined]
                if process.is_alive():
                    process.kill()
    finally:
        owner = getattr(executor, "_ebid_owner", None)
        if owner is not None:
            owner.done.set()


def install_sigterm_handler(stop: Callable[[], None]) -> bool:
    """On SIGTERM call `stop()` (shut the pools down), then do what SIGTERM did before. Main thread only;
    returns whether it was installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame) -> None:
        try:
            stop()
        except Exception:  # noqa: BLE001  (exiting anyway)
            log.exception("stopping the process pool on SIGTERM failed")
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)
    return True
