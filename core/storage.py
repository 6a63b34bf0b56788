"""The blob store: content-addressed files (sealed envelopes, signed PDFs), behind one interface.

The embedded default keeps blobs under `instance/blobs/`, named by their SHA-256; production
points `BLOB_STORE` at another implementation (a shared volume or an object store) with the
same contract. Writes stream: a blob of any size is hashed while it is written, in constant
memory, and appears under its name only when complete — an interrupted write leaves nothing.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

_KEY = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1024 * 1024


class BlobError(Exception):
    """A blob that is missing, too large, or named wrongly."""


class BlobTooLarge(BlobError):
    """The stream went past the size limit; nothing was kept."""


@dataclass(frozen=True)
class StoredBlob:
    """What a write produced: the SHA-256 (hex) that names the blob, and its size."""

    sha256: str
    size: int


class BlobStore(Protocol):
    """Where blobs live. Implementations build themselves with `from_config(config)`."""

    def put_stream(self, chunks: Iterable[bytes], *, max_size: int | None = None,
                   validate: Callable[[StoredBlob], None] | None = None) -> StoredBlob:
        """Store a stream, hashing as it goes; refuse (keeping nothing) past `max_size` bytes.

        `validate`, if given, is called with the complete blob's name and size after the last
        chunk and before the blob appears; whatever it raises aborts the write, keeping nothing.
        """
        ...

    def open(self, sha256: str) -> Iterator[bytes]:
        """The blob's bytes, in chunks."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether a complete blob with this hash is stored."""
        ...


def check_key(sha256: str) -> str:
    """A blob name is 64 lower-case hex characters."""
    if not isinstance(sha256, str) or not _KEY.match(sha256):
        raise BlobError(f"not a SHA-256 blob name: {sha256!r}")
    return sha256


class LocalBlobStore:
    """Blobs as files under a directory, fanned out by the first two bytes of their hash."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_config(cls, config: Any) -> LocalBlobStore:
        return cls(Path(config["BLOB_DIR"]))

    def _path(self, sha256: str) -> Path:
        check_key(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_stream(self, chunks: Iterable[bytes], *, max_size: int | None = None,
                   validate: Callable[[StoredBlob], None] | None = None) -> StoredBlob:
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=self.root)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise BlobTooLarge(f"larger than the limit of {max_size} bytes")
                    digest.update(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            stored = StoredBlob(digest.hexdigest(), size)
            if validate is not None:
                validate(stored)  # a refusal here leaves nothing: the blob never appeared
            final = self._path(stored.sha256)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)  # atomic: the blob appears whole or not at all
            return stored
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put(self, data: bytes) -> StoredBlob:
        """Store bytes already in memory (small documents)."""
        return self.put_stream([data])

    def open(self, sha256: str) -> Iterator[bytes]:
        path = self._path(sha256)
        if not path.exists():
            raise BlobError(f"no blob {sha256}")

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as fh:
                while block := fh.read(CHUNK):
                    yield block

        return chunks()

    def read(self, sha256: str) -> bytes:
        """The whole blob (small documents only)."""
        return b"".join(self.open(sha256))

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def path(self, sha256: str) -> Path:
        """Where the blob lives on disk (local store only; for tools that read files)."""
        return self._path(sha256)


def blob_store_from_config(config: Any) -> BlobStore:
    """The store named by `BLOB_STORE` ("module:Class"), built from configuration."""
    target = config.get("BLOB_STORE", "core.storage:LocalBlobStore")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_config(config)
