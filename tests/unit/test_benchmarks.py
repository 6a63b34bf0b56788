"""The benchmarks still run and still print every comparison they promise (their figures are not checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Every measurement issue 3 asks for; each must come out as one table row with a ratio.
MEASUREMENTS = (
    "receipts signed per second",
    "receipts verified per second",
    "PDF signatures per second (vs raw ECDSA)",
    "PDF signatures per second (vs rendering)",
    "signed PDF size",
    "log appends per second, checkpoint every 100",
    "log appends per second, checkpoint every 1000",
    "Merkle appends per second (memory)",
    "Merkle memory per leaf (MemoryNodeStore)",
    "inclusion proof size, n=10,000 (mean)",
    "consistency proof size, n=10,000 (mean)",
    "inclusion proof as JSON (base64, as the API serves it)",
    "verify_inclusion time, n=10,000",
    "verify_consistency time, n=10,000",
)
RATIO = re.compile(r"\s(\d[\d,]*(?:\.\d+)?)×(\s|$)")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, check=False)


def test_the_signing_benchmarks_run_quickly_and_print_a_ratio_for_every_measurement():
    result = _run("signing", "--quick")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stdout.splitlines()
    for measurement in MEASUREMENTS:
        rows = [line for line in lines if re.match(re.escape(measurement) + r"\s{2,}\S", line)]
        assert len(rows) == 1, f"{measurement!r} printed {len(rows)} rows:\n{result.stdout}"
        ratio = RATIO.search(rows[0])
        assert ratio is not None, f"no ratio in {rows[0]!r}"
        assert float(ratio.group(1).replace(",", "")) > 0, rows[0]


def test_an_unknown_benchmark_is_refused_with_the_known_names():
    result = _run("no-such-benchmark")
    assert result.returncode == 2
    assert "no benchmark is named 'no-such-benchmark'" in result.stderr
    assert "signing.receipts" in result.stderr
