"""A job worker of the production topology: `python -m app.worker [--threads N] [--queues Q,...]`.

It builds the application (`create_app`, `EBID_CONFIG` as everywhere), which must be configured for the
Dramatiq queue (`JOB_QUEUE=dramatiq`, `REDIS_URL`), and runs Dramatiq's worker threads in this one
process: no child processes, so nothing can outlive it. Each message is one job (`core.job_queue.perform`:
`jobs.run(name, payload)` in an application context, or one of the clock's sweeps). SIGTERM or SIGINT
stops it cleanly: no new message is taken, the jobs running get `--stop-timeout` seconds to finish, and
messages fetched but not started go back on their queue; a job cut short is run again elsewhere once
this worker's heartbeat is older than `JOB_HEARTBEAT_TIMEOUT` (its handler is idempotent).

Run as many of these, on as many machines, as the work needs; docs/deployment.md ("Jobs").
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from flask import Flask

log = logging.getLogger("app.worker")


def serve(app: Flask, *, threads: int = 2, queues: set[str] | None = None, stop_timeout: float = 10.0,
          stop: threading.Event | None = None) -> int:
    """Run the worker threads until `stop` is set (by SIGTERM/SIGINT when called from the main thread)."""
    import dramatiq

    from core import job_queue, jobs

    if not job_queue.enabled(app):
        print("app.worker: this configuration has no job queue to serve; set JOB_QUEUE=dramatiq and "
              "REDIS_URL (the embedded default runs its jobs in the serving process)", file=sys.stderr)
        return 2
    queue = jobs.queue(app)
    worker = dramatiq.Worker(queue.broker, queues=queues, worker_threads=threads,  # type: ignore[attr-defined]
                             worker_timeout=1000)
    worker.queue_prefetch = threads  # fetch no more than it can run: the rest stays for the other workers
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    worker.start()
    log.info("job worker %s: %d threads on %s", os.getpid(), threads,
             ", ".join(sorted(queues or queue.broker.get_declared_queues())))  # type: ignore[attr-defined]
    try:
        while not stop.wait(1):
            pass
    finally:
        log.info("job worker %s stopping", os.getpid())
        worker.stop(timeout=int(stop_timeout * 1000))
        queue.broker.close()  # type: ignore[attr-defined]
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=int(os.environ.get("JOB_WORKER_THREADS", "2")),
                        help="worker threads in this process (default 2, or JOB_WORKER_THREADS)")
    parser.add_argument("--queues", default="",
                        help="comma-separated queues to take from (default all: ebid-sweeps,ebid-jobs)")
    parser.add_argument("--stop-timeout", type=float, default=10.0,
                        help="seconds the running jobs get to finish on SIGTERM (default 10)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    queues = {q.strip() for q in args.queues.split(",") if q.strip()} or None
    from core import job_queue

    unknown = (queues or set()) - {job_queue.JOB_QUEUE_NAME, job_queue.SWEEP_QUEUE_NAME}
    if unknown:
        parser.error(f"no such queue: {', '.join(sorted(unknown))} (the queues are "
                     f"{job_queue.SWEEP_QUEUE_NAME} and {job_queue.JOB_QUEUE_NAME})")
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s [%(process)d %(threadName)s] %(name)s: %(message)s")
    from app import create_app

    app = create_app(os.environ.get("EBID_CONFIG", "development"))
    return serve(app, threads=args.threads, queues=queues, stop_timeout=args.stop_timeout)


if __name__ == "__main__":
    sys.exit(main())
