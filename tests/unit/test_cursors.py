"""Pagination cursors round-trip and refuse what the server never gave out."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.lib.cursors import decode_cursor, encode_cursor
from app.lib.errors import InvalidInputError


def test_cursor_round_trip() -> None:
    at = datetime(2026, 5, 3, 12, 30, 1, 123456, tzinfo=UTC)
    position = decode_cursor(encode_cursor(at, 42))
    assert (position.at, position.id) == (at, 42)


@pytest.mark.parametrize("junk", ["", "!!!", "bm90IGpzb24", "WzEsMl0"])
def test_junk_cursors_are_refused(junk: str) -> None:
    with pytest.raises(InvalidInputError):
        decode_cursor(junk)
