"""The cluster benchmark (issue 13): registered, its bookkeeping right, and at --quick sizes on a real
cluster it prints every comparison it promises (its figures are not checked, only their shape)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cluster import QUICK, MorningRun, _bids_digest, _match
from tests.services import service_missing

ROOT = Path(__file__).resolve().parents[3]
#: A --quick run on a busy 2-core machine: a cluster brought up, tenders closed and opened, two rooms, a rush.
TIMEOUT = float(os.environ.get("EBID_BENCH_TEST_TIMEOUT_CLUSTER", "1500"))
#: A ratio, or n/a (a watcher's memory may round to nothing beside a reference that grew by nothing).
RATIO = re.compile(r"\s(-?\d[\d,]*(?:\.\d+)?×|n/a)(\s|$)")
#: Every row the quick run prints (under the gevent worker, the --quick default), each with a ratio.
ROWS = (
    "gevent: announcement commit -> watcher, p50",
    "gevent: announcement commit -> watcher, p99",
    f"gevent: {QUICK.watchers} watchers connect and join",
    "gevent: reconnect storm, time to settle",
    "gevent: memory per connected watcher",
    "gevent: evaluation acknowledgement, p50",
    "gevent: evaluation acknowledgement, p99",
    "deadline rush: submission, p50",
    "deadline rush: submission, p99",
)
#: The notes that carry the goals' verdicts.
NOTES = ("goal p99 ≤ 1.5× bare", "goal ≤ 2× bare", "goal p99 ≤ 3× bare",
         "goal (0 lost, every receipt verifies)", "threads per connected watcher")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=TIMEOUT, check=False, env={**os.environ, **(env or {})})


def test_the_cluster_benchmark_is_registered():
    result = _run("--list")
    assert result.returncode == 0, result.stderr
    assert "cluster.morning" in {line.split()[0] for line in result.stdout.splitlines() if line.strip()}


def test_an_announcement_a_watcher_never_received_is_counted_as_missed():
    # tender 7 has two watchers and two announcements; one watcher heard only the first
    report = {0: {"seen": [(7, {"7:1": 10.5, "7:2": 11.25}), (7, {"7:1": 10.75})], "duplicates": 1}}
    run = _match(report, {"7:1": 10.0, "7:2": 11.0}, {7: 2}, 1.0, (0, 0), (0, 0))
    assert isinstance(run, MorningRun)
    assert (run.expected, run.missing, run.duplicates) == (4, 1, 1)
    assert sorted(run.latencies) == [0.25, 0.5, 0.75]
    assert run.span == 1.0


def test_a_state_after_a_reconnect_is_right_only_with_every_bid_as_it_is():
    state = {"bids": [{"bid": 1, "state": "opened", "price": "10.00"}, {"bid": 2, "state": "opened"}]}
    behind = {"bids": [{"bid": 1, "state": "opened", "price": "10.00"}, {"bid": 2, "state": "decrypting"}]}
    assert _bids_digest(state) == _bids_digest({"bids": list(reversed(state["bids"])), "now": "later"})
    assert _bids_digest(state) != _bids_digest(behind)
    assert _bids_digest({"error": "x"}) is None


@pytest.mark.bench
@pytest.mark.cluster
@pytest.mark.skipif(not os.environ.get("EBID_BENCH_TESTS"),
                    reason="several minutes (a cluster brought up, openings, rooms, a rush): "
                           "set EBID_BENCH_TESTS=1")
def test_the_cluster_benchmark_runs_quickly_and_prints_every_comparison():
    from deploy.cluster import missing_packages

    missing = missing_packages()
    if missing:
        service_missing(f"the cluster needs Debian packages: apt-get install {' '.join(missing)}")
    result = _run("cluster", "--quick", env={"EBID_BENCH_CLUSTER_CLASSES": "gevent"})
    assert result.returncode == 0, result.stdout + result.stderr
    # a scenario that fails is reported in the notes (the client processes' own noise in stderr at exit,
    # aiohttp releasing a response after its loop closed, is not a failure)
    assert ": FAILED " not in result.stdout, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for measurement in ROWS:
        rows = [line for line in lines if re.match(re.escape(measurement) + r"\s{2,}\S", line)]
        assert len(rows) == 1, f"{measurement!r} printed {len(rows)} rows:\n{result.stdout}"
        ratio = RATIO.search(rows[0])
        assert ratio is not None, f"no ratio in {rows[0]!r}"
    for note in NOTES:
        assert note in result.stdout, f"no note with {note!r}:\n{result.stdout}"
    assert re.search(r"MISSED \d+ of [\d,]+", result.stdout), result.stdout
