"""The production topology on one machine, under one supervisord (docs/deployment.md).

    python -m deploy.cluster up   --dir DIR [--port PORT] [--workers N] [--job-workers M]
                                  [--worker-class gevent|gthread] [--no-demo] [--detach] [--env KEY=VALUE]
    python -m deploy.cluster ctl  --dir DIR <supervisorctl arguments>   (status, pid web-1, restart redis)
    python -m deploy.cluster down --dir DIR

`up` checks Debian's binaries (PostgreSQL, Redis, nginx) and names the packages to install when one is
missing (exit 2). It makes DIR (database, Redis's files, nginx's and supervisord's configuration, logs),
takes free ports from the kernel for PostgreSQL, Redis and each web process, initialises and starts the
database, migrates it, makes the platform's keys and (unless --no-demo) the demo data, then starts every
process under supervisord: `postgres`, `redis`, `nginx`, `web-1`..`web-N`, `jobs-1`..`jobs-M`,
`scheduler`. It writes DIR/cluster.json (the URLs, ports and files) and prints each web process's port.
In the foreground (the default, `make cluster`) Ctrl-C stops everything; with --detach it returns once
every web process and nginx answer `GET /healthz`, and `down` stops it.

Nothing outlives its parent: each program is started through `setpriv --pdeathsig KILL`, so it dies if
supervisord dies, supervisord stops each program's whole process group (stopasgroup/killasgroup), and
`down` finally kills whatever is left in those process groups.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xmlrpc.client
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent

#: Debian package -> the programs it provides that the cluster runs.
PACKAGES = {"postgresql": ("initdb", "postgres"), "redis-server": ("redis-server",), "nginx": ("nginx",)}
#: The compressed legal periods of the demo (the Makefile's DEMO_RULES), so a demo tender's deadline
#: passes within a minute; --no-demo leaves the law's values.
DEMO_RULES = {"MIN_BIDDING_PERIOD": "30", "MIN_AMENDMENT_NOTICE": "15", "PUBLICITY_DAY": "5"}
#: One [program:x] section of supervisord.conf.
PROGRAM = """
[program:{name}]
command = {command}
directory = {directory}
priority = {priority}
autostart = {autostart}
autorestart = true
startsecs = 1
startretries = 20
stopsignal = {stopsignal}
stopwaitsecs = {stopwait}
stopasgroup = true
killasgroup = true
redirect_stderr = true
stdout_logfile = {logs}/{name}.log
stdout_logfile_maxbytes = 20MB
stdout_logfile_backups = 1
"""
#: Seconds to wait for a web process (or the database) to answer after it starts.
START_TIMEOUT = float(os.environ.get("EBID_CLUSTER_START_TIMEOUT", "300"))


class ClusterError(RuntimeError):
    """The cluster could not be started or reached; the message says why."""


# --- The binaries ---------------------------------------------------------------------------------


def _postgres_bin_dirs() -> list[Path]:
    """Debian keeps PostgreSQL's server programs in /usr/lib/postgresql/<version>/bin, newest last."""
    dirs = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.is_dir()]
    return sorted(dirs, key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0])


def find_binary(name: str) -> str | None:
    """Where the program `name` is: Debian's PostgreSQL directory, PATH, then the sbin directories."""
    if name in ("initdb", "postgres", "pg_ctl"):
        for directory in reversed(_postgres_bin_dirs()):
            if (directory / name).is_file():
                return str(directory / name)
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        if Path(directory, name).is_file():
            return str(Path(directory, name))
    return None


def missing_packages() -> list[str]:
    """The Debian packages whose programs are not on this machine (setpriv is in util-linux, Essential)."""
    missing = [package for package, names in PACKAGES.items() if not all(find_binary(n) for n in names)]
    if not find_binary("setpriv"):
        missing.append("util-linux")
    return missing


# --- Files and ports ------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on now, from the kernel."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), made so before any secret is written to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (no quoting: no value holds a space or a newline); # starts a comment."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def _env_text(env: dict[str, str], header: str) -> str:
    for key, value in env.items():
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key) or re.search(r"[\s\"'\\]", value):
            raise ClusterError(f"{key}={value!r}: names are A-Z0-9_; no space, quote or backslash in values")
    return header + "".join(f"{key}={value}\n" for key, value in env.items())


