"""Faults on the production topology (issue 13, "Faults"), each in the middle of an opening ceremony:
a web process killed with SIGKILL, a job worker killed while it decrypts, Redis restarted, PostgreSQL
gone for five seconds. The supervisor restarts what died; the ceremony goes on to its end; nothing is
lost, nothing is done twice, and no process is left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from tests.cluster.harness import (
    WAIT,
    Ceremony,
    Cluster,
    Watcher,
    alive,
    at,
    descendants,
    open_files,
    wait_for,
)
from tests.functional.test_opening_restart import HangingDisk

pytestmark = pytest.mark.cluster


def close_all(watchers: list[Watcher]) -> None:
    for w in watchers:
        w.close()


@pytest.mark.opening_bids(3)
def test_a_web_process_killed_mid_opening_its_clients_come_back_and_the_opening_goes_on(cluster: Cluster):
    web1, web2 = cluster.web_url("web-1"), cluster.web_url("web-2")
    c = Ceremony(cluster, bids=3, url=web2)
    stays = Watcher([web1], c.tender, name="a watcher on web-1 that reconnects to it")
    moves = Watcher([web1, web2], c.tender, failover=True, name="a watcher on web-1 that moves to web-2")
    other = Watcher([web2], c.tender, name="a watcher on web-2")
    watchers = [stays, moves, other]
    try:
        c.start()
        c.hand_over(0)
        c.wait_opened([0])
        c.wait_watchers(watchers, [0])

        # SIGKILL to web-1's server process: its worker must not outlive it (nor keep its clients)
        old = [cluster.pid("web-1"), *descendants(cluster.pid("web-1"))]
        killed = cluster.kill9("web-1")
        # while web-1 is down (or restarting), the ceremony goes on through web-2
        c.hand_over(1, url=web2)
        c.wait_opened([1], url=web2)
        cluster.wait_back("web-1", killed)
        wait_for("the killed web process's own processes to end", lambda: not any(alive(p) for p in old),
                 detail=lambda: str([p for p in old if alive(p)]))

        # every client is back, on another process or on the restarted one, with the current state
        c.wait_watchers([other], [0, 1])
        # (the killed server's worker can outlive it by a moment and still pass on bid 1's announcement,
        # so "sees bid 1" can come before the reconnection: wait for the reconnection itself too)
        for w in (stays, moves):
            wait_for(f"{w.name} to reconnect", lambda w=w: len(w.connected_to) >= 2,
                     detail=lambda w=w: f"connected to {w.connected_to}")
        c.wait_watchers([stays, moves], [0, 1], told=False)
        assert moves.connected_to[-1] == web2 and len(moves.connected_to) >= 2
        assert stays.connected_to == [web1] * len(stays.connected_to) and len(stays.connected_to) >= 2
        assert other.connected_to == [web2]  # the other process never noticed

        # and the ceremony ends through the restarted process
        c.hand_over(2, url=web1)
        c.wait_opened([0, 1, 2], url=web1)
        c.wait_watchers(watchers, [2])
        for w in watchers:
            assert w.opened()[c.ids[2]] == 1, (w.name, w.opened())
        assert other.opened() == Counter(dict.fromkeys(c.ids, 1))  # never missed nor doubled
        concluded = c.conclude(url=web1)
        assert concluded["opening"]["state"] == "concluded"
        assert c.logged_openings() == sorted(c.ids)
        assert not cluster.orphans()
    finally:
        close_all(watchers)


@pytest.mark.opening_bids(4)
def test_a_job_worker_killed_mid_decryption_another_finishes_each_bid_once(cluster: Cluster, tmp_path):
    web1, web2 = cluster.web_url("web-1"), cluster.web_url("web-2")
    c = Ceremony(cluster, bids=4, url=web1)
    watchers = [Watcher([web1], c.tender, name="a watcher on web-1"),
                Watcher([web2], c.tender, name="a watcher on web-2")]
    workers = {name: cluster.pid(name) for name in cluster.job_workers}
    disk = None
    try:
        c.start()
        c.hand_over(0)
        c.wait_opened([0])

        # the second bid's envelope is served through a FIFO: whole to the hand-over's check, then half
        # of it to the job worker that decrypts it, and then nothing, so that worker is certainly mid-way
        blob = c.blob(1)
        aside = tmp_path / "envelope-aside"
        os.replace(blob, aside)
        os.mkfifo(blob)
        disk = HangingDisk(blob, aside.read_bytes())
        disk.start()
        c.hand_over(1, url=web2)
        disk.second.set()
        assert disk.fed.wait(WAIT), "no job worker read the envelope"
        assert disk.error is None, disk.error
        busy = wait_for("the job worker reading the envelope", lambda: [
            name for name, pid in workers.items()
            if any(str(blob) in open_files(p) for p in (pid, *descendants(pid)))])
        assert len(busy) == 1, busy
        assert c.bid_states()[c.ids[1]] == "decrypting"
        (victim,) = busy
        programs = cluster.pids()
        children = descendants(workers[victim])

        killed = cluster.kill9(victim)
        disk.release.set()
        disk.join(30)
        os.replace(aside, blob)  # the disk is back

        # another worker (or the restarted one) picks the job up and finishes it, once
        c.wait_opened([1])
        cluster.wait_back(victim, killed)
        c.hand_over(2, url=web1)
        c.hand_over(3, url=web2)
        c.wait_opened([0, 1, 2, 3])
        c.wait_watchers(watchers, [0, 1, 2, 3])
        time.sleep(2)  # a late duplicate would arrive now
        for w in watchers:
            assert w.opened() == Counter(dict.fromkeys(c.ids, 1)), (w.name, w.opened())
        opened = cluster.log_events("opening.bid_opened", c.ids)
        assert sorted(e["data"]["bid"] for e in opened) == sorted(c.ids)
        assert [e["data"]["price"] for e in opened if e["data"]["bid"] == c.ids[1]] == [c.bids[1]["price"]]
        assert cluster.sql("SELECT count(*) FROM bid_openings WHERE tender_id = %s AND state = 'opened' "
                           "AND sealed_data_key IS NULL", c.tender) == [(4,)]

        # no orphan: the killed worker had no child of its own, it is gone, and whatever runs now runs
        # under the supervisor
        assert children == []
        found = cluster.processes()
        assert set(cluster.pids().values()) <= set(found), "the search for the cluster's processes is blind"
        assert killed not in found
        assert not cluster.orphans()
        now = cluster.pids()
        now.pop(victim), programs.pop(victim)
        assert now == programs, "a program other than the killed worker was restarted"
        assert c.conclude()["opening"]["state"] == "concluded"
    finally:
        if disk is not None:
            disk.release.set()
        if not Path(blob := c.blob(1)).is_file() and (tmp_path / "envelope-aside").exists():
            os.replace(tmp_path / "envelope-aside", blob)
        close_all(watchers)


def _subscribers(cluster: Cluster) -> int:
    """How many processes listen on Redis for Socket.IO's messages (every channel, summed)."""
    import redis

    client = redis.Redis.from_url(cluster.env["REDIS_URL"], socket_timeout=5)
    try:
        channels = client.pubsub_channels()
        return sum(count for _name, count in client.pubsub_numsub(*channels)) if channels else 0
    except redis.RedisError:
        return 0
    finally:
        client.close()


