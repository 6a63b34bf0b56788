"""The environment the suite runs in is exactly the committed lock (uv.lock), and the lock matches pyproject.

`make test` installs with `uv sync --frozen` after `uv lock --check`; these tests catch an environment
that was installed some other way (a hand-run `pip install`, a re-resolved dependency), so a green suite
always means "green with the locked versions".
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _normalise(name: str) -> str:
    """PEP 503 normalised project name, as uv.lock writes it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, dict]:
    data = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    return {_normalise(p["name"]): p for p in data["package"]}


def _installed() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(_normalise(name), set()).add(dist.version)
    return found


def test_every_installed_distribution_is_the_locked_version() -> None:
    lock = _lock()
    wrong = {}
    for name, versions in _installed().items():
        if name not in lock:
            wrong[name] = f"installed {sorted(versions)} but not in uv.lock"
        elif versions != {lock[name]["version"]}:
            wrong[name] = f"installed {sorted(versions)}, locked {lock[name]['version']}"
    assert not wrong, f"the environment is not uv.lock (run `make clean test`): {wrong}"


def test_every_dependency_of_the_project_is_installed() -> None:
    lock = _lock()
    project = lock["ebid-platform"]
    wanted = {_normalise(d["name"]) for d in project["dependencies"]}
    wanted |= {_normalise(d["name"]) for d in project.get("optional-dependencies", {}).get("test", [])}
    missing = sorted(wanted - set(_installed()))
    assert not missing, f"locked but not installed: {missing}"


def test_the_lock_was_made_from_this_pyproject() -> None:
    """uv records the requirements it resolved; they must be pyproject.toml's, word for word."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    metadata_in_lock = _lock()["ebid-platform"]["metadata"]
    declared = {_normalise(re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0]) for r in pyproject["dependencies"]}
    locked = {_normalise(r["name"]) for r in metadata_in_lock["requires-dist"] if "marker" not in r}
    assert declared == locked, "uv.lock is stale: run `make lock` and commit uv.lock"


@pytest.mark.parametrize("name, floor", [("cryptography", (51,))])
def test_the_lock_is_on_current_releases(name: str, floor: tuple[int, ...]) -> None:
    """Issue 11 moved the lock to cryptography 51; going back below it would be a downgrade by mistake."""
    version = tuple(int(part) for part in _lock()[name]["version"].split(".")[: len(floor)])
    assert version >= floor