def _secrets(directory: Path) -> dict[str, str]:
    """The cluster's secrets, made once and kept in DIR/secrets.env (0600)."""
    path = directory / "secrets.env"
    if path.exists():
        return read_env_file(path)
    made = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "KEY_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "PG_SUPERUSER_PASSWORD": secrets.token_urlsafe(24),
        "PG_PASSWORD": secrets.token_urlsafe(24),
    }
    _write_private(path, _env_text(made, "# Made once by `python -m deploy.cluster up`; never commit.\n"))
    return made


def _render(template: str, values: dict[str, object]) -> str:
    text = (HERE / template).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    left = re.findall(r"\{\{[A-Z_]+\}\}", text)
    if left:
        raise ClusterError(f"{template}: unfilled {', '.join(sorted(set(left)))}")
    return text


def _supervisor_env(env: dict[str, str]) -> str:
    """supervisord's `environment=` value: KEY="value" pairs, with % doubled (its own interpolation)."""
    return ",".join(f'{key}="{value.replace("%", "%%")}"' for key, value in env.items())


# --- Running as root ------------------------------------------------------------------------------


def _service_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: when we are root, it runs as the `postgres` user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ClusterError("running as root needs the `postgres` user (Debian's postgresql package makes it)"
                           ) from exc


def _as_service_user(command: list[str], user: pwd.struct_passwd | None) -> list[str]:
    if user is None:
        return command
    return [find_binary("setpriv") or "setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
            "--init-groups", "--", *command]


# --- The cluster ----------------------------------------------------------------------------------


