"""The launcher's parts that need no running cluster (deploy/cluster.py): it names the Debian packages that
are missing, and the configuration it writes is what nginx and supervisord accept and what the topology
needs (docs/deployment.md). The cluster itself is tested by `make test-cluster` (tests/cluster/)."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys

import pytest

from deploy import cluster as launcher


def test_a_missing_binary_names_the_debian_packages_and_exits_2(tmp_path, monkeypatch, capsys) -> None:
    real = launcher.find_binary
    monkeypatch.setattr(launcher, "find_binary",
                        lambda name: None if name in ("nginx", "redis-server") else real(name))
    with pytest.raises(SystemExit) as stopped:
        launcher.main(["up", "--dir", str(tmp_path / "c"), "--detach"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "apt-get install redis-server nginx" in err
    assert not (tmp_path / "c").exists()  # nothing made before the check


def _configured(tmp_path, **kw):
    made = launcher.Cluster(tmp_path / "c")
    for path in (made.run, made.logs, made.dir / "nginx" / "tmp", made.dir / "redis"):
        path.mkdir(parents=True, exist_ok=True)
    web = [{"name": f"web-{i}", "port": 41000 + i} for i in (1, 2)]
    env = {"EBID_CONFIG": "production", "SECRET_KEY": "a%b", "DATABASE_URL": "postgresql+psycopg://x"}
    made._write_configs({"postgres": 40001, "redis": 40002, "nginx": 40003}, "127.0.0.1", web, 3, env,
                        None, kw.get("detach", False))
    return made


def test_supervisord_runs_every_program_in_its_own_group_dying_with_it(tmp_path) -> None:
    made = _configured(tmp_path)
    assert made.conf.stat().st_mode & 0o077 == 0  # it holds the environment, secrets included
    parser = configparser.RawConfigParser()
    parser.read(made.conf)
    programs = {s.removeprefix("program:"): parser[s] for s in parser.sections() if s.startswith("program:")}
    assert set(programs) == {"postgres", "redis", "nginx", "web-1", "web-2", "jobs-1", "jobs-2", "jobs-3",
                             "scheduler"}
    for name, section in programs.items():
        assert section["autorestart"] == "true", name
        assert section["stopasgroup"] == section["killasgroup"] == "true", name
        assert f"--pdeathsig {'TERM' if name == 'nginx' else 'KILL'}" in section["command"], name
    assert "--bind 127.0.0.1:41001" in programs["web-1"]["command"]
    assert "wsgi:app" in programs["web-2"]["command"]
    assert programs["jobs-1"]["command"].endswith("-m app.worker")
    assert 'SECRET_KEY="a%%b"' in programs["web-1"]["environment"]  # supervisord's own % interpolation
    assert 'EBID_SCHEDULER="off"' in programs["web-1"]["environment"]
    assert "EBID_SCHEDULER" not in programs["scheduler"]["environment"]
    assert "environment" not in programs["postgres"]  # the database never sees the platform's secrets
    assert f"ebid_cluster={made.dir}" in programs["scheduler"]["command"]
    assert parser["supervisord"]["nodaemon"] == "true"
    assert _configured(tmp_path / "d", detach=True).conf.read_text().count("nodaemon = false") == 1


@pytest.mark.skipif(not launcher.find_binary("nginx"), reason="needs Debian's nginx")
def test_nginx_accepts_the_configuration_and_routes_sockets_by_transport(tmp_path) -> None:
    made = _configured(tmp_path)
    conf = made.dir / "nginx" / "nginx.conf"
    text = conf.read_text()
    assert text.count("server 127.0.0.1:41001") == 2 and text.count("server 127.0.0.1:41002") == 2
    assert "listen 127.0.0.1:40003;" in text
    assert '"websocket:" ebid_web;' in text and "ip_hash;" in text and "least_conn;" in text
    # nginx inherits no proxy_set_header into a location that sets its own: each sets them all, or the
    # application would see nginx's upstream name as the Host (and refuse sockets as cross-origin).
    locations = len(re.findall(r"^\s*location ", text, re.M))
    assert text.count("proxy_set_header Host $http_host;") == locations == 2
    assert text.count("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;") == 2
    command = [launcher.find_binary("nginx"), "-t", "-p", str(made.dir / "nginx"), "-c", str(conf),
               "-e", str(made.logs / "nginx-error.log")]
    checked = subprocess.run(command, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_env_file_values_are_plain(tmp_path) -> None:
    path = tmp_path / "e.env"
    launcher._write_private(path, launcher._env_text({"A": "x=y+/", "B": ""}, "# h\n"))
    assert launcher.read_env_file(path) == {"A": "x=y+/", "B": ""}
    with pytest.raises(launcher.ClusterError):
        launcher._env_text({"A": "two words"}, "")


def test_socketio_concurrency_follows_the_server(monkeypatch) -> None:
    import types

    from app import _async_mode

    monkeypatch.delitem(sys.modules, "gevent.monkey", raising=False)
    assert _async_mode() == "threading"  # make run, the tests, gunicorn's gthread worker
    patched = types.SimpleNamespace(is_module_patched=lambda name: name == "socket")
    monkeypatch.setitem(sys.modules, "gevent.monkey", patched)
    assert _async_mode() == "gevent"  # gunicorn's gevent worker patched the standard library first
    imported_only = types.SimpleNamespace(is_module_patched=lambda name: False)
    monkeypatch.setitem(sys.modules, "gevent.monkey", imported_only)
    assert _async_mode() == "threading"
