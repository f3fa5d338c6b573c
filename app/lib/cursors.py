"""Opaque pagination cursors: a position encoded so clients pass it back without reading it."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

import msgspec

from app.lib.errors import InvalidInputError


class Position(msgspec.Struct, array_like=True):
    """A place in an ordering by ``(at, id)``."""

    at: datetime
    id: int


def encode_cursor(at: datetime, id_: int) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(Position(at, id_))).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=Position)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise InvalidInputError(
            "cursor is not one this server gave out", type_slug="invalid-cursor"
        ) from None
