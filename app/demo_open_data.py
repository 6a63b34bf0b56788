"""make demo: the public downloads the OCDS package and record; the opening, score and award exports.

    open_data   anyone, signed in as nobody, downloads the awarded tender's OCDS release package and record
                (instance/demo/ocds-release-package.json, ocds-record.json) and the bulk zip
                (ocds-packages.zip), and checks them with libcoveocds against the standard's 1.1.5 schema
                shipped in tests/data/ocds-1.1.5 when libcoveocds is installed (the development
                environment); then the exports of the opening results, the scores per expert and the award,
                each as CSV and XLSX (instance/demo/exports/). A validation error fails the demo.
"""

from __future__ import annotations

import functools
import io
import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The standard's 1.1.5 schema archive (tests/data/ocds-1.1.5/README.md).
STANDARD_ZIP = Path(__file__).resolve().parents[1] / "tests" / "data" / "ocds-1.1.5" / "standard-1__1__5.zip"
EXPORTS = [(part, fmt) for part in ("opening", "scores", "award") for fmt in ("csv", "xlsx")]


def _fail(demo: Any, message: str) -> Exception:
    """The demo's own error (app.demo runs as __main__ under `make demo`: its class is taken from there)."""
    return getattr(sys.modules[type(demo).__module__], "DemoError", RuntimeError)(message)


def _raw(content: Any) -> bytes:
    return content if isinstance(content, bytes) else json.dumps(content, ensure_ascii=False).encode()


def validation(document: dict[str, Any]) -> str | None:
    """libcoveocds's verdict ("valid" or the errors), or None when libcoveocds is not installed."""
    try:
        import libcoveocds  # noqa: F401
    except ImportError:
        return None
    from supervision.ocds import validate

    errors = validate(document, str(STANDARD_ZIP)).get("validation_errors") or []
    return "valid" if not errors else f"{len(errors)} validation error(s): {json.dumps(errors)[:800]}"


def open_data(demo: Any) -> None:
    """The public downloads the awarded tender's OCDS package, record and the bulk zip, and its exports"""
    tender = demo.facts["tender"]
    public = demo.role(None)
    package = json.loads(_raw(public.call("GET", f"/api/ocds/tenders/{tender['id']}/releases")))
    record = json.loads(_raw(public.call("GET", f"/api/ocds/tenders/{tender['id']}/record")))
    demo.save("ocds-release-package.json", package)
    demo.save("ocds-record.json", record)
    tags = [r["tag"][0] for r in package["releases"]]
    compiled = record["records"][0]["compiledRelease"]
    demo.say("public", f"OCDS {compiled['ocid']}: {len(tags)} releases ({', '.join(tags)}); "
                       f"{len(compiled.get('bids', {}).get('details', []))} bids, "
                       f"{len(compiled.get('awards', []))} award(s), {len(compiled['parties'])} parties")
    for name, document in (("release package", package), ("record", record)):
        verdict = validation(document)
        if verdict is None:
            demo.say("public", f"the {name} was not validated: libcoveocds is not installed")
        elif verdict != "valid":
            raise _fail(demo, f"the OCDS {name} is not valid: {verdict}")
        else:
            demo.say("public", f"libcoveocds (OCDS 1.1.5 schema, offline): the {name} is valid")
    bulk = public.call("GET", "/api/ocds/packages.zip")
    demo.save("ocds-packages.zip", bulk)
    with zipfile.ZipFile(io.BytesIO(bulk)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    demo.say("public", f"bulk download: {len(manifest['files'])} files with their SHA-256 in manifest.json")

    (demo.out / "exports").mkdir(exist_ok=True)
    for part, fmt in EXPORTS:
        body = public.call("GET", f"/tenders/{tender['id']}/exports/{part}.{fmt}")
        demo.save(f"exports/{part}.{fmt}", body)
    opening = _raw(public.call("GET", f"/tenders/{tender['id']}/exports/opening.csv"))
    rows = opening.decode("utf-8-sig").strip().splitlines()
    demo.say("public", f"exports: opening results ({len(rows) - 1} bids), scores per expert and the award, "
                       "each as CSV and XLSX (instance/demo/exports/)")


def steps(demo: Any) -> list[Callable[[], None]]:
    """The demo's steps for this part, bound to the running demo."""
    @functools.wraps(open_data)
    def run() -> None:
        open_data(demo)

    return [run]
