"""The cluster tests (`make test-cluster`, marker `cluster`): ONE cluster per session — PostgreSQL, Redis,
nginx, 2 web processes, 2 job workers and the scheduler under supervisord, started by
`python -m deploy.cluster up --detach --no-demo` in a temporary folder and stopped at the end (nothing
may outlive it). Skipped, naming the Debian packages, when their binaries are missing.

Each test gets the cluster with every program running and answering (`cluster`); a fault test that
kills or stops something waits for it to come back before it ends, and the next test waits again.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import Cluster, missing_binaries
from tests.ports import free_port
from tests.services import service_missing

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: runs against the production topology (make test-cluster)")
    config.addinivalue_line("markers", "opening_bids(n, ...): the test holds openings of tenders with n bids "
                                       "(made together when the cluster starts)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def running_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[Cluster]:
    missing = missing_binaries()
    if missing:
        service_missing(f"the cluster needs Debian packages that are not installed: "
                    f"apt-get install {' '.join(missing)}")
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    done = cluster.up(port=free_port())
    if done.returncode == 2:  # the launcher names what to install
        service_missing(f"the launcher cannot start the cluster here: {done.stdout.strip()} "
                    f"{done.stderr.strip()}")
    try:
        assert done.returncode == 0, (f"the cluster did not come up:\n{done.stdout[-4000:]}\n"
                                      f"{done.stderr[-4000:]}")
        # the tenders every selected test will open, made in one go (a process and an app, not one each)
        cluster.prepare([n for item in request.session.items for mark in item.iter_markers("opening_bids")
                         for n in mark.args])
        yield cluster
    finally:
        _stop(cluster)


def _stop(cluster: Cluster) -> None:
    """Down, then make sure: nothing of the cluster may remain (a leftover is killed, then reported)."""
    error = None
    try:
        cluster.down()
    except AssertionError as exc:
        error = exc
    deadline = time.monotonic() + 30
    left = cluster.processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = cluster.processes()
    for pid in left:  # only processes whose command line or environment names this cluster's folder
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pg = cluster.dir / "pg"
    if pg.is_symlink():  # the database's files kept outside the folder (the launcher runs it as postgres)
        shutil.rmtree(pg.resolve(), ignore_errors=True)
    if error is not None:
        raise error
    assert not left, f"processes outlived `deploy.cluster down`: {left}"


@pytest.fixture
def cluster(running_cluster: Cluster) -> Cluster:
    """The session's cluster with every program running and every web process answering."""
    running_cluster.wait_all_running()
    return running_cluster
