"""Issue 6's evaluation room, measured: a room of 25 experts scoring at once, against a real server.

The real server runs in its own process (`python wsgi.py`, as `make run` does) on a fresh instance and
SQLite database. A panel of experts, a tender under evaluation and its opened bids are made in the
database before it starts (`seed_room`; the draw and the opening have their own benchmarks). Load
processes (`LOAD_PROCESSES`), each with its share of the experts, connect one python-socketio client
per expert to "/evaluation", join `panel:<id>`, and then all at once each expert saves its scores
criterion by criterion (`save`, acknowledged) and submits. Latency is from the emit to its
acknowledgement, which the server sends after the commit and after the room's pushes.

The reference is a bare python-socketio server (threading, the same transport and the same
python-socketio as Flask-SocketIO runs on) in its own process, with the same room, the same events and
acknowledgements, and the same number of room pushes per event, but no database, no authorisation, no
audit log: what the platform's event handling costs above the Socket.IO layer itself. Both are driven
by the same load processes and schedule, one after the other. Nothing here asserts a time.
"""

from __future__ import annotations

import json
import multiprocessing
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import benchmark
from benchmarks.common import Report

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
PASSWORD = "room-benchmark-password"  # noqa: S105 - throw-away accounts in a throw-away database
LOAD_PROCESSES = 5
#: An event unanswered this long is counted as lost (and reported), not waited for.
CALL_TIMEOUT = 60


# --- the servers ----------------------------------------------------------------------------------------

SEED = """
import json, sys
from app import create_app
from tests.functional.evaluation_room_data import seed_room
app = create_app("development")
with app.app_context():
    made = seed_room(experts=int(sys.argv[1]), bids=int(sys.argv[2]), anonymous=False,
                     password=sys.argv[3])
open(sys.argv[4], "w").write(json.dumps(made))
"""

