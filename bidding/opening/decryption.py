"""Decrypting envelopes off the request path: a process pool across the cores, one streamed file per job.

The parent (a request after its commit, or the scheduler) hands `dispatch` the ids of bid openings
in state DECRYPTING. For each it reads what the worker needs (the blob's path, the unsealed data
key, the bidder's registered signing key, the header's expected tender, lot and bidder), and the
worker (`open_bid`, a plain function with no Flask or database) streams the envelope through
`open_envelope`, which checks every chunk tag, the commitment and the signature and reads bid.json,
and returns a plain dict. The parent then records the outcome in its own transaction
(`services.record_outcome`, a conditional update, so a bid is never opened twice).

`OPENING_SYNC_DECRYPTION` runs the same steps in the calling thread (tests, the demo).

With the production topology's job queue (JOB_QUEUE=dramatiq) there is no pool: `dispatch` puts one
"opening.decrypt" job per bid opening on the queue, and a job worker (`decrypt`) opens the bid in its
own thread, records it by the same conditional update, commits, and announces it (through the Socket.IO
message queue): the process that recorded a bid is the one that announces it, so each bid is announced
once. A worker that dies mid-way leaves the bid DECRYPTING; the queue gives its job to another worker.

The pool's processes die with the process that made them (core/pools.py).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import datetime as dt
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, BinaryIO

from flask import Flask, current_app

from bidding import envelope
from bidding.opening import document_facts
from core import jobs, pools
from core.extensions import db

log = logging.getLogger(__name__)

POOL = "ebid.opening.pool"
IN_FLIGHT = "ebid.opening.in_flight"
LISTENERS = "ebid.opening.listeners"
#: The job that opens one bid on a job worker (cluster mode).
JOB = "opening.decrypt"
#: A bid opening handed to the queue is not handed over again within this (the opening's sweep finds it
#: still decrypting while its job waits its turn); a job lost with its message is handed over after it.
CLAIM = dt.timedelta(minutes=5)
_lock = threading.Lock()


def open_bid(
    path: str, data_key: bytes, *, signer_public: bytes, tender: int, lot: int, bidder: str
) -> dict[str, Any]:
    """Open one envelope file and say what it holds, or why it does not open (runs in a worker process)."""
    try:
        with open(path, "rb") as fh:
            opened = open_stream(
                fh, data_key, signer_public=signer_public, tender=tender, lot=lot, bidder=bidder
            )
    except OSError as exc:
        return {"ok": False, "fault": "platform", "message": f"the stored envelope cannot be read: {exc}"}
    return opened


def open_stream(
    stream: BinaryIO, data_key: bytes, *, signer_public: bytes, tender: int, lot: int, bidder: str
) -> dict[str, Any]:
    """`open_bid` over an open stream."""
    facts = document_facts.DocumentFacts()  # each document's digest and PDF metadata (issue 16 signals)
    try:
        opened = envelope.open_envelope(
            stream,
            data_key,
            facts,  # type: ignore[arg-type]
            signer_public=signer_public,  # type: ignore[arg-type]
            tender=tender,
            lot=lot,
            bidder=bidder,
        )
    except envelope.EnvelopeError as exc:
        return {"ok": False, "fault": "bidder", "message": str(exc)}
    bid = opened.bid or {}
    return {
        "ok": True,
        "price": dict(bid.get("price") or {}),
        "duration_days": bid.get("duration_days"),
        "terms": bid.get("criteria"),
        "package_sha256": opened.package_sha256,
        "documents": facts.documents,
    }


def pool(app: Flask) -> concurrent.futures.ProcessPoolExecutor:
    """The application's decryption pool, made on first use and shut down at exit."""
    with _lock:
        executor = app.extensions.get(POOL)
        if executor is None:
            executor = pools.make_pool(os.cpu_count() or 1)  # its processes die with this one
            app.extensions[POOL] = executor
            atexit.register(pools.shutdown_pool, executor, wait=False)
        return executor


def shutdown(app: Flask, *, wait: bool = True) -> None:
    """Stop the pool (tests, a clean exit, SIGTERM)."""
    with _lock:
        executor = app.extensions.pop(POOL, None)
    if executor is not None:
        pools.shutdown_pool(executor, wait=wait)


_stopped_on_sigterm: weakref.WeakSet[Flask] = weakref.WeakSet()
_handler_installed = False


def install_sigterm_handler(app: Flask) -> bool:
    """On SIGTERM stop the app's pool, then exit as SIGTERM would have (main thread only). One handler per
    process serves every application made in it (the tests make many)."""
    global _handler_installed
    _stopped_on_sigterm.add(app)
    if _handler_installed:
        return True

    def stop_all() -> None:
        for each in list(_stopped_on_sigterm):
            shutdown(each, wait=False)

    _handler_installed = pools.install_sigterm_handler(stop_all)
    return _handler_installed


