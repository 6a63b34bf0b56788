"""poppler's pdfsig with a chosen CA trusted: an independent validator for the platform's PDFs."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

TOOLS = {"pdftotext": "poppler-utils", "pdfsig": "poppler-utils", "certutil": "libnss3-tools"}


def tool(name: str) -> str:
    """The path of a Debian tool the tests need; fails (never skips) naming the package."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: apt-get install {TOOLS[name]}")
    return path


def nss_database(ca_pems: Iterable[bytes], directory: Path) -> str:
    """An NSS database that trusts only these CA certificates (pdfsig reads trust from NSS)."""
    certutil = tool("certutil")
    subprocess.run(
        [certutil, "-N", "-d", f"sql:{directory}", "--empty-password"], check=True, capture_output=True
    )
    for i, pem in enumerate(ca_pems):
        path = directory / f"ca{i}.pem"
        path.write_bytes(pem)
        subprocess.run(
            [
                certutil,
                "-A",
                "-d",
                f"sql:{directory}",
                "-n",
                f"ebid-ca-{i}",
                "-t",
                "CT,C,C",
                "-a",
                "-i",
                str(path),
            ],
            check=True,
            capture_output=True,
        )
    return f"sql:{directory}"


def pdfsig(pdf: bytes, nss: str, tmp_path: Path) -> list[str]:
    """pdfsig's report split per signature (pdfsig lists them newest first)."""
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        [tool("pdfsig"), "-nssdir", nss, str(path)], capture_output=True, text=True, check=False
    )
    blocks = result.stdout.split("Signature #")[1:]
    assert blocks, f"pdfsig found no signatures: {result.stdout}{result.stderr}"
    return blocks


def split_pem_bundle(bundle: bytes) -> list[bytes]:
    """The certificates of a PEM bundle, one PEM each."""
    marker = b"-----END CERTIFICATE-----"
    return [part.strip() + b"\n" + marker + b"\n" for part in bundle.split(marker) if part.strip()]
