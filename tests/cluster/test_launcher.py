"""The launcher's promises (`python -m deploy.cluster`, docs/deployment.md): every web process answers on
its own port and through nginx, an event one web process emits reaches a client connected to another
(the Redis message queue), every program runs under the supervisor named as cluster.json says, and
`down` leaves no process (the session fixture's teardown, tests/cluster/conftest.py, checks that last).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import requests

from tests.cluster.harness import Ceremony, Watcher, wait_for


def test_every_web_process_and_nginx_answer(cluster) -> None:
    info = json.loads((cluster.dir / "cluster.json").read_text())
    assert [w["name"] for w in info["web"]] == ["web-1", "web-2"]
    assert len({w["port"] for w in info["web"]} | {int(info["url"].rsplit(":", 1)[1])}) == 3
    for url in [w["url"] for w in info["web"]] + [info["url"]]:
        response = requests.get(f"{url}/healthz", timeout=30)
        assert response.status_code == 200, (url, response.text[:500])
        assert response.json() == {"status": "ok", "database": "postgresql"}
        assert response.headers["Server"] == "ebid"  # neither gunicorn's nor nginx's name
    page = requests.get(info["url"] + "/", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    states = cluster.status()
    assert set(states) == {"postgres", "redis", "nginx", "web-1", "web-2", "jobs-1", "jobs-2", "scheduler"}
    assert set(states.values()) == {"RUNNING"}


def test_the_env_file_is_private_and_names_the_shared_services(cluster) -> None:
    env_file = Path(cluster.info["env_file"])
    assert env_file.stat().st_mode & 0o077 == 0
    assert (cluster.dir / "secrets.env").stat().st_mode & 0o077 == 0
    env = cluster.env
    assert env["REDIS_URL"] == env["SOCKETIO_MESSAGE_QUEUE"] == cluster.info["redis_url"]
    assert env["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert (env["EBID_CONFIG"], env["JOB_QUEUE"], env["TRUSTED_PROXIES"]) == ("production", "dramatiq", "1")


def test_an_event_emitted_by_web_1_reaches_a_watcher_on_web_2(cluster) -> None:
    ceremony = Ceremony(cluster, bids=1, url=cluster.web_url("web-1"))
    watcher = Watcher([cluster.web_url("web-2")], ceremony.tender, name="on web-2")
    try:
        wait_for("the watcher on web-2 to be given the room's state", lambda: watcher.states())
        seen = len(watcher.events)
        time.sleep(0.5)
        assert all(data["tender_state"] == "closed" for data in watcher.states())
        # Through web-1's API: web-1 commits and pushes the room's new state, which only Redis can carry
        # to the watcher on web-2.
        ceremony.office.call("POST", f"{ceremony.base}/start")
        wait_for("web-1's new state of the room to reach the watcher on web-2",
                 lambda: any(event == "state" and data["tender_state"] == "opening"
                             and data["opening"]["started_at"] for event, data in watcher.events[seen:]),
                 detail=lambda: repr(watcher.events[-3:])[:3000])
        assert watcher.connected_to == [cluster.web_url("web-2")]
    finally:
        watcher.close()