def distributed(app: Flask) -> bool:
    """Whether bids are opened by job workers (a queue shared by processes) rather than this process."""
    return bool(getattr(jobs.queue(app), "distributed", False))


def add_listener(app: Flask, listener: Callable[[dict[str, Any]], None]) -> None:
    """Call `listener(event)` after each outcome is committed (the socket namespace publishes from here)."""
    app.extensions.setdefault(LISTENERS, []).append(listener)


def _notify(app: Flask, events: list[dict[str, Any]]) -> None:
    for listener in app.extensions.get(LISTENERS, []):
        for event in events:
            try:
                listener(event)
            except Exception:
                log.exception("opening listener failed")


def dispatch(bid_opening_ids: list[int]) -> list[concurrent.futures.Future]:
    """Decrypt these bid openings (state DECRYPTING, already committed); each future ends once recorded."""
    from bidding.opening import services

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if distributed(app):
        _hand_to_workers(app, bid_opening_ids)
        return []
    in_flight: set[int] = app.extensions.setdefault(IN_FLIGHT, set())
    futures: list[concurrent.futures.Future] = []
    for opening_id in bid_opening_ids:
        with _lock:
            if opening_id in in_flight:
                continue
            in_flight.add(opening_id)
        job = services.decryption_job(opening_id)
        if job is None:
            in_flight.discard(opening_id)
            continue
        recorded: concurrent.futures.Future = concurrent.futures.Future()
        futures.append(recorded)
        if app.config.get("OPENING_SYNC_DECRYPTION"):
            try:
                result = open_bid(**job)
                events = services.record_outcome(opening_id, result)
                db.session.commit()
                _notify(app, events)
                recorded.set_result(events)
            except BaseException as exc:
                db.session.rollback()
                recorded.set_exception(exc)
                raise
            finally:
                in_flight.discard(opening_id)
            continue
        work = pool(app).submit(open_bid, **job)
        work.add_done_callback(lambda done, i=opening_id, r=recorded: _record(app, i, done, r))
    return futures


def _record(
    app: Flask, opening_id: int, done: concurrent.futures.Future, recorded: concurrent.futures.Future
) -> None:
    """Record a worker's result in the parent, in a transaction of its own."""
    from bidding.opening import services

    try:
        with app.app_context():
            try:
                result = done.result()
                events = services.record_outcome(opening_id, result)
                db.session.commit()
            except BaseException:
                db.session.rollback()
                raise
            finally:
                db.session.remove()
        _notify(app, events)
        recorded.set_result(events)
    except BaseException as exc:  # left DECRYPTING with its sealed key: the resume job retries it
        log.exception("recording the opening of bid opening %s failed", opening_id)
        recorded.set_exception(exc)
    finally:
        app.extensions.get(IN_FLIGHT, set()).discard(opening_id)


# -- on the job workers (JOB_QUEUE=dramatiq) ----------------------------------------------------------------


def _hand_to_workers(app: Flask, bid_opening_ids: list[int]) -> None:
    """One "opening.decrypt" job per bid opening, each at most once per `CLAIM` (already committed)."""
    queue = jobs.queue(app)
    for opening_id in bid_opening_ids:
        try:
            if hasattr(queue, "submit_once"):
                queue.submit_once(JOB, {"bid_opening": opening_id}, f"{JOB}:{opening_id}", CLAIM)
            else:
                queue.submit(JOB, {"bid_opening": opening_id})
        except Exception:  # left DECRYPTING with its sealed key: the opening's sweep hands it over again
            log.exception("bid opening %s could not be handed to the job queue", opening_id)


def decrypt(payload: dict[str, Any]) -> str:
    """The job: open one bid here, record it (a conditional update), commit, and announce it.

    Idempotent: a bid no longer decrypting is left alone, and a second worker that opened the same bid
    records nothing and announces nothing (only the one whose update took the row does).
    """
    from bidding.opening import services

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    opening_id = int(payload["bid_opening"])
    job = services.decryption_job(opening_id)
    if job is None:
        return "done already"
    result = open_bid(**job)
    events = services.record_outcome(opening_id, result)
    db.session.commit()
    _notify(app, events)
    return "recorded" if events else "done already"


def init_app(app: Flask) -> None:
    """The decryption job (swept by the opening's job, which resumes what is left decrypting), and, for
    the pool of the embedded default, its end on SIGTERM."""
    from bidding.opening import services

    jobs.register(app, JOB, decrypt, services.JOB)
    if not distributed(app):
        install_sigterm_handler(app)