class Cluster:
    """One cluster directory: its layout, configuration and processes."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory).resolve()
        self.run = self.dir / "run"
        self.logs = self.dir / "logs"
        self.conf = self.dir / "supervisord.conf"
        self.json = self.dir / "cluster.json"
        self.env_file = self.dir / "cluster.env"

    @property
    def pgdata(self) -> Path:
        """PostgreSQL's data directory (DIR/pg/data, or where the link DIR/pg points)."""
        return (self.dir / "pg").resolve() / "data"

    # supervisord ----------------------------------------------------------------------------------

    def rpc(self):
        """supervisord's XML-RPC interface over its unix socket."""
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.run / 'supervisor.sock'}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def supervisord_pid(self) -> int | None:
        """supervisord's pid if it is running."""
        try:
            pid = int((self.run / "supervisord.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def process_info(self) -> list[dict]:
        try:
            return self.rpc().supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Fault):
            return []

    def ctl(self, args: list[str]) -> int:
        command = [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(self.conf), *args]
        return subprocess.call(command)  # noqa: S603 (our interpreter, the caller's own arguments)

    # up -------------------------------------------------------------------------------------------

    def up(self, *, port: int = 0, host: str = "127.0.0.1", workers: int = 2, job_workers: int = 2,
           worker_class: str = "gevent", demo: bool = True, detach: bool = False,
           extra_env: dict[str, str] | None = None) -> dict:
        missing = missing_packages()
        if missing:
            print(f"error: missing Debian packages: {' '.join(missing)}\n"
                  f"install them with: apt-get install {' '.join(missing)}", file=sys.stderr)
            raise SystemExit(2)
        if self.supervisord_pid():
            raise ClusterError(f"a cluster is already running in {self.dir} (python -m deploy.cluster down "
                               f"--dir {self.dir})")
        for path in (self.dir, self.run, self.logs, self.dir / "instance", self.dir / "redis",
                     self.dir / "nginx" / "tmp"):
            path.mkdir(parents=True, exist_ok=True)
        user = _service_user()
        if user is not None:
            os.chmod(self.dir, 0o755)  # noqa: S103 (the postgres user reaches its data below; secrets are 0600)
        keys = _secrets(self.dir)
        ports = {"postgres": free_port(), "redis": free_port(), "nginx": port or free_port()}
        web = [{"name": f"web-{i}", "port": free_port()} for i in range(1, workers + 1)]
        for entry in web:
            entry["url"] = f"http://127.0.0.1:{entry['port']}"
        redis_url = f"redis://127.0.0.1:{ports['redis']}/0"
        database_url = f"postgresql+psycopg://ebid:{keys['PG_PASSWORD']}@127.0.0.1:{ports['postgres']}/ebid"
        env = {
            "EBID_CONFIG": "production",
            "EBID_CLUSTER_DIR": str(self.dir),
            "EBID_INSTANCE": str(self.dir / "instance"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": keys["SECRET_KEY"],
            "KEY_ENCRYPTION_KEY": keys["KEY_ENCRYPTION_KEY"],
            "REDIS_URL": redis_url,
            "SOCKETIO_MESSAGE_QUEUE": redis_url,
            "RATELIMIT_STORAGE_URI": redis_url,
            "JOB_QUEUE": "dramatiq",
            "OPENING_SYNC_DECRYPTION": "1",  # the job workers are the decryption's pool
            "TRUSTED_PROXIES": "1",  # nginx
            # One machine serves plain http://HOST:PORT: cookies without Secure, no HSTS.
            "SESSION_COOKIE_SECURE": "0",
            "STRICT_TRANSPORT_SECURITY": "",
            "WORKER_CLASS": worker_class,
            **(DEMO_RULES if demo else {}),
            **(extra_env or {}),
        }
        _write_private(self.env_file, _env_text(env, "# The cluster's environment (python -m deploy.cluster "
                                                     "up writes it on every start); never commit.\n"))
        self._initdb(keys, user)
        self._write_configs(ports, host, web, job_workers, env, user, detach)
        info = {
            "url": f"http://{host}:{ports['nginx']}",
            "web": web,
            "job_workers": [f"jobs-{i}" for i in range(1, job_workers + 1)],
            "redis_url": redis_url,
            "database_url": database_url,
            "postgres_port": ports["postgres"],
            "redis_port": ports["redis"],
            "env_file": str(self.env_file),
            "supervisor_conf": str(self.conf),
            "dir": str(self.dir),
            "worker_class": worker_class,
        }
        self.json.write_text(json.dumps(info, indent=2) + "\n")
        supervisord = self._start_supervisord(detach)
        try:
            self._provision(keys, ports, env, demo)
            self._start_programs(info)
            self._wait_ready(info)
        except BaseException:
            self.down(quiet=True)
            raise
        print(f"Serving on {info['url']} through nginx; each web process on its own port:")
        for entry in web:
            print(f"  {entry['name']}  {entry['url']}")
        print(f"cluster.json: {self.json}   logs: {self.logs}")
        if not detach:
            self._foreground(supervisord)
        return info

    def _place_pgdata(self, user: pwd.struct_passwd | None) -> None:
        """When we are root, PostgreSQL runs as `postgres`, which must reach its data directory. Below a
        folder only root may enter (pytest's /tmp/pytest-of-root, say) it cannot: the data then lives in
        a folder of its own in the temporary directory, DIR/pg links to it, and it is removed by a later
        `up` once DIR is gone."""
        pg = self.dir / "pg"
        if user is None or pg.is_symlink() or pg.exists():
            return
        reach = _as_service_user(["test", "-x", str(self.dir)], user)
        if subprocess.run(reach, check=False).returncode == 0:  # noqa: S603 (fixed programs)
            return
        base = Path(tempfile.gettempdir())
        for old in base.glob("ebid-cluster-pg-*"):
            with contextlib.suppress(OSError):
                if not Path((old / "cluster-dir").read_text().strip()).exists():
                    shutil.rmtree(old, ignore_errors=True)
        digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:16]
        target = base / f"ebid-cluster-pg-{digest}"
        # DIR/pg is absent, so data found there belongs to an earlier folder of the same path, made with
        # other secrets: reusing it would fail on its password. It is not this cluster's; start afresh.
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(mode=0o755)
        (target / "cluster-dir").write_text(f"{self.dir}\n")
        pg.symlink_to(target)

    def _initdb(self, keys: dict[str, str], user: pwd.struct_passwd | None) -> None:
        self._place_pgdata(user)
        if (self.pgdata / "PG_VERSION").exists():
            return
        pg = self.pgdata.parent
        pg.mkdir(parents=True, exist_ok=True)
        pwfile = pg / "superuser.pw"
        _write_private(pwfile, keys["PG_SUPERUSER_PASSWORD"] + "\n")
        if user is not None:
            for path in (pg, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        command = [find_binary("initdb"), "-D", str(self.pgdata), "-U", "postgres", f"--pwfile={pwfile}",
                   "-A", "scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"]
        try:
            done = subprocess.run(_as_service_user(command, user),  # noqa: S603 (fixed programs)
                                  capture_output=True, text=True, check=False)
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise ClusterError(f"initdb failed:\n{done.stdout}{done.stderr}")

    def _write_configs(self, ports: dict[str, int], host: str, web: list[dict], job_workers: int,
                       env: dict[str, str], user: pwd.struct_passwd | None, detach: bool) -> None:
        import resource

        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        # Every watcher holds a file descriptor in nginx and in a web process: as many as the machine allows.
        nofile = 16384 if hard == resource.RLIM_INFINITY else min(16384, hard)
        servers = "\n".join(f"        server 127.0.0.1:{w['port']} max_fails=1 fail_timeout=3s;" for w in web)
        nginx_conf = self.dir / "nginx" / "nginx.conf"
        nginx_conf.write_text(_render("nginx.conf", {
            "USER": "user nobody nogroup;" if os.geteuid() == 0 else "# (not root: runs as this user)",
            "NGINX_WORKERS": 1, "RUN": self.run, "LOGS": self.logs, "TMP": self.dir / "nginx" / "tmp",
            "SERVERS": servers, "HOST": host, "PORT": ports["nginx"], "NOFILE": nofile,
            "CONNECTIONS": nofile // 2,
        }))
        text = _render("supervisord.conf", {
            "NODAEMON": "false" if detach else "true", "LOGS": self.logs, "RUN": self.run, "ROOT": ROOT,
            "MINFDS": nofile, "IDENTIFIER": f"ebid-cluster:{self.dir}",
        })
        setpriv = f"{find_binary('setpriv')} --pdeathsig KILL --"
        # `-X ebid_cluster=DIR` does nothing in Python; it puts DIR on the command line, so that
        # `ps -eo pid,cmd | grep DIR` finds every process of this cluster.
        python = f"{setpriv} {shlex.quote(sys.executable)} -X ebid_cluster={shlex.quote(str(self.dir))}"
        app_env = _supervisor_env(env)
        programs = [
            dict(name="postgres", priority=10, autostart="true", stopsignal="INT", stopwait=30,
                 command=f"{setpriv} {find_binary('postgres')} -D {self.pgdata} -p {ports['postgres']} "
                         "-c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                         "-c max_connections=300",
                 extra=f"user = {user.pw_name}\n" if user else ""),
            dict(name="redis", priority=10, autostart="true", stopsignal="TERM", stopwait=30,
                 command=f"{setpriv} {find_binary('redis-server')} --bind 127.0.0.1 --port {ports['redis']} "
                         f"--dir {self.dir / 'redis'} --appendonly yes --appendfsync everysec --save '' "
                         "--daemonize no --protected-mode yes --maxclients 10000"),
        ]
        gunicorn = f"-m gunicorn -c {HERE / 'gunicorn.conf.py'} wsgi:app"
        for entry in web:
            programs.append(dict(
                name=entry["name"], priority=30, autostart="false", stopsignal="TERM", stopwait=20,
                command=f"{python} {gunicorn} --bind 127.0.0.1:{entry['port']} --name {entry['name']}",
                extra=f"environment = {app_env},EBID_SCHEDULER=\"off\"\n"))
        for i in range(1, job_workers + 1):
            programs.append(dict(name=f"jobs-{i}", priority=30, autostart="false", stopsignal="TERM",
                                 stopwait=20, command=f"{python} -m app.worker",
                                 extra=f"environment = {app_env}\n"))
        programs.append(dict(name="scheduler", priority=40, autostart="false", stopsignal="TERM", stopwait=20,
                             command=f"{python} -m flask --app wsgi scheduler run",
                             extra=f"environment = {app_env}\n"))
        # nginx's workers outlive a master that is killed outright, so its parent's death is a TERM
        # (nginx's fast shutdown, which takes its workers with it), not a KILL.
        programs.append(dict(name="nginx", priority=50, autostart="false", stopsignal="QUIT", stopwait=10,
                             command=f"{setpriv.replace('KILL', 'TERM')} {find_binary('nginx')} "
                                     f"-p {self.dir / 'nginx'} "
                                     f"-c {nginx_conf} -e {self.logs / 'nginx-error.log'}"))
        for program in programs:
            extra = program.pop("extra", "")
            text += PROGRAM.format(directory=ROOT, logs=self.logs, **program) + extra
        _write_private(self.conf, text)

    def _start_supervisord(self, detach: bool) -> subprocess.Popen | None:
        log = open(self.logs / "supervisord.out", "ab")  # noqa: SIM115 (the child keeps it)
        command = [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)]
        if detach:  # supervisord makes itself a daemon and this returns
            if subprocess.run(command, check=False, stdout=log, stderr=log).returncode:  # noqa: S603
                raise ClusterError(f"supervisord did not start: see {self.logs / 'supervisord.out'}")
            process = None
        else:  # supervisord is our child, in its own session (Ctrl-C is ours to pass on), and dies with us
            command = [find_binary("setpriv") or "setpriv", "--pdeathsig", "TERM", "--", *command]
            process = subprocess.Popen(command, stdout=log, stderr=log,  # noqa: S603 (fixed programs)
                                       start_new_session=True)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, xmlrpc.client.Fault):
                if self.rpc().supervisor.getState()["statename"] == "RUNNING":
                    return process
            if process is not None and process.poll() is not None:
                break
            time.sleep(0.2)
        raise ClusterError(f"supervisord did not start: see {self.logs / 'supervisord.log'}")

    def _wait_program(self, name: str, check, what: str) -> None:
        """Wait until `check()` is true, failing early if supervisord gave up on the program."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if check():
                    return
            with contextlib.suppress(OSError, xmlrpc.client.Fault):
                if self.rpc().supervisor.getProcessInfo(name)["statename"] == "FATAL":
                    break  # supervisord gave up restarting it: its log says why
            time.sleep(0.3)
        tail = ""
        with contextlib.suppress(OSError):
            tail = "\n".join((self.logs / f"{name}.log").read_text(errors="replace").splitlines()[-25:])
        log = self.logs / f"{name}.log"
        raise ClusterError(f"{name} did not become ready ({what}); the end of {log}:\n{tail}")

    def _provision(self, keys: dict[str, str], ports: dict[str, int], env: dict[str, str],
                   demo: bool) -> None:
        import psycopg
        from psycopg import sql

        def connect():
            return psycopg.connect(host="127.0.0.1", port=ports["postgres"], user="postgres",
                                   dbname="postgres", password=keys["PG_SUPERUSER_PASSWORD"],
                                   connect_timeout=2, autocommit=True)

        self._wait_program("postgres", lambda: connect().close() is None, "accepting connections")
        with connect() as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'ebid'").fetchone():
                password = sql.Literal(keys["PG_PASSWORD"])
                conn.execute(sql.SQL("CREATE ROLE ebid LOGIN PASSWORD {}").format(password))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'ebid'").fetchone():
                conn.execute("CREATE DATABASE ebid OWNER ebid ENCODING 'UTF8'")
        self._wait_program("redis", lambda: _redis_ping(ports["redis"]), "answering PING")
        flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
        process_env = {**os.environ, **env}
        steps = [("db", "upgrade"), ("keys", "ensure")]
        for step in steps:
            self._run([*flask, *step], process_env)
        if demo:
            # The demo data is never seeded under the production configuration; the development one seeds
            # it into the same database with the same secrets (taken from the environment).
            made = self.dir / "instance" / "secrets.json"
            had = made.exists()
            self._run([*flask, "demo", "seed"], {**process_env, "EBID_CONFIG": "development"}, show=True)
            if not had:
                made.unlink(missing_ok=True)  # the development configuration's own, unused here

    def _run(self, command: list[str], env: dict[str, str], *, show: bool = False) -> None:
        done = subprocess.run(command, cwd=ROOT, env=env,  # noqa: S603 (our interpreter, fixed commands)
                              capture_output=True, text=True, check=False)
        if show or done.returncode:
            print(done.stdout, end="")
        if done.returncode:
            print(done.stderr, end="", file=sys.stderr)
            raise ClusterError(f"{' '.join(command[2:])} failed (exit {done.returncode})")

    def _start_programs(self, info: dict) -> None:
        names = [w["name"] for w in info["web"]] + info["job_workers"] + ["scheduler", "nginx"]
        proxy = self.rpc()
        for name in names:
            proxy.supervisor.startProcess(name, False)

    def _wait_ready(self, info: dict) -> None:
        for entry in info["web"]:
            url = entry["url"]
            self._wait_program(entry["name"], lambda url=url: _healthy(url), f"GET {url}/healthz")
        self._wait_program("nginx", lambda: _healthy(info["url"]), f"GET {info['url']}/healthz")

    def _foreground(self, supervisord: subprocess.Popen | None) -> None:
        print("Ctrl-C stops every process.")
        stop = {"asked": False}

        def asked(signum, frame):  # noqa: ARG001
            stop["asked"] = True

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, asked)
        while not stop["asked"] and supervisord is not None and supervisord.poll() is None:
            time.sleep(0.3)
        print("stopping the cluster ...")
        self.down(quiet=True)
        print("stopped.")

    # down -----------------------------------------------------------------------------------------

    def down(self, *, quiet: bool = False, timeout: float = 90) -> None:
        """Stop supervisord and every process under it; then kill anything left in their groups."""
        groups = {info["pid"] for info in self.process_info() if info.get("pid")}
        pid = self.supervisord_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # supervisord stops its programs in reverse priority order
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.2)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for group in groups | set(self._stray_pids()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(group, signal.SIGKILL)
        (self.run / "supervisord.pid").unlink(missing_ok=True)
        if not quiet:
            print(f"stopped the cluster in {self.dir}")

    def _stray_pids(self) -> list[int]:
        """Processes this cluster started that are still running: their command lines name its files the
        way only its own programs do (never, say, an editor that has cluster.json open)."""
        needles = [f"ebid_cluster={self.dir}\0", f"-D\0{self.pgdata}\0", f"-p\0{self.dir / 'nginx'}\0",
                   f"--dir\0{self.dir / 'redis'}\0"]
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes()
                if any(needle.encode() in cmdline for needle in needles):
                    found.append(int(entry.name))
        return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie (our own child not yet reaped) is not alive
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"PING\r\n")
        return s.recv(64).startswith(b"+PONG")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:  # noqa: S310 (our own URL)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.cluster", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the cluster (foreground unless --detach)")
    up.add_argument("--dir", required=True)
    up.add_argument("--port", type=int, default=0, help="nginx's port (default: one from the kernel)")
    up.add_argument("--host", default="127.0.0.1", help="nginx's address (default 127.0.0.1)")
    up.add_argument("--workers", type=int, default=2, help="web processes (default 2)")
    up.add_argument("--job-workers", type=int, default=2, help="job worker processes (default 2)")
    up.add_argument("--worker-class", choices=("gevent", "gthread"), default="gevent")
    up.add_argument("--no-demo", action="store_true", help="no demo data, the law's periods")
    up.add_argument("--detach", action="store_true", help="return once every process answers")
    up.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra setting for every platform process (repeatable)")
    ctl = commands.add_parser("ctl", help="supervisorctl for the cluster (status, pid web-1, restart redis)")
    ctl.add_argument("--dir", required=True)
    ctl.add_argument("args", nargs=argparse.REMAINDER)
    down = commands.add_parser("down", help="stop the cluster; no process is left")
    down.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    cluster = Cluster(args.dir)
    try:
        if args.command == "up":
            if args.workers < 1 or args.job_workers < 0:
                parser.error("--workers must be at least 1 and --job-workers at least 0")
            extra = dict(item.split("=", 1) for item in args.env if "=" in item)
            cluster.up(port=args.port, host=args.host, workers=args.workers, job_workers=args.job_workers,
                       worker_class=args.worker_class, demo=not args.no_demo, detach=args.detach,
                       extra_env=extra)
        elif args.command == "ctl":
            if not cluster.conf.exists():
                raise ClusterError(f"no cluster in {cluster.dir}")
            return cluster.ctl(args.args or ["status"])
        else:
            cluster.down()
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
