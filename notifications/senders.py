"""Senders: how an outbox message leaves the platform, behind one small interface.

The configuration names the sender (`NOTIFICATION_SENDER`, "module:Class"; default
`notifications.senders:FileSender`); it is built once per application with the application
(`Sender(app)`). To attach a mail or SMS gateway, write a class with the same two members and name it
in the configuration (docs/notifications.md, "Attaching a gateway"):

* `channel`: the name of the channel it delivers to (stored on each outbox row);
* `send(message)`: deliver one `OutgoingMessage`, returning only once the gateway accepted it, or raise
  `SendError` (or any exception) to have it retried later. A message may be sent again after a crash
  between the gateway's acceptance and the outbox's update: `message.id` is stable, use it as the
  gateway's idempotency key where there is one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from dataclasses import asdict, dataclass
from importlib import import_module
from pathlib import Path
from typing import Protocol

from flask import Flask, current_app

from core.errors import ConfigurationError

DEFAULT_SENDER = "notifications.senders:FileSender"
_KEY = "ebid.notification_sender"


class SendError(Exception):
    """The gateway did not take the message; it will be retried."""


@dataclass(frozen=True)
class OutgoingMessage:
    """One message for one recipient on one channel."""

    id: int
    channel: str
    recipient: str
    subject: str
    body: str
    created_at: str


class Sender(Protocol):
    channel: str

    def send(self, message: OutgoingMessage) -> None: ...


class FileSender:
    """The default: one JSON line per message appended to `<instance>/outbox/<UTC date>.jsonl`
    (`NOTIFICATION_OUTBOX_DIR` overrides the folder), written and fsynced before `send` returns."""

    channel = "file"
    _lock = threading.Lock()

    def __init__(self, app: Flask) -> None:
        self.folder = Path(app.config.get("NOTIFICATION_OUTBOX_DIR") or Path(app.instance_path) / "outbox")

    def send(self, message: OutgoingMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps(asdict(message), ensure_ascii=False, sort_keys=True) + "\n"
        path = self.folder / f"{dt.datetime.now(dt.UTC):%Y-%m-%d}.jsonl"
        with self._lock, open(path, "a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())


class MemorySender:
    """Keeps messages in a list (tests, and a model for a new sender); `fail` makes the next sends raise."""

    channel = "memory"

    def __init__(self, app: Flask | None = None) -> None:
        self.sent: list[OutgoingMessage] = []
        self.fail = 0

    def send(self, message: OutgoingMessage) -> None:
        if self.fail:
            self.fail -= 1
            raise SendError("the gateway is unavailable")
        self.sent.append(message)


def load(path: str) -> type:
    """The sender class NOTIFICATION_SENDER names; a ConfigurationError if it names none."""
    module, _, name = str(path).partition(":")
    try:
        found = getattr(import_module(module), name, None) if module and name else None
    except ImportError:
        found = None
    if not isinstance(found, type):
        raise ConfigurationError(f"NOTIFICATION_SENDER {path!r} names no sender class ('module:Class')")
    return found


def sender(app: Flask | None = None) -> Sender:
    """The application's sender (built on first use from NOTIFICATION_SENDER)."""
    app = app or current_app._get_current_object()
    found = app.extensions.get(_KEY)
    if found is None:
        found = app.extensions[_KEY] = load(app.config.get("NOTIFICATION_SENDER") or DEFAULT_SENDER)(app)
    return found


def use(app: Flask, chosen: Sender) -> None:
    """Replace the application's sender (tests; an operator's script)."""
    app.extensions[_KEY] = chosen
