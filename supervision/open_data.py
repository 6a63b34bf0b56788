"""The public open-data endpoints (no sign-in): a tender's OCDS release package and record, and the bulk zip
of every public tender's. A tender that does not exist or is not public yet is refused (404), the
refusal logged as "ocds.refused" when a signed-in user asked, counted and rate-limited when an anonymous
client did (`supervision.public_refusals`); nothing about it appears in the bulk download."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import zipfile
from collections.abc import Iterator

from flask import Blueprint, Response, stream_with_context, url_for
from flask_babel import gettext as _

from bidding.models import Tender
from core.errors import error_response
from core.extensions import db
from core.openapi import document
from supervision import ocds, public_refusals

bp = Blueprint("open_data", __name__)

JSON = "application/json"


def _tender_or_refusal(tender_id: int) -> Tender | Response:
    tender = db.session.get(Tender, tender_id)
    if ocds.is_public(tender):
        return tender
    message = _("Tender %(id)d does not exist or is not public yet: its open data is published with its "
                "notice.", id=tender_id)
    if not public_refusals.refused("ocds.refused", tender_id, {"reason": "not_found", "message": message}):
        return public_refusals.too_many()
    return error_response(404, "not_found", message, "tender_id")


def _json(document_: dict, name: str) -> Response:
    return Response(ocds.dumps(document_), mimetype=JSON,
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


def _releases_uri(tender: Tender) -> str:
    return url_for("open_data.releases", tender_id=tender.id, _external=True)


def _record_uri(tender: Tender) -> str:
    return url_for("open_data.record", tender_id=tender.id, _external=True)


@bp.get("/api/ocds/tenders/<int:tender_id>/releases")
@document(summary="A public tender's history as an OCDS 1.1 release package (anyone)", public=True)
def releases(tender_id: int):
    tender = _tender_or_refusal(tender_id)
    if isinstance(tender, Response):
        return tender
    return _json(ocds.release_package(ocds.releases(tender), _releases_uri(tender)),
                 f"{ocds.ocid(tender)}-releases.json")


@bp.get("/api/ocds/tenders/<int:tender_id>/record")
@document(summary="A public tender's OCDS 1.1 record package: its releases and the compiled release "
                  "(anyone)", public=True)
def record(tender_id: int):
    tender = _tender_or_refusal(tender_id)
    if isinstance(tender, Response):
        return tender
    return _json(ocds.record_package(ocds.releases(tender), _record_uri(tender)),
                 f"{ocds.ocid(tender)}-record.json")


class _Pipe:
    """A write-only, unseekable file whose written bytes are collected until taken (zipfile streams to
    it with data descriptors)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def _stamp(published: str) -> tuple[int, int, int, int, int, int]:
    when = dt.datetime.fromisoformat(published)
    return (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)


def bulk_members() -> Iterator[tuple[str, bytes, str]]:
    """(name in the zip, bytes, date) for every public tender's release package and record, then none."""
    for tender in ocds.public_tenders():
        rels = ocds.releases(tender)
        name = ocds.ocid(tender)
        when = rels[-1]["date"]
        package = ocds.release_package(rels, _releases_uri(tender))
        yield f"{name}/release-package.json", ocds.dumps(package), when
        yield f"{name}/record.json", ocds.dumps(ocds.record_package(rels, _record_uri(tender))), when


def bulk_zip() -> Iterator[bytes]:
    """The zip, member by member, then manifest.json: each file's tender, ocid, size and SHA-256."""
    pipe = _Pipe()
    manifest: list[dict] = []
    latest = "1980-01-01T00:00:00+00:00"
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data, when in bulk_members():
            info = zipfile.ZipInfo(name, date_time=_stamp(when))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
            manifest.append({"file": name, "ocid": name.split("/")[0], "bytes": len(data),
                             "sha256": hashlib.sha256(data).hexdigest()})
            latest = max(latest, when)
            yield pipe.take()
        body = ocds.dumps({"publisher": ocds.publisher(), "version": ocds.VERSION,
                           "standard": "Open Contracting Data Standard 1.1 (schema 1.1.5)",
                           "ocid_prefix": ocds.prefix(), "files": manifest})
        info = zipfile.ZipInfo("manifest.json", date_time=_stamp(latest))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, body)
    yield pipe.take()


@bp.get("/api/ocds/packages.zip")
@document(summary="Every public tender's OCDS release package and record in one zip, with manifest.json "
                  "(anyone; streamed)", public=True, content_type="application/zip")
def packages():
    return Response(stream_with_context(bulk_zip()), mimetype="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="ocds-packages.zip"'})


def init_app(app) -> None:
    app.config.setdefault("OCDS_PREFIX", os.environ.get("EBID_OCDS_PREFIX") or ocds.DEFAULT_PREFIX)
    app.register_blueprint(bp)
