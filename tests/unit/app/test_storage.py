"""One contract for every blob store implementation (today: local files)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from core.storage import BlobError, BlobTooLarge, LocalBlobStore, blob_store_from_config

IMPLEMENTATIONS = {"local": lambda tmp: LocalBlobStore.from_config({"BLOB_DIR": tmp / "blobs"})}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def store(request, tmp_path: Path):
    return IMPLEMENTATIONS[request.param](tmp_path)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


class TestBlobStoreContract:
    def test_a_stream_is_named_by_its_sha256(self, store) -> None:
        chunks = [os.urandom(1000) for _ in range(5)]
        stored = store.put_stream(iter(chunks))
        data = b"".join(chunks)
        assert stored.sha256 == hashlib.sha256(data).hexdigest()
        assert stored.size == len(data)
        assert store.exists(stored.sha256)
        assert b"".join(store.open(stored.sha256)) == data

    def test_the_same_bytes_twice_are_one_blob(self, store) -> None:
        assert store.put_stream([b"same"]) == store.put_stream([b"sa", b"me"])

    def test_over_the_limit_is_refused_and_nothing_is_kept(self, store, tmp_path: Path) -> None:
        with pytest.raises(BlobTooLarge, match="limit of 10 bytes"):
            store.put_stream([b"0123456", b"789ab"], max_size=10)
        assert _files(tmp_path / "blobs") == []

    def test_a_stream_cut_midway_leaves_nothing(self, store, tmp_path: Path) -> None:
        def cut():
            yield b"first part"
            raise ConnectionResetError("client went away")

        with pytest.raises(ConnectionResetError):
            store.put_stream(cut())
        assert _files(tmp_path / "blobs") == []

    def test_validation_sees_the_complete_blob_before_it_appears(self, store) -> None:
        seen = []

        def validate(blob):
            seen.append((blob, store.exists(blob.sha256)))

        stored = store.put_stream([b"sealed ", b"bid"], validate=validate)
        assert seen == [(stored, False)]
        assert stored.sha256 == hashlib.sha256(b"sealed bid").hexdigest() and stored.size == 10
        assert store.exists(stored.sha256)

    def test_a_refusal_by_validation_leaves_nothing(self, store, tmp_path: Path) -> None:
        class Refused(Exception):
            pass

        def refuse(blob):
            raise Refused(blob.sha256)

        with pytest.raises(Refused):
            store.put_stream([b"not", b" accepted"], validate=refuse)
        assert not store.exists(hashlib.sha256(b"not accepted").hexdigest())
        assert _files(tmp_path / "blobs") == []

    def test_unknown_and_malformed_names(self, store) -> None:
        missing = "0" * 64
        assert not store.exists(missing)
        with pytest.raises(BlobError, match="no blob"):
            store.open(missing)
        with pytest.raises(BlobError, match="not a SHA-256 blob name"):
            store.exists("../../etc/passwd")


def test_configuration_picks_the_implementation(tmp_path: Path) -> None:
    store = blob_store_from_config({"BLOB_STORE": "core.storage:LocalBlobStore", "BLOB_DIR": tmp_path})
    assert isinstance(store, LocalBlobStore)
    with pytest.raises(ModuleNotFoundError):
        blob_store_from_config({"BLOB_STORE": "nowhere.module:Store", "BLOB_DIR": tmp_path})