@pytest.mark.opening_bids(3)
def test_redis_restarted_mid_opening_rooms_recover_and_a_rejoining_client_misses_nothing(cluster: Cluster):
    web1, web2 = cluster.web_url("web-1"), cluster.web_url("web-2")
    c = Ceremony(cluster, bids=3, url=web2)
    watchers = [Watcher([web1], c.tender, name="a watcher on web-1"),
                Watcher([web2], c.tender, name="a watcher on web-2")]
    away = Watcher([web1], c.tender, name="a watcher who is away during the restart")
    servers = {w["name"]: cluster.pid(w["name"]) for w in cluster.web}
    try:
        c.start()
        c.hand_over(0)
        c.wait_opened([0])
        c.wait_watchers([*watchers, away], [0])
        away.close()

        listening = wait_for("the web processes to listen on Redis", lambda: _subscribers(cluster))
        out = cluster.ctl("restart", "redis")
        assert "started" in out, out
        c.hand_over(1, url=web2)  # right after the restart: Redis may not be listened to again yet
        c.wait_opened([0, 1])

        # a client that rejoins is given every announcement so far: from either process
        for w in watchers:
            w.rejoin()
        c.wait_watchers(watchers, [0, 1], told=False)
        back = Watcher([web1], c.tender, name="the watcher back after the restart")
        watchers.append(back)
        wait_for("the returning watcher's state",
                 lambda: back.sees({c.ids[0]: "opened", c.ids[1]: "opened"}))
        assert {b["bid"]: b["price"]["amount"] for b in back.latest()["bids"] if b["state"] == "opened"} == {
            c.ids[0]: c.bids[0]["price"], c.ids[1]: c.bids[1]["price"]}

        # the rooms recover without a server restart: an announcement made through one process and
        # decrypted on a job worker reaches the watchers of both, once
        wait_for("the web processes to listen on Redis again", lambda: _subscribers(cluster) >= listening)
        c.hand_over(2, url=web2)
        c.wait_opened([0, 1, 2])
        c.wait_watchers(watchers, [2])
        time.sleep(1)
        for w in watchers:
            assert w.opened()[c.ids[2]] == 1, (w.name, w.opened())
        assert {w["name"]: cluster.pid(w["name"]) for w in cluster.web} == servers  # none restarted
        assert c.logged_openings() == sorted(c.ids)
        assert c.conclude()["opening"]["state"] == "concluded"
    finally:
        close_all([*watchers, away])


