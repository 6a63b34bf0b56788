"""A real platform server in its own process group, on a file SQLite database of its own, that a test
can start, kill with SIGKILL (the server and its decryption workers at once, as a power cut would)
and start again on the same instance. The server is started as tests/e2e/conftest.py's live_server is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LivePlatform:
    """One platform instance (database, keys, blobs) and the server currently serving it, if any."""

    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    _log: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def instance(self) -> Path:
        return self.folder / "instance"

    @property
    def database(self) -> Path:
        return self.folder / "live.sqlite3"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "EBID_CONFIG": "development",
            "EBID_INSTANCE": str(self.instance),
            "DATABASE_URL": f"sqlite:///{self.database}",
            "PORT": str(self.port),
            "FLASK_APP": "wsgi",
        }

    def prepare(self) -> None:
        """Make the schema and the platform's keys, as `make run` does."""
        for command in (["db", "upgrade"], ["keys", "ensure"]):
            self.run([sys.executable, "-m", "flask", *command])

    def run(self, argv: list[str], **env: str) -> str:
        """Run a command against this instance (not through the server); its standard output."""
        done = subprocess.run(
            argv, cwd=ROOT, env={**self.env, **env}, capture_output=True, text=True, check=False, timeout=300
        )
        if done.returncode != 0:
            raise AssertionError(f"{argv} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def start(self, *, timeout: float = 90, **env: str) -> None:
        """Start the server (scheduler included, as `make run` does) and wait until it answers."""
        assert self.process is None, "already running"
        if self._log is None:
            self._log = open(self.folder / "server.log", "a")  # noqa: SIM115 - closed in stop()
        self._log.write(f"\n==== start {time.strftime('%H:%M:%S')} ====\n")
        self._log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "wsgi.py"],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches the decryption workers too
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the server and everything it started; nothing gets to clean up."""
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        """End the server politely if it still runs (teardown)."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, size: int = 4000) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else "(no log)"