#: The reference: a bare python-socketio server with the room's events, acknowledgements and pushes.
BARE = """
import json, sys
import socketio
from werkzeug.serving import run_simple

NS = "/evaluation"
port, payloads = int(sys.argv[1]), json.load(open(sys.argv[2]))
STATE, SHEET = payloads["state"], payloads["sheet"]
sio = socketio.Server(async_mode="threading", cors_allowed_origins=[])

@sio.on("join", namespace=NS)
def join(sid, data):
    sio.enter_room(sid, "panel:%s" % data["panel"], namespace=NS)
    sio.emit("state", STATE, to=sid, namespace=NS)
    sio.emit("sheet", SHEET, to=sid, namespace=NS)
    return {"ok": True, "as": "member"}

@sio.on("save", namespace=NS)
def save(sid, data):
    sio.emit("sheet", SHEET, to=sid, namespace=NS)
    return {"ok": True}

@sio.on("submit", namespace=NS)
def submit(sid, data):
    room = "panel:%s" % data["panel"]
    event = {"expert": 1, "at": "2026-11-22T00:00:00+00:00"}
    sio.emit("evaluation.sheet_submitted", event, to=room, namespace=NS)
    sio.emit("state", STATE, to=room, namespace=NS)
    sio.emit("sheet", SHEET, to=sid, namespace=NS)
    return {"ok": True}

print("ready", flush=True)
run_simple("127.0.0.1", port, socketio.WSGIApp(sio), threaded=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen, log: Path) -> None:
    give_up = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > give_up:
                raise RuntimeError(f"the bare server did not start:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.1)


# --- the load ---------------------------------------------------------------------------------------------


def _expert_load(
    url: str,
    panel: int,
    token: str | None,
    entries: list[dict],
    rounds: int,
    start: threading.Event,
    out: list[float],
    errors: list[str],
) -> None:
    import socketio

    client = socketio.Client(reconnection=False)

    @client.on("disconnect", namespace="/evaluation")
    def disconnected(*_args: Any) -> None:
        if not finished.is_set():
            errors.append("disconnected by the server before the end")

    def timed(event: str, payload: dict) -> None:
        began = time.perf_counter()
        try:
            answer = client.call(event, payload, namespace="/evaluation", timeout=CALL_TIMEOUT)
        except socketio.exceptions.TimeoutError:
            errors.append(f"{event}: no answer in {CALL_TIMEOUT} s")
            return
        out.append(time.perf_counter() - began)
        if not answer.get("ok"):
            errors.append(f"{event}: {answer}")

    finished = threading.Event()
    try:
        client.connect(
            url, namespaces=["/evaluation"], auth={"token": token} if token else None, wait_timeout=60
        )
        joined = client.call("join", {"panel": panel}, namespace="/evaluation", timeout=120)
        if not joined.get("ok"):
            errors.append(f"join: {joined}")
            return
        start.wait()
        for _ in range(rounds):
            for entry in entries:
                timed("save", {"panel": panel, "scores": [entry]})
        timed("submit", {"panel": panel})
    except Exception as exc:  # reported with the figures, never hidden
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        finished.set()
        client.disconnect()


def _load_process(
    url: str,
    panel: int,
    experts: list[str],
    password: str | None,
    entries: list[list[dict]],
    rounds: int,
    barrier: Any,
    results: Any,
) -> None:
    """One load process: its experts connect and join, wait for every process, then score at once."""
    import requests

    tokens = []
    for username in experts:
        if password is None:
            tokens.append(None)
            continue
        answer = requests.post(
            f"{url}/api/auth/token", json={"username": username, "password": password}, timeout=120
        )
        tokens.append(answer.json()["access_token"])
    start = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=_expert_load, args=(url, panel, token, mine, rounds, start, latencies, errors), daemon=True
        )
        for token, mine in zip(tokens, entries, strict=True)
    ]
    for thread in threads:
        thread.start()
    time.sleep(2)  # every client connected and joined (a join that fails is reported)
    barrier.wait(timeout=600)
    start.set()
    for thread in threads:
        thread.join(timeout=1200)
    results.put({"latencies": latencies, "errors": errors})


def _entries(made: dict[str, Any], n: int) -> list[list[dict]]:
    """Each expert's scores, one entry per (bid, expert-scored criterion); varied, so some get flagged."""
    scored = [cid for name, cid in made["criteria"].items() if name != "投标报价"]
    maxima = {
        made["criteria"]["企业业绩与信誉"]: 20,
        made["criteria"]["施工组织设计"]: 30,
        made["criteria"]["质量与安全措施"]: 20,
    }
    return [
        [
            {
                "bid": bid,
                "criterion": cid,
                "score": str(max(0, maxima[cid] - 3 - (i + j + k) % 5)),
                "comment": "评审意见",
            }
            for j, bid in enumerate(made["bids"])
            for k, cid in enumerate(scored)
        ]
        for i in range(n)
    ]


