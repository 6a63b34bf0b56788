"""The dependency direction, checked on every import statement (also those inside functions).

core (the shared ground) imports nothing of ours above it; signing imports no other domain; bidding and
guarantees import core and signing, never app; app (the web application) is on top. A job worker imports
the ground and the domains without the web application.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"app", "core", "bidding", "guarantees", "signing", "supervision", "notifications"}
# What each package may import of ours (besides itself).
ALLOWED = {
    "core": set(),
    "signing": {"core"},
    "bidding": {"core", "signing"},
    "guarantees": {"core", "signing"},
    "supervision": {"core", "signing", "bidding", "guarantees"},
    "notifications": {"core", "signing", "bidding", "guarantees", "supervision"},
}
# The two adapters between the domains, each chosen by configuration and implementing the other side's
# narrow interface (docs/decisions.md): a tender's times for guarantees, a deposit's status for the opening.
ADAPTERS = {
    "bidding/deposit_times.py": {"guarantees"},  # TENDER_TIMES_SOURCE implements guarantees.tenders
    "guarantees/opening.py": {"bidding"},  # DEPOSIT_STATUS_PROVIDER implements bidding.opening.deposits
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return {(name, line) for name, line in found if name in OURS}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_what_is_below_it(package):
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name, line in imported_packages(path):
            adapter = ADAPTERS.get(str(path.relative_to(ROOT)), set())
            if name != package and name not in ALLOWED[package] | adapter:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not wrong, "imports against the dependency direction:\n" + "\n".join(wrong)


def test_the_check_sees_an_import_hidden_in_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from app.authz import check\n    return check\n")
    assert imported_packages(module) == {("app", 2)}