@pytest.mark.opening_bids(3)
def test_postgresql_gone_for_five_seconds_answers_503_writes_nothing_and_resumes(cluster: Cluster, tmp_path):
    web1, web2 = cluster.web_url("web-1"), cluster.web_url("web-2")
    c = Ceremony(cluster, bids=3, url=web1)
    servers = {w["name"]: cluster.pid(w["name"]) for w in cluster.web}
    c.start()
    c.hand_over(0)
    c.wait_opened([0])
    received = len(cluster.log_events("opening.key_received", c.ids))

    out = cluster.ctl("stop", "postgres")
    assert "stopped" in out, out
    gone = time.monotonic()
    try:
        answers = []
        for url in (web1, web2, cluster.url):
            answers.append(requests.get(f"{url}{c.base}", timeout=60))
            answers.append(requests.get(f"{url}/healthz", timeout=60))
        key = c.bids[1]
        answers.append(at(c.bidders[1], web2).http.post(
            f"{web2}{c.base}/bids/{key['id']}/key", json={"data_key": key["data_key"]}, timeout=60))
        for answer in answers:
            assert answer.status_code == 503, (answer.url, answer.status_code, answer.text[:500])
        for answer in answers:
            if answer.url.endswith("/healthz"):
                continue
            error = answer.json()["error"]
            assert error["code"] and error["message"], error
        time.sleep(max(0.0, 5 - (time.monotonic() - gone)))
    finally:
        out = cluster.ctl("start", "postgres")
    assert "started" in out, out

    # service resumes by itself: no web process restarted
    for url in (web1, web2, cluster.url):
        wait_for(f"{url} to answer again", lambda u=url: cluster.healthy(u), every=0.5)
    assert {w["name"]: cluster.pid(w["name"]) for w in cluster.web} == servers

    # nothing half-written: the refused hand-over left no trace; done again, it is taken once
    assert c.bid_states(web2)[c.ids[1]] == "waiting_key"
    assert len(cluster.log_events("opening.key_received", c.ids)) == received
    c.hand_over(1, url=web2)
    c.hand_over(2, url=web1)
    c.wait_opened([0, 1, 2])
    assert len(cluster.log_events("opening.key_received", c.ids)) == received + 2
    assert c.conclude(url=web2)["opening"]["state"] == "concluded"

    # and the audit log is whole: it verifies against the platform's keys
    export = wait_for("a log export", lambda: (
        (r := requests.get(f"{cluster.url}/api/log/export", timeout=60)).status_code == 200 and r.content))
    (tmp_path / "log.jsonl").write_bytes(export)
    subprocess.run([sys.executable, "-m", "signing.client", "verify-log", str(tmp_path / "log.jsonl"),
                    "--server", cluster.url], check=True, capture_output=True, timeout=WAIT)
