"""First-run secrets for the embedded default: made once, kept in `instance/`, never in the repo."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from flask import Flask

from signing.keys import new_kek


def load_development_secrets(app: Flask) -> None:
    """Fill SECRET_KEY and KEY_ENCRYPTION_KEY from `instance/secrets.json`, making it if absent.

    Only for the embedded default; production takes both from the environment and refuses to
    start without them.
    """
    path = Path(app.instance_path) / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    changed = False
    if not stored.get("SECRET_KEY"):
        stored["SECRET_KEY"] = secrets.token_urlsafe(48)
        changed = True
    if not stored.get("KEY_ENCRYPTION_KEY"):
        stored["KEY_ENCRYPTION_KEY"] = new_kek()
        changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh)
    for key in ("SECRET_KEY", "KEY_ENCRYPTION_KEY"):
        if not app.config.get(key):
            app.config[key] = stored[key]
