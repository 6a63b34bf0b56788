"""The database out of reach (issue 13, "PostgreSQL connection lost for 5 s"): every request fails with a
clear 503 (JSON for the API, a page for people, in Chinese and English), nothing of a cut transaction is
written, and service resumes by itself when the database is back, in the same process.

The end-to-end test starts a PostgreSQL of its own in a temporary folder and stops it under a running
application (in a child process, so this process's application and extensions are not rebuilt); it is
skipped when Debian's postgresql is not installed. The others simulate the lost connection on the
suite's own database.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
from flask_babel import refresh
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core.errors import database_unreachable
from tests.ports import free_port
from tests.services import service_missing

ROOT = Path(__file__).resolve().parents[2]


def _lost(*_args, **_kwargs):
    raise OperationalError("SELECT 1", {}, psycopg.OperationalError("consuming input failed: server closed "
                                                                    "the connection unexpectedly"))


def test_lost_connection_is_unreachable_but_a_faulty_statement_is_not() -> None:
    lost = OperationalError("SELECT 1", {}, psycopg.OperationalError("connection failed: refused"))
    assert database_unreachable(lost)
    shutdown = OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown("terminating connection"))
    assert database_unreachable(shutdown)
    invalidated = OperationalError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    assert database_unreachable(invalidated)
    # A deadlock or a cancelled statement is an OperationalError too, but the database answered.
    deadlock = OperationalError("UPDATE", {}, psycopg.errors.DeadlockDetected("deadlock detected"))
    assert not database_unreachable(deadlock)
    locked = OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))
    assert not database_unreachable(locked)
    assert not database_unreachable(ValueError("not a database error"))


def test_api_answers_503_in_the_error_shape(client, monkeypatch) -> None:
    monkeypatch.setattr(Session, "_execute_internal", _lost)  # every ORM statement
    response = client.get("/healthz", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json() == {"error": {"code": "database_unavailable", "field": None,
                                             "message": "数据库暂时无法连接，请稍后再试。"}}
    refresh()  # the test's one application context keeps the first request's language otherwise
    english = client.get("/api/tenders?lang=en")
    assert english.status_code == 503
    assert english.get_json()["error"]["message"] == "The database is not reachable; try again shortly."


def test_a_page_answers_503_as_a_page(client, monkeypatch) -> None:
    monkeypatch.setattr(Session, "_execute_internal", _lost)  # every ORM statement
    response = client.get("/tenders", headers={"Accept": "text/html"})
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "数据库暂时无法连接，请稍后再试。" in response.get_data(as_text=True)
    refresh()
    english = client.get("/tenders?lang=en", headers={"Accept": "text/html"})
    assert "The database is not reachable; try again shortly." in english.get_data(as_text=True)


# -- a real PostgreSQL, stopped and started under a running application ------------------------------------

SCRIPT = r'''
import base64, json, os, subprocess, sys, time
from pathlib import Path

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from app import create_app
from config import TestConfig, engine_options
from core.extensions import db
from tests import factories

url, instance, stop, start, admin = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
out = {}
app = create_app(TestConfig, INSTANCE_PATH=str(instance), SQLALCHEMY_DATABASE_URI=url,
                 SQLALCHEMY_ENGINE_OPTIONS=engine_options(url), KEY_DIR=instance / "keys",
                 BLOB_DIR=instance / "blobs", KEY_ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(),
                 WTF_CSRF_ENABLED=False)
with app.app_context():
    db.create_all()
    app.extensions["ebid.keys"].ensure()
    person = factories.user()
    username = person.username
    db.session.commit()


def rows():
    with app.app_context():
        return {t.name: db.session.scalar(select(func.count()).select_from(t))
                for t in db.metadata.sorted_tables}


client = app.test_client()
out["healthy"] = client.get("/healthz").status_code

# A transaction cut between its writes and its commit: the server ends the connection at the commit.
before = rows()
def cut(session):
    pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
    import psycopg
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
event.listen(Session, "before_commit", cut, once=True)
refused = client.post("/login", data={"username": username, "password": "wrong"})
out["cut"] = refused.status_code
out["cut_rows_same"] = rows() == before
signed_in = client.post("/login", data={"username": username, "password": factories.PASSWORD})
out["signed_in"] = signed_in.status_code
home = client.get("/home")  # a signed-in person's start: their own role's page
out["home_before"] = [home.status_code, home.headers.get("Location")]

subprocess.run(stop, shell=True, check=True)
api = client.get("/healthz", headers={"Accept": "application/json"})
out["down_api"] = [api.status_code, api.get_json(), api.headers.get("Retry-After")]
page = client.get("/tenders", headers={"Accept": "text/html"})
out["down_page"] = [page.status_code, page.mimetype, "数据库暂时无法连接" in page.get_data(as_text=True)]
home = client.get("/home?lang=en", headers={"Accept": "text/html"})
out["down_signed_in"] = [home.status_code, "The database is not reachable" in home.get_data(as_text=True)]
subprocess.run(start, shell=True, check=True)
out["back"] = client.get("/healthz").status_code
back_home = client.get("/home")
out["back_signed_in"] = [back_home.status_code, back_home.headers.get("Location")]
print("RESULT " + json.dumps(out))
'''


def _postgres_bin() -> Path | None:
    dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if dirs:
        return dirs[-1].parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def test_postgresql_stopped_and_started_under_the_application() -> None:
    pgbin = _postgres_bin()
    if pgbin is None:
        service_missing("needs Debian's postgresql (initdb, pg_ctl)")
    base = Path(tempfile.mkdtemp(prefix="ebid-outage-", dir="/tmp"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres")
        base.chmod(0o755)  # noqa: S103 - the postgres user reaches its data; nothing secret in it
        as_user = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", "--"]
        data_parent = base / "pg"
        data_parent.mkdir()
        os.chown(data_parent, user.pw_uid, user.pw_gid)
    else:
        data_parent = base / "pg"
        data_parent.mkdir()
    data, port = data_parent / "data", free_port()
    pg_ctl = " ".join([*as_user, str(pgbin / "pg_ctl"), "-D", str(data), "-l", str(data_parent / "log"),
                       "-o", f"'-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='"])
    try:
        subprocess.run([*as_user, str(pgbin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
                       check=True, capture_output=True)
        subprocess.run(f"{pg_ctl} -w start", shell=True, check=True, capture_output=True)  # noqa: S602
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        admin = f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
        env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "EBID_CONFIG")}
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, url, str(base / "instance"), f"{pg_ctl} -m fast -w stop",
             f"{pg_ctl} -w start", admin],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
        result = next((line for line in done.stdout.splitlines() if line.startswith("RESULT ")), None)
        assert result is not None, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        out = json.loads(result.removeprefix("RESULT "))
    finally:
        subprocess.run(f"{pg_ctl} -m immediate stop", shell=True, capture_output=True, check=False)  # noqa: S602
        shutil.rmtree(base, ignore_errors=True)
    assert out["healthy"] == 200
    # The commit cut by the server: 503, and not one row of the refused sign-in's counting was written.
    assert out["cut"] == 503
    assert out["cut_rows_same"]
    assert out["signed_in"] == 302
    status, body, retry = out["down_api"]
    assert (status, body["error"]["code"], retry) == (503, "database_unavailable", "5")
    assert out["down_page"] == [503, "text/html", True]
    assert out["down_signed_in"] == [503, True]  # a signed-in person too: nobody can be looked up
    assert out["back"] == 200  # the same process, its pool's dead connections replaced
    assert out["home_before"] == [302, "/my/bids"]  # a bidder's start page (its bids); /login for nobody
    assert out["back_signed_in"] == out["home_before"]  # still signed in
