"""The opening ceremony on the production topology (issue 13): watchers spread over two web processes,
the people's requests to either, the envelopes decrypted on the job workers; every watcher on both
processes is told every announcement exactly once, and the signed record agrees with the API."""

from __future__ import annotations

import subprocess
from collections import Counter

import pytest
import requests

from app.demo import Demo
from core.labels import format_money
from tests.cluster.harness import Ceremony, Cluster, Watcher, descendants, wait_for
from tests.pdftools import tool

pytestmark = pytest.mark.cluster


@pytest.mark.opening_bids(4)
def test_watchers_on_two_web_processes_see_every_announcement_once(cluster: Cluster, tmp_path):
    web1, web2 = cluster.web[0]["url"], cluster.web[1]["url"]
    c = Ceremony(cluster, bids=4, url=web1)
    watchers = [Watcher([url], c.tender, name=f"watcher {i} on {url}")
                for i, url in enumerate((web1, web1, web2, web2))]
    try:
        for w in watchers:
            wait_for(f"{w.name}'s first state", w.latest)
        c.start()
        for i in range(len(c.bids)):  # the hand-overs alternate between the two processes
            c.hand_over(i, url=(web1, web2)[i % 2])
        snapshot = c.wait_opened(list(range(len(c.bids))))
        c.wait_watchers(watchers, list(range(len(c.bids))))

        # both processes answer the same state, which the watchers were given
        assert c.state(web2)["bids"] == snapshot["bids"]
        prices = {b["id"]: b["price"] for b in c.bids}
        assert {b["bid"]: b["price"]["amount"] for b in snapshot["bids"]} == prices
        for w in watchers:
            assert w.opened() == Counter({bid: 1 for bid in c.ids}), (w.name, w.opened())
            told = {d["bid"]: d["price"] for e, d in w.events if e == "opening.bid_opened"}
            assert told == prices, w.name
            assert w.sees(dict.fromkeys(c.ids, "opened"))

        # decrypted and announced exactly once in the store of record, off the web processes
        opened = cluster.log_events("opening.bid_opened", c.ids)
        assert sorted(e["data"]["bid"] for e in opened) == sorted(c.ids)
        assert cluster.sql("SELECT count(*) FROM bid_openings WHERE tender_id = %s AND state = 'opened' "
                           "AND sealed_data_key IS NULL", c.tender) == [(len(c.ids),)]

        # no web process made a decryption pool: gunicorn's one worker is each one's only child
        for w in cluster.web:
            assert len(descendants(cluster.pid(w["name"]))) == 1, w["name"]

        concluded = c.conclude(url=web2)
        assert concluded["opening"]["state"] == "concluded" and concluded["tender_state"] == "evaluating"
        for w in watchers:
            wait_for(f"{w.name} to be told of the conclusion",
                     lambda w=w: (s := w.latest()) and s["opening"]["state"] == "concluded")

        # the record agrees with the API's state: every bidder, price and outcome
        demo = Demo(cluster.url, tmp_path, {c.facts["supervisor"]: {"password": c.facts["password"]}})
        web = demo._web_session(c.facts["supervisor"])  # noqa: SLF001 - the demo's browser sign-in
        record = concluded["opening"]["record_document"]
        pdf = wait_for("the opening record's PDF", lambda: (
            (r := web.get(f"{cluster.url}/documents/{record}/pdf", timeout=60)).status_code == 200
            and r.content))
        (tmp_path / "record.pdf").write_bytes(pdf)
        text = subprocess.run([tool("pdftotext"), str(tmp_path / "record.pdf"), "-"], capture_output=True,
                              text=True, check=True).stdout
        text = "".join(text.split())  # a table cell wraps a long name over lines
        final = c.state(web1)
        for bid in final["bids"]:
            assert bid["state"] == "opened"
            # the record shows amounts as people read them: "912,345.01 CNY" (spaces were squeezed out above)
            shown = "".join(format_money(bid["price"], "zh_CN").split())
            assert shown in text and bid["bidder"] in text, (bid, shown, text)
        assert requests.get(f"{web1}{c.base}", timeout=60).json()["opening"]["record_document"] == record
    finally:
        for w in watchers:
            w.close()
