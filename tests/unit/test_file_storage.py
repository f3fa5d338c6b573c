"""The attachment store: same bytes one file, downloads capped while they stream, keys never paths."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.lib.storage import FileStorage, FileTooLargeError, UnknownFileError


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_the_same_bytes_are_one_file_and_read_back(tmp_path: Path) -> None:
    store = FileStorage(tmp_path / "files")
    first = await store.put(b"%PDF-1.7 invoice")
    again = await store.put(b"%PDF-1.7 invoice")
    streamed, size = await store.put_stream(_chunks(b"%PDF-1.7 ", b"invoice"), limit=100)
    assert first == again == streamed and size == 16
    assert await store.read(first) == b"%PDF-1.7 invoice"
    assert [p.name for p in _files(tmp_path / "files")] == [first.rsplit("/", 1)[1]]


async def test_a_stream_over_the_limit_keeps_nothing(tmp_path: Path) -> None:
    store = FileStorage(tmp_path)
    with pytest.raises(FileTooLargeError):
        await store.put_stream(_chunks(b"x" * 60, b"y" * 60), limit=100)
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    "key", ["../secret.key", "sha256/../../etc/passwd", "sha256/ab/cd", "/etc/passwd", ""]
)
async def test_anything_but_our_keys_is_refused(tmp_path: Path, key: str) -> None:
    store = FileStorage(tmp_path)
    with pytest.raises(UnknownFileError):
        await store.read(key)


async def test_deleted_files_are_gone(tmp_path: Path) -> None:
    store = FileStorage(tmp_path)
    key = await store.put(b"voice note")
    await store.delete(key)
    assert not store.exists(key)
    with pytest.raises(UnknownFileError):
        await store.read(key)
