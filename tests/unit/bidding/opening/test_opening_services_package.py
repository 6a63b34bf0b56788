"""The opening's services stay split along the ceremony's steps: each module small and saying its one job,
and the package answering every name its callers use (`services.X` or `from ...services import X`)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

from bidding.opening import services

ROOT = Path(__file__).resolve().parents[4]
PACKAGE = Path(services.__file__).parent
MAX_LINES = 600
CALLERS = ("app", "core", "bidding", "guarantees", "signing", "tests", "benchmarks")


def _modules() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(services.__path__))


@pytest.mark.parametrize("name", _modules())
def test_each_module_has_one_job_and_stays_small(name):
    path = PACKAGE / f"{name}.py"
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it along its sections"
    assert (importlib.import_module(f"{services.__name__}.{name}").__doc__ or "").strip(), (
        f"{path.relative_to(ROOT)} has no docstring saying its job"
    )


def names_used(tree: ast.AST) -> set[str]:
    """Names a module takes from the opening's services: `services.X` where `services` was imported from
    bidding.opening (under any alias), and `from bidding.opening.services import X`."""
    aliases: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            if node.module == "bidding.opening":
                aliases |= {a.asname or a.name for a in node.names if a.name == "services"}
            elif node.module == "bidding.opening.services":
                used |= {a.name for a in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            used.add(node.attr)
    return used


def test_the_scan_sees_both_ways_of_taking_a_name():
    tree = ast.parse(
        "from bidding.opening import services as s\n"
        "def f():\n    from bidding.opening.services import conclude\n    return s.snapshot, conclude\n"
    )
    assert names_used(tree) == {"snapshot", "conclude"}


def test_the_package_answers_every_name_its_callers_use():
    missing = []
    for top in CALLERS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if PACKAGE in path.parents:
                continue
            for name in names_used(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
                if not hasattr(services, name):
                    missing.append(f"{path.relative_to(ROOT)}: services.{name}")
    assert not missing, "names the opening's services package does not answer:\n" + "\n".join(missing)


def test_the_package_exports_what_it_imports():
    assert sorted(services.__all__) == sorted(
        name for name, value in vars(services).items()
        if not name.startswith("_") and not isinstance(value, type(services)) and name != "annotations"
    )
