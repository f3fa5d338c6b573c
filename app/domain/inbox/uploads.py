"""Files an agent attaches to a reply: what the browser or API client sent, made safe to keep.

The name is the client's and may be anything (a path, control characters, 2,000 characters); the
declared type is the client's guess. What is kept is a plain file name and the type the bytes show
(their magic number) where they show one, else the declared one, else the name's extension's.
Both routes (the console composer and the JSON API) read uploads through here, so the size cap and
its refusal are the same everywhere.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import msgspec
from litestar.exceptions import ValidationException

from app.i18n import N_
from app.lib.errors import InvalidInputError, Reason

MAX_FILES = 10
"""Files one reply may carry (Messenger and Telegram send each as a message of its own)."""
MAX_FILENAME_CHARS = 255
OCTET_STREAM = "application/octet-stream"
_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"*:<>?|]+')

TOO_LARGE = N_("%(filename)s is too large: a file may be at most %(max)s.")
TOO_MANY = N_("A reply can carry at most %(max)s files.")


class Upload(Protocol):
    """What Litestar's ``UploadFile`` offers (and a test can stand in for)."""

    filename: str
    content_type: str

    async def read(self, size: int = -1) -> bytes: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ReplyFile:
    """A file to send with a reply: a safe name, the type its bytes show, the bytes."""

    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


def too_large(filename: str, limit: int) -> InvalidInputError:
    return InvalidInputError(
        Reason(TOO_LARGE, {"filename": filename, "max": megabytes(limit)}), type_slug="file-too-large"
    )


def safe_filename(name: str) -> str:
    """The last path segment of ``name``, without control or shell-awkward characters, at most 255
    characters (the extension kept); ``file`` when nothing is left."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("_", name).strip().strip(".").strip()
    if not name:
        return "file"
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_FILENAME_CHARS - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_FILENAME_CHARS]
    return name


_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"OggS", 0, "audio/ogg"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\x1aE\xdf\xa3", 0, "video/webm"),
)


def sniff(data: bytes) -> str | None:
    """The type the first bytes show, for the kinds a channel treats specially (pictures, voice
    notes, audio, video, PDF); ``None`` when they show none of those."""
    for magic, offset, kind in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:  # an MPEG audio frame
        return "audio/mpeg"
    return None


def content_type(data: bytes, declared: str | None, filename: str) -> str:
    """What the bytes are: sniffed, else the client's declared type if well-formed, else the
    extension's guess, else ``application/octet-stream``."""
    sniffed = sniff(data)
    if sniffed:
        return sniffed
    kind = (declared or "").split(";", 1)[0].strip().lower()
    if kind and kind != OCTET_STREAM and _TYPE.match(kind):
        return kind
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or OCTET_STREAM


async def read_uploads(uploads: Iterable[Upload], *, limit: int) -> list[ReplyFile]:
    """Read the uploaded files, refusing (422 ``file-too-large``) any over ``limit`` bytes before
    anything is stored. An empty file input (browsers send one nameless, empty part) is skipped."""
    files: list[ReplyFile] = []
    pending = list(uploads)
    try:
        for upload in pending:
            if not upload.filename:
                continue
            name = safe_filename(upload.filename)
            data = await upload.read(limit + 1)
            if len(data) > limit:
                raise too_large(name, limit)
            files.append(ReplyFile(name, content_type(data, upload.content_type, name), data))
            if len(files) > MAX_FILES:
                raise InvalidInputError(Reason(TOO_MANY, {"max": str(MAX_FILES)}), type_slug="too-many-files")
    finally:
        # The parser spooled large uploads to temporary files: let them go now, not at collection.
        for upload in pending:
            await upload.close()
    return files


def upload_body_limit(max_attachment_bytes: int, max_request_bytes: int) -> int:
    """The body size the routes that take files accept: the attachment cap plus the room any other
    request gets (text, form fields, multipart framing). One reply's files together fit the cap
    too, so a request never holds more than about one file's worth of memory more than others."""
    return max_attachment_bytes + max_request_bytes


def invalid_body(error: msgspec.MsgspecError) -> ValidationException:
    """A body the handler read itself refused the way Litestar refuses the ones it reads: the
    message and the field, for the API's problem and the console's form reason alike."""
    message, _, where = str(error).partition(" - at `$.")
    return ValidationException(
        detail=f"Validation failed: {message}",
        extra=[{"message": message, "key": where.rstrip("`"), "source": "body"}],
    )
