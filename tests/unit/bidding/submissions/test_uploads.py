"""Staging files of resumable uploads: writes at the counted offset, limits, cut pieces, one writer, purge."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from types import SimpleNamespace

import pytest

from bidding.submissions import uploads
from bidding.submissions.intake import ConnectionCut
from core.errors import Refused


@pytest.fixture
def staging(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    with app.app_context():
        (tmp_path / "uploads").mkdir()
        yield tmp_path / "uploads"


def _upload(staging, received=0, upload_id="u1", data=b""):
    (staging / f"{upload_id}.part").write_bytes(data)
    return SimpleNamespace(id=upload_id, received=received, size=1000)


def test_a_piece_is_written_at_the_counted_offset_dropping_uncounted_bytes(staging):
    upload = _upload(staging, received=3, data=b"abcXYZ")  # XYZ was written but never counted
    assert uploads.append(upload, [b"de", b"f"], limit=100) == 3
    assert (staging / "u1.part").read_bytes() == b"abcdef"


def test_a_piece_over_its_limit_is_refused_whole(staging):
    upload = _upload(staging, received=2, data=b"ab")
    with pytest.raises(Refused) as caught:
        uploads.append(upload, [b"1234", b"5678"], limit=6)
    assert caught.value.code == "too_large" and caught.value.status == 413
    assert (staging / "u1.part").read_bytes() == b"ab"


def test_a_cut_piece_keeps_what_arrived(staging):
    upload = _upload(staging)

    def cut():
        yield b"first "
        yield b"second"
        raise ConnectionCut("reset")

    with pytest.raises(uploads.PieceCut) as caught:
        uploads.append(upload, cut(), limit=100)
    assert caught.value.written == 12
    assert (staging / "u1.part").read_bytes() == b"first second"


def test_one_writer_at_a_time(staging):
    upload = _upload(staging)
    with (staging / "u1.part").open("r+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(Refused) as caught:
            uploads.append(upload, [b"x"], limit=10)
    assert caught.value.code == "upload_busy"


def test_a_vanished_staging_file_is_an_expired_upload(staging):
    with pytest.raises(Refused) as caught:
        uploads.append(SimpleNamespace(id="gone", received=0, size=10), [b"x"], limit=10)
    assert caught.value.code == "upload_expired" and caught.value.status == 410


def test_stray_staging_files_are_swept_once_old(staging, session):
    stray, fresh = staging / "nobody.part", staging / "justnow.part"
    stray.write_bytes(b"x")
    fresh.write_bytes(b"y")
    now = dt.datetime.now(dt.UTC)
    old = (now - uploads.STRAY_AGE - dt.timedelta(minutes=1)).timestamp()
    os.utime(stray, (old, old))
    assert uploads.purge(now) is None
    assert not stray.exists() and fresh.exists()
