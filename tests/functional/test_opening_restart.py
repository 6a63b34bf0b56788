"""Restart safety, for real (issue 5): a platform server is killed with SIGKILL in the middle of an
opening ceremony, with one bid opened and another one's decryption running, and started again on
the same instance (file SQLite database, keys, blobs). Nothing is lost, nothing is done twice, the
interrupted decryption resumes by itself, and a client that reconnects is given the room's state.

To catch a decryption certainly running at the kill, the envelope's file is served through a FIFO
that hands the decryption worker half the envelope and then nothing (a disk that hangs), until the
server is killed; the real file is put back before the restart.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import socketio as socketio_client

from tests.functional.live_platform import LivePlatform

NS = "/opening"
WAIT = 180  # seconds: generous, for a busy two-core machine (the worker processes are spawned)


class HangingDisk(threading.Thread):
    """A blob served through a FIFO: whole to its first reader (the hand-over's one-chunk check), then,
    once told, half of it to the second (the decryption worker), and then nothing until released."""

    def __init__(self, path: Path, data: bytes) -> None:
        super().__init__(daemon=True)
        self.path, self.data = path, data
        self.second = threading.Event()  # the first reader is done: serve the worker
        self.fed = threading.Event()  # the worker has its half
        self.release = threading.Event()
        self.error: BaseException | None = None

    def _open_writer(self) -> int:
        """Open the FIFO for writing once a reader has it open (never blocks forever)."""
        deadline = time.monotonic() + WAIT
        while True:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader yet
                if time.monotonic() > deadline or self.release.is_set():
                    raise
                time.sleep(0.05)
                continue
            os.set_blocking(fd, True)
            return fd

    def run(self) -> None:
        try:
            fd = self._open_writer()
            try:
                os.write(fd, self.data)
            except BrokenPipeError:
                pass  # the check read its chunk and closed
            finally:
                os.close(fd)
            if not self.second.wait(WAIT):
                return
            fd = self._open_writer()
            try:
                os.write(fd, self.data[: len(self.data) // 2])
                self.fed.set()
                self.release.wait(WAIT)
            finally:
                try:
                    os.close(fd)
                except BrokenPipeError:
                    pass
        except BaseException as exc:  # reported by the test
            self.error = exc


class Person:
    """Someone at their desk, with a bearer token from the platform's API."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self.http = requests.Session()
        response = self.http.post(
            f"{url}/api/auth/token", json={"username": username, "password": password}, timeout=60
        )
        assert response.status_code == 200, response.text
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def post(self, path: str, expect: int, **kw: Any) -> dict[str, Any]:
        response = self.http.post(self.url + path, timeout=60, **kw)
        assert response.status_code == expect, response.text[:1000]
        return response.json()


def wait_for(what: str, check: Callable[[], Any], live: LivePlatform) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{live.log_tail()}"
        time.sleep(0.25)


def public_state(url: str, tender: int) -> dict[str, Any]:
    response = requests.get(f"{url}/api/tenders/{tender}/opening", timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def bid_state(snapshot: dict[str, Any], bid_id: int) -> dict[str, Any]:
    return next(b for b in snapshot["bids"] if b["bid"] == bid_id)


def database(live: LivePlatform, sql: str, *args: Any) -> list[tuple]:
    with sqlite3.connect(live.database) as connection:
        return connection.execute(sql, args).fetchall()


def events(live: LivePlatform, event: str) -> list[dict[str, Any]]:
    rows = database(live, 'SELECT body FROM log_entries WHERE event = ? ORDER BY "index"', event)
    return [json.loads(body) for (body,) in rows]


class Watcher:
    """A public watcher's python-socketio client over websocket that rejoins the room whenever it
    (re)connects, keeping every "state" it is given."""

    def __init__(self, url: str, tender: int) -> None:
        self.states: list[dict[str, Any]] = []
        self.connects = 0
        self.client = socketio_client.Client(
            reconnection=True, reconnection_delay=0.5, reconnection_delay_max=2, randomization_factor=0
        )

        @self.client.on("connect", namespace=NS)
        def rejoin():
            self.connects += 1
            self.client.emit("join", {"tender": tender}, namespace=NS)

        @self.client.on("state", namespace=NS)
        def state(data):
            self.states.append(data)

        self.client.connect(url, namespaces=[NS], transports=["websocket"], wait_timeout=30)


def test_killing_the_server_mid_ceremony_loses_nothing_and_does_nothing_twice(tmp_path):
    live = LivePlatform(tmp_path)
    live.prepare()
    setup = live.run([sys.executable, "-m", "tests.functional.opening_restart_setup"])
    facts = json.loads(setup.strip().splitlines()[-1])
    tender, bids, password = facts["tender"], facts["bids"], facts["password"]
    base = f"/api/tenders/{tender}/opening"
    live.start()
    watcher = None
    disk = None
    try:
        office = Person(live.url, facts["office"], password)
        supervisor = Person(live.url, facts["supervisor"], password)
        bidders = [Person(live.url, b["username"], password) for b in bids]
        watcher = Watcher(live.url, tender)
        wait_for("the watcher's first state", lambda: watcher.states, live)

        # -- the first half of the ceremony -------------------------------------------------------------
        started = office.post(f"{base}/start", 200)
        window_ends_at = started["opening"]["window_ends_at"]
        for person in (supervisor, office, bidders[0], bidders[1]):
            person.post(f"{base}/check-in", 200)
        bidders[0].post(f"{base}/bids/{bids[0]['id']}/key", 202, json={"data_key": bids[0]["data_key"]})
        wait_for(
            "the first bid to open",
            lambda: bid_state(public_state(live.url, tender), bids[0]["id"])["state"] == "opened",
            live,
        )
        objection = bidders[1].post(f"{base}/objections", 201, json={"text": "请核对开标时间"})
        objection_id = objection["objections"][0]["id"]

        # the second bid's decryption starts, and its worker is left reading half the envelope
        blob = Path(facts["blobs"]) / bids[1]["sha256"][:2] / bids[1]["sha256"][2:4] / bids[1]["sha256"]
        real = blob.read_bytes()
        aside = tmp_path / "envelope-aside"
        os.replace(blob, aside)
        os.mkfifo(blob)
        disk = HangingDisk(blob, real)
        disk.start()
        bidders[1].post(f"{base}/bids/{bids[1]['id']}/key", 202, json={"data_key": bids[1]["data_key"]})
        disk.second.set()
        assert disk.fed.wait(WAIT), f"the decryption worker never read the envelope\n{live.log_tail()}"
        assert disk.error is None, disk.error
        wait_for(
            "the watcher to see the second bid decrypting",
            lambda: any(
                bid_state(s, bids[1]["id"])["state"] == "decrypting" for s in watcher.states if s["bids"]
            ),
            live,
        )
        before = public_state(live.url, tender)
        checkpoint = requests.get(f"{live.url}/api/log/checkpoint", timeout=60)
        assert checkpoint.status_code == 200
        (tmp_path / "checkpoint-before.txt").write_text(checkpoint.text)

        # -- SIGKILL: the server and its decryption workers, mid-decryption --------------------------------
        live.kill()
        disk.release.set()
        disk.join(30)
        (state, key_kept, attempts) = database(
            live,
            "SELECT state, sealed_data_key IS NOT NULL, attempts FROM bid_openings WHERE bid_id = ?",
            bids[1]["id"],
        )[0]
        assert (state, key_kept, attempts) == ("decrypting", 1, 1)  # cut in the middle, its key kept sealed
        assert len(events(live, "opening.bid_opened")) == 1
        os.replace(aside, blob)  # the disk is back
        seen = len(watcher.states)

        # -- the same instance, started again ---------------------------------------------------------------
        live.start()
        after = wait_for(
            "the interrupted decryption to resume and open",
            lambda: (
                (s := public_state(live.url, tender))
                and bid_state(s, bids[1]["id"])["state"] == "opened"
                and s
            ),
            live,
        )
        # nothing lost: the same opening, check-ins, objection, first bid and window
        assert (
            after["opening"]["state"] == "decrypting" and after["opening"]["window_ends_at"] == window_ends_at
        )
        assert after["check_ins"] == before["check_ins"] and len(after["check_ins"]) == 4
        assert after["objections"] == before["objections"]
        assert bid_state(after, bids[0]["id"]) == bid_state(before, bids[0]["id"])
        second = bid_state(after, bids[1]["id"])
        assert second["price"]["amount"] == bids[1]["price"] and second["key_source"] == "bidder"
        assert bid_state(after, bids[2]["id"])["state"] == "waiting_key"

        # the reconnecting client is given the room's state again, up to the resumed bid
        wait_for(
            "the watcher to reconnect and be given the state",
            lambda: (
                watcher.connects >= 2
                and any(bid_state(s, bids[1]["id"])["state"] == "opened" for s in watcher.states[seen:])
            ),
            live,
        )
        assert watcher.client.transport() == "websocket"

        # never twice: the key handed over before the kill is not asked for, or taken, again
        refused = bidders[1].http.post(
            f"{live.url}{base}/bids/{bids[1]['id']}/key", json={"data_key": bids[1]["data_key"]}, timeout=60
        )
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_waiting"

        # -- the ceremony goes on to its end --------------------------------------------------------------
        office.post(f"{base}/objections/{objection_id}/answer", 200, json={"answer": "开标时间以公告为准"})
        bidders[2].post(f"{base}/check-in", 200)
        bidders[2].post(f"{base}/bids/{bids[2]['id']}/key", 202, json={"data_key": bids[2]["data_key"]})
        wait_for(
            "the third bid to open",
            lambda: bid_state(public_state(live.url, tender), bids[2]["id"])["state"] == "opened",
            live,
        )
        concluded = office.post(f"{base}/conclude", 200)
        assert concluded["opening"]["state"] == "concluded" and concluded["tender_state"] == "evaluating"
        assert concluded["opening"]["record_document"]

        # each thing happened once, in the log and in the database
        opened = [e["data"]["bid"] for e in events(live, "opening.bid_opened")]
        assert sorted(opened) == sorted(b["id"] for b in bids)
        assert sorted(e["data"]["price"] for e in events(live, "opening.bid_opened")) == sorted(
            b["price"] for b in bids
        )
        assert len(events(live, "opening.started")) == 1
        assert len(events(live, "opening.key_received")) == 3
        assert len(events(live, "opening.checked_in")) == 5
        assert (
            database(live, "SELECT attempts, sealed_data_key FROM bid_openings ORDER BY id")
            == [(1, None)] * 3
        )

        # and the log after the restart extends the checkpoint signed before the kill
        export = requests.get(f"{live.url}/api/log/export", timeout=60)
        assert export.status_code == 200
        (tmp_path / "log.jsonl").write_bytes(export.content)
        live.run(
            [
                sys.executable,
                "-m",
                "signing.client",
                "verify-log",
                str(tmp_path / "log.jsonl"),
                "--server",
                live.url,
                "--consistency-from",
                str(tmp_path / "checkpoint-before.txt"),
            ]
        )
    finally:
        if disk is not None:
            disk.release.set()
        if watcher is not None:
            watcher.client.disconnect()
        live.stop()
