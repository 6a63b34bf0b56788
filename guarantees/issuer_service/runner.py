"""Start a reference issuer in a process of its own, talk to its control panel, stop and restart it.

Tests, the benchmark and the demo use this; it runs `python -m guarantees.issuer_service` exactly
as an operator would, on a loopback port, and waits for `/healthz` before handing it over.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
#: Loopback ports a caller may prefer for the reference issuer (a fixed range for a firewall rule).
PORTS = range(5801, 5841)


def free_port(ports: Sequence[int] | None = None, *, avoid: Sequence[int] = ()) -> int:
    """A loopback port nobody listens on now (others may take it later: start promptly).

    Without `ports`, one the kernel hands out: two processes probing one fixed range from its bottom
    at the same moment (parallel test workers, two benchmarks) would both pick its first port.
    """
    if ports is None:
        for _ in range(20):
            with socket.socket() as s:
                s.bind((HOST, 0))
                port = s.getsockname()[1]
            if port not in avoid:
                return port
        raise RuntimeError("the kernel kept handing out ports that were to be avoided")
    for port in ports:
        if port in avoid:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(
        f"no free port in {ports.start}-{ports.stop - 1}" if isinstance(ports, range) else "no free port"
    )


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args) -> None:  # noqa: A002 - werkzeug's signature
        return None


def quiet_server(app, port: int) -> BaseWSGIServer:
    """A threaded werkzeug server on the loopback that logs no requests (test and benchmark helpers)."""
    return make_server(HOST, port, app, threaded=True, request_handler=_QuietHandler)


@dataclass
class RunningIssuer:
    """A reference issuer process and what the platform needs to reach it."""

    home: Path
    port: int
    code: str
    api_key: str
    control_token: str
    argv: list[str]
    process: subprocess.Popen | None = None
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.home / "issuer.log"

    @property
    def public_key_pem(self) -> str:
        return (self.home / "issuer-public.pem").read_text(encoding="ascii")

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The http adapter's settings for this issuer (add the platform-provided entries)."""
        return {
            "base_url": self.url,
            "api_key": self.api_key,
            "public_key": self.public_key_pem,
            "issuer_id": self.code,
            **extra,
        }

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart) the process and wait until it answers."""
        if self.process is not None and self.process.poll() is None:
            return
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own module, our own arguments
                [sys.executable, "-m", "guarantees.issuer_service", *self.argv],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        give_up = time.monotonic() + timeout
        while True:
            try:
                if self.http.get(f"{self.url}healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.process.poll() is not None or time.monotonic() > give_up:
                raise RuntimeError(f"the reference issuer did not start:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """While inside, the issuer is not running at all; it comes back (same books) on leaving."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def control(self, path: str, body: Mapping[str, Any] | None = None, *, method: str = "POST") -> Any:
        """Call `/_control/<path>` and return its JSON."""
        response = self.http.request(
            method,
            f"{self.url}_control/{path}",
            json=body,
            timeout=30,
            headers={"X-Control-Token": self.control_token},
        )
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        return self.control("state", method="GET")

    def misbehave(self, mode: str | None, **kw: Any) -> None:
        self.control("misbehave", {"mode": mode, **kw})

    @contextlib.contextmanager
    def misbehaving(self, mode: str, **kw: Any) -> Iterator[None]:
        self.misbehave(mode, **kw)
        try:
            yield
        finally:
            self.misbehave(None)


@contextlib.contextmanager
def reference_issuer(
    home: Path,
    *,
    code: str = "REFBANK",
    callback_url: str | None = None,
    rules: Mapping[str, Any] | None = None,
    async_decisions: bool = True,
    decision_delay: float = 0.0,
    swift_dir: Path | None = None,
    port: int | None = None,
    name: str = "Reference Issuing Bank",
    bic: str = "REFBCNSHXXX",
    number_prefix: str = "RB",
    extra_args: Sequence[str] = (),
) -> Iterator[RunningIssuer]:
    """A reference issuer running in its own process until the block ends."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    api_key, control_token = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    argv = [
        "--port",
        str(port),
        "--home",
        str(home),
        "--code",
        code,
        "--name",
        name,
        "--bic",
        bic,
        "--number-prefix",
        number_prefix,
        # "=" joined: a random token may begin with "-", which argparse would take for an option
        f"--api-key={api_key}",
        f"--control-token={control_token}",
        "--public-key-out",
        str(home / "issuer-public.pem"),
        "--decision-delay",
        str(decision_delay),
        "--quiet",
        *extra_args,
    ]
    if async_decisions:
        argv.append("--async-decisions")
    if callback_url:
        argv += ["--callback-url", callback_url]
    if rules is not None:
        (home / "rules.json").write_text(json.dumps(dict(rules)), encoding="utf-8")
        argv += ["--rules", str(home / "rules.json")]
    if swift_dir is not None:
        argv += ["--swift-dir", str(swift_dir)]
    issuer = RunningIssuer(
        home=home, port=port, code=code, api_key=api_key, control_token=control_token, argv=argv
    )
    issuer.start()
    try:
        yield issuer
    finally:
        issuer.stop()
        issuer.http.close()