def _drive(
    url: str, made: dict[str, Any], password: str | None, processes: int, rounds: int
) -> tuple[list[float], list[str], float]:
    experts = made["experts"]
    entries = _entries(made, len(experts))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    shares = [list(range(p, len(experts), processes)) for p in range(processes)]
    workers = [
        ctx.Process(
            target=_load_process,
            args=(
                url,
                made["panel"],
                [experts[i] for i in share],
                password,
                [entries[i] for i in share],
                rounds,
                barrier,
                results,
            ),
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=600)
    began = time.perf_counter()
    latencies: list[float] = []
    errors: list[str] = []
    for _ in workers:
        got = results.get(timeout=1800)
        latencies += got["latencies"]
        errors += got["errors"]
    wall = time.perf_counter() - began
    for worker in workers:
        worker.join(timeout=60)
    return latencies, errors, wall


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@benchmark(
    "evaluation_room.scoring",
    title="A room of experts scoring at once (Socket.IO, real server)",
    comparison='ours: save/submit on "/evaluation" to the real server in its own process, from '
    "load processes, emit to acknowledgement · reference: a bare python-socketio server "
    "with the same events, acknowledgements and room pushes, and no database",
)
def scoring_room(report: Report, quick: bool) -> None:
    from benchmarks.intake import _note_errors, live_server

    experts, bids, rounds, processes = (5, 2, 1, 2) if quick else (25, 4, 3, LOAD_PROCESSES)
    with tempfile.TemporaryDirectory(prefix="ebid-room-") as folder:
        work = Path(folder)
        made_path = work / "made.json"

        def prepare(env: dict[str, str]) -> None:
            subprocess.run(  # noqa: S603 - our own interpreter and script
                [sys.executable, "-c", SEED, str(experts), str(bids), PASSWORD, str(made_path)],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                timeout=600,
            )

        with live_server(work, prepare) as server:
            made = json.loads(made_path.read_text())
            import requests

            token = requests.post(
                f"{server.url}/api/auth/token",
                timeout=60,
                json={"username": made["experts"][0], "password": PASSWORD},
            ).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            payloads = {
                "state": requests.get(
                    f"{server.url}/api/evaluation/panels/{made['panel']}", headers=headers, timeout=60
                ).json(),
                "sheet": requests.get(
                    f"{server.url}/api/evaluation/panels/{made['panel']}/sheet", headers=headers, timeout=60
                ).json(),
            }
            (work / "payloads.json").write_text(json.dumps(payloads))

            port = _free_port()
            bare_log = work / "bare.log"
            with bare_log.open("wb") as out:
                bare = subprocess.Popen(  # noqa: S603 - our own interpreter and script
                    [sys.executable, "-c", BARE, str(port), str(work / "payloads.json")],
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            try:
                _wait_for(port, bare, bare_log)
                reference, ref_errors, ref_wall = _drive(
                    f"http://{HOST}:{port}", made, None, processes, rounds
                )
            finally:
                bare.terminate()
                bare.wait(timeout=15)
            ours, our_errors, our_wall = _drive(server.url, made, PASSWORD, processes, rounds)
            final = requests.get(
                f"{server.url}/api/evaluation/panels/{made['panel']}", headers=headers, timeout=60
            ).json()
            errors = server.errors()
            server_log = server.log_tail(200_000)
        for what, got, errs in (("ours", ours, our_errors), ("the reference", reference, ref_errors)):
            if not got:
                raise RuntimeError(f"no event of {what} was answered: {errs[:5]}\n{server.log_tail()}")
        events = len(made["experts"]) * (rounds * bids * 3 + 1)
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            report.compare(
                f"room event latency {name}, {experts} experts at once",
                _percentile(ours, q),
                _percentile(reference, q),
                unit="seconds",
                against="bare python-socketio server",
            )
        report.note(
            f"{experts} experts in {processes} load processes, {bids} bids × 3 expert-scored criteria, "
            f"each entry saved {rounds}× then the sheet submitted: {events:,} events expected, "
            f"{len(ours):,} answered by ours in {our_wall:.1f} s, {len(reference):,} by the reference "
            f"in {ref_wall:.1f} s"
        )
        report.note(
            f"medians {statistics.median(ours) * 1000:,.1f} ms vs {statistics.median(reference) * 1000:,.1f}"
            f" ms; slowest {max(ours) * 1000:,.0f} ms vs {max(reference) * 1000:,.0f} ms (the last "
            "submission also flags outliers and, with none, computes the result and issues the report)"
        )
        report.note(
            f"the room ended {final.get('state')!r} with {len(final.get('flags') or [])} flag(s); "
            f"{sum(e['submitted'] for e in final.get('experts', []))} of {experts} sheets submitted"
        )
        for what, errs in (("ours", our_errors), ("reference", ref_errors)):
            for error in errs[:5]:
                report.note(f"CLIENT ERROR ({what}): {error}")
        if our_errors:
            for line in [x for x in server_log.splitlines() if "Error" in x or "Exception" in x][-5:]:
                report.note(f"server log: {line[:200]}")
        _note_errors(report, errors)
