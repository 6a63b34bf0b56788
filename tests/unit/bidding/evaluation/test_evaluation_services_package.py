"""The evaluation room's services are a package of modules, one job each (issue 13): none passes ~600
lines, each says its job in a docstring, they import one another without a circle, and the package still
offers every name its callers use as `services.X`."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
PACKAGE = ROOT / "bidding" / "evaluation" / "services"
NAME = "bidding.evaluation.services"
MAX_LINES = 600
MODULES = sorted(p for p in PACKAGE.glob("*.py")) if PACKAGE.is_dir() else []


def test_services_is_a_package_of_the_rooms_sections():
    assert PACKAGE.is_dir(), "bidding/evaluation/services/ is a package"
    assert not (ROOT / "bidding" / "evaluation" / "services.py").exists()
    assert {p.stem for p in MODULES} >= {
        "__init__",
        "common",
        "actors",
        "panel",
        "room",
        "entries",
        "sheets",
        "review",
        "result",
        "clarifications",
        "state",
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_each_module_is_short_and_says_its_job(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES
    doc = ast.get_docstring(ast.parse(text))
    assert doc and len(doc.split()) >= 8, f"{path.name} needs a docstring saying its job"


def own_imports(path: Path) -> set[str]:
    """The package's modules `path` imports (at the top or inside a function)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(NAME + "."):
            found.add(node.module.removeprefix(NAME + "."))
        elif isinstance(node, ast.ImportFrom) and node.module == NAME:
            found |= {alias.name for alias in node.names}
    return found


def test_the_modules_import_one_another_without_a_circle():
    assert MODULES
    graph = {p.stem: own_imports(p) for p in MODULES if p.stem != "__init__"}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError on a circle
    assert "__init__" not in set().union(*graph.values())


def callers_names() -> set[tuple[str, str]]:
    """(file, X) for every `services.X` in a file that imports the evaluation room's services as
    `services` (`from bidding.evaluation import services`, at the top or inside a function)."""
    paths = [*ROOT.glob("*.py")]
    for top in ("app", "core", "bidding", "guarantees", "signing", "tests", "benchmarks"):
        paths += (ROOT / top).rglob("*.py")
    used = set()
    for path in paths:
        if PACKAGE in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not any(
            isinstance(node, ast.ImportFrom)
            and node.module == "bidding.evaluation"
            and any(a.name == "services" and a.asname in (None, "services") for a in node.names)
            for node in ast.walk(tree)
        ):
            continue
        used |= {
            (str(path.relative_to(ROOT)), node.attr)
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "services"
        }
    return used


def test_every_name_callers_use_is_offered_by_the_package():
    from bidding.evaluation import services

    used = callers_names()
    assert {f for f, _ in used} >= {"bidding/evaluation/api.py", "bidding/evaluation/events.py"}
    missing = sorted(f"{f}: services.{x}" for f, x in used if not hasattr(services, x))
    assert not missing, "names callers use that the package does not offer:\n" + "\n".join(missing)


def test_the_modules_import_at_the_top_none_inside_a_function():
    """Nothing the services need is out of reach at import time: no import hides in a function (issue 13:
    the circle they dodged is gone)."""
    assert MODULES
    hidden = [
        f"{path.name}:{inner.lineno}"
        for path in MODULES
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.Import | ast.ImportFrom)
    ]
    assert not hidden, "imports inside functions: " + ", ".join(hidden)
