"""Decrypting envelopes off the request path: a process pool across the cores, one streamed file per job.

The parent (a request after its commit, or the scheduler) hands `dispatch` the ids of bid openings
in state DECRYPTING. For each it reads what the worker needs (the blob's path, the unsealed data
key, the bidder's registered signing key, the header's expected tender, lot and bidder), and the
worker (`open_bid`, a plain function with no Flask or database) streams the envelope through
`open_envelope`, which checks every chunk tag, the commitment and the signature and reads bid.json,
and returns a plain dict. The parent then records the outcome in its own transaction
(`services.record_outcome`, a conditional update, so a bid is never opened twice).

`OPENING_SYNC_DECRYPTION` runs the same steps in the calling thread (tests, the demo).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from flask import Flask, current_app

from bidding import envelope
from core.extensions import db

log = logging.getLogger(__name__)

POOL = "ebid.opening.pool"
IN_FLIGHT = "ebid.opening.in_flight"
LISTENERS = "ebid.opening.listeners"
_lock = threading.Lock()


class _Discard:
    """A package sink that keeps nothing: the opening needs bid.json (read from the stream), not the files."""

    def write(self, data: bytes) -> int:
        return len(data)


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
    try:
        opened = envelope.open_envelope(
            stream,
            data_key,
            _Discard(),
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
    }


def pool(app: Flask) -> concurrent.futures.ProcessPoolExecutor:
    """The application's decryption pool, made on first use and shut down at exit."""
    with _lock:
        executor = app.extensions.get(POOL)
        if executor is None:
            # spawn, not fork: the server has threads (scheduler, sockets) that fork would copy mid-flight
            executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")
            )
            app.extensions[POOL] = executor
            atexit.register(executor.shutdown, wait=False, cancel_futures=True)
        return executor


def shutdown(app: Flask) -> None:
    """Stop the pool (tests, and a clean exit)."""
    with _lock:
        executor = app.extensions.pop(POOL, None)
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)


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
