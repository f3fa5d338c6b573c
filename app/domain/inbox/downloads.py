"""Serving stored attachments to agents: ``GET /api/v1/attachments/{id}`` (API.md "JSON API").

Customers choose these bytes, and they are served from our own origin, next to the console. So a
file can never act as a page of ours: ``Content-Security-Policy: sandbox`` gives any document an
opaque origin with scripts off, ``nosniff`` stops a browser from guessing HTML in a "JPEG", and only
a short list of image, audio and video types is shown inline; everything else (HTML, SVG, PDF,
archives) is a download with its name.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import File
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Attachment
from app.domain.accounts.auth import requires_agent
from app.domain.inbox.schemas import ATTACHMENTS_PATH
from app.domain.system.services import Services
from app.i18n import N_
from app.lib.errors import NotFoundError, Reason
from app.lib.storage import UnknownFileError

INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/wav",
        "audio/webm",
        "video/mp4",
        "video/webm",
        "video/quicktime",
    }
)
"""Types a browser only ever renders as media (never as a document that could run script)."""

_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_UNSAFE_IN_QUOTES = re.compile(r'[^\x20-\x7e]|["\\%]')

FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "private, max-age=86400",
}


def media_type(declared: str) -> str:
    """The stored type when it is a well-formed ``type/subtype``, else ``application/octet-stream``."""
    value = declared.split(";", 1)[0].strip().lower()
    return value if _MEDIA_TYPE.match(value) else "application/octet-stream"


def content_disposition(filename: str, media: str) -> str:
    """``inline`` for the media types in ``INLINE_TYPES``, ``attachment`` for the rest, with the name
    as RFC 6266 gives it: an ASCII fallback, and the real name in ``filename*``."""
    kind = "inline" if media in INLINE_TYPES else "attachment"
    name = filename.replace("\r", "").replace("\n", "").strip() or "file"
    fallback = _UNSAFE_IN_QUOTES.sub("_", name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def stored_file(services: Services, attachment_id: int, attachment: Attachment | None) -> File:
    """The response serving a stored attachment's bytes (404 problem when there are none)."""
    missing = NotFoundError(
        Reason(N_("attachment %(id)s is not stored here"), {"id": str(attachment_id)}),
        type_slug="attachment-not-found",
    )
    if attachment is None or attachment.status != "stored" or not attachment.storage_key:
        raise missing
    try:
        path = services.files.path(attachment.storage_key)
    except UnknownFileError:
        raise missing from None
    if not path.is_file():
        raise missing
    media = media_type(attachment.content_type)
    return File(
        path=path,
        media_type=media,
        # lower case: the response sets its own disposition unless this exact key is present
        headers={**FILE_HEADERS, "content-disposition": content_disposition(attachment.filename, media)},
    )


@get(
    f"{ATTACHMENTS_PATH}/{{attachment_id:int}}",
    guards=[requires_agent],
    tags=["threads"],
    summary="The bytes of a stored attachment (images, audio and video inline; anything else as a download)",
)
async def download_attachment(
    db_session: NamedDependency[AsyncSession],
    services: NamedDependency[Services],
    attachment_id: FromPath[int],
) -> File:
    return stored_file(services, attachment_id, await db_session.get(Attachment, attachment_id))


route_handlers = [download_attachment]
