"""Where attachment bytes live: a directory, addressed by content hash.

The database holds the attachment row (name, type, size, ``storage_key``); the bytes live here so
the database stays small and a file is written once however often it is sent. Keys are
``sha256/ab/cdef…``: the same bytes get the same key, so a retried fetch or a file forwarded to
several customers is stored once, and a key can never name a path outside the root. In the
production shape every app and worker process mounts the same directory (compose's ``files``
volume).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import tempfile
from collections.abc import AsyncIterable
from pathlib import Path

_KEY = re.compile(r"^sha256/[0-9a-f]{2}/[0-9a-f]{62}$")


class FileTooLargeError(Exception):
    """The bytes exceed the cap they were written under; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


class UnknownFileError(Exception):
    """The key is malformed or names no stored file."""


class FileStorage:
    """Content-addressed files under ``root``. Writes are atomic (a temporary file renamed into
    place), so a reader never sees half a file and two writers of the same bytes cannot clash."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """The file a key names; ``UnknownFileError`` for anything that is not one of our keys."""
        if not _KEY.match(key):
            raise UnknownFileError(key)
        return self.root / key

    async def put(self, data: bytes) -> str:
        """Store bytes; returns their key."""
        return await asyncio.to_thread(self._put_bytes, data)

    async def put_stream(self, chunks: AsyncIterable[bytes], *, limit: int) -> tuple[str, int]:
        """Store a download as it arrives, never holding more than ``limit`` bytes; returns the key
        and the size. ``FileTooLargeError`` as soon as the stream passes the limit."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        handle = tempfile.NamedTemporaryFile(dir=self.root, prefix=".incoming-", delete=False)  # noqa: SIM115
        try:
            with handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise FileTooLargeError(limit)
                    digest.update(chunk)
                    await asyncio.to_thread(handle.write, chunk)
            key = _key(digest.hexdigest())
            await asyncio.to_thread(self._move_into_place, Path(handle.name), key)
            return key, size
        finally:
            await asyncio.to_thread(Path(handle.name).unlink, missing_ok=True)

    async def read(self, key: str) -> bytes:
        path = self.path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as error:
            raise UnknownFileError(key) from error

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    def _put_bytes(self, data: bytes) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        key = _key(hashlib.sha256(data).hexdigest())
        if (self.root / key).is_file():
            return key
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".incoming-", delete=False) as handle:
            handle.write(data)
        try:
            self._move_into_place(Path(handle.name), key)
        finally:
            Path(handle.name).unlink(missing_ok=True)
        return key

    def _move_into_place(self, temporary: Path, key: str) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary.chmod(0o640)
        temporary.replace(target)


def _key(hexdigest: str) -> str:
    return f"sha256/{hexdigest[:2]}/{hexdigest[2:]}"
