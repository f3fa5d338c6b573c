"""A visitor's message from the widget, checked and turned into an ``InboundMessage``."""

from __future__ import annotations

import re

from integrations.buttons import BUTTON_PAYLOAD
from integrations.identifiers import InvalidIdentifierError, normalize_email
from integrations.types import ContactClaim, InboundAttachment, InboundMessage, InboundSender

CHANNEL = "webchat"
MAX_NAME_CHARS = 200
MAX_BUTTON_PAYLOAD_CHARS = 200
"""The longest payload a pressed button may carry (the bot's are far shorter: ``bot:rule:<id>``)."""
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
ALLOWED_FILE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf")
"""What a visitor may attach: pictures and PDFs, the files people send support (screenshots,
invoices). Anything else is refused: a widget is not a file drop for strangers."""


class VisitorMessageError(ValueError):
    """The visitor's message cannot be accepted; the text says why."""


def clean_name(name: str | None) -> str | None:
    """A visitor's name as given (one line, trimmed, at most 200 characters), or ``None``."""
    if name is None:
        return None
    name = " ".join(name.split())
    if "\x00" in name:
        raise VisitorMessageError("a name cannot contain NUL characters")
    if len(name) > MAX_NAME_CHARS:
        raise VisitorMessageError(f"a name may be at most {MAX_NAME_CHARS} characters")
    return name or None


def clean_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    try:
        return normalize_email(email)
    except InvalidIdentifierError as exc:
        raise VisitorMessageError(str(exc)) from None


def visitor_message(
    *,
    account_id: str,
    visitor_external_id: str,
    verified: bool,
    client_id: str,
    text: str,
    name: str | None = None,
    email: str | None = None,
    files: tuple[InboundAttachment, ...] = (),
    max_text_chars: int = 65_536,
    button_payload: str | None = None,
) -> InboundMessage:
    """Check and build one visitor message.

    ``visitor_external_id`` is the visitor's webchat identity (``<site>:v:<random>`` or
    ``<site>:u:<user id>``); ``verified`` says the site vouched for the user id. An email address
    the visitor typed is never verified: it may only suggest a merge, never open someone else's
    history to them. ``button_payload`` is set when the visitor pressed one of the bot's buttons
    (``text`` is then its label); it is kept as ``metadata["button_payload"]``.
    """
    if not _CLIENT_ID.match(client_id or ""):
        raise VisitorMessageError("client_id must be 8 to 64 letters, digits, '-' or '_'")
    text = (text or "").replace("\r\n", "\n")
    if not text.strip() and not files:
        raise VisitorMessageError("a message needs text or a file")
    if len(text) > max_text_chars:
        raise VisitorMessageError(f"a message may be at most {max_text_chars} characters")
    if "\x00" in text:
        # PostgreSQL cannot store them; SQLite could. Refused alike, whichever database is behind.
        raise VisitorMessageError("a message cannot contain NUL characters")
    for item in files:
        if item.content_type not in ALLOWED_FILE_TYPES:
            raise VisitorMessageError(f"{item.filename}: only pictures and PDF files can be sent")
    if button_payload is not None:
        if not button_payload or len(button_payload) > MAX_BUTTON_PAYLOAD_CHARS:
            raise VisitorMessageError(f"button_payload must be 1 to {MAX_BUTTON_PAYLOAD_CHARS} characters")
        if "\x00" in button_payload:
            raise VisitorMessageError("button_payload cannot contain NUL characters")
    address = clean_email(email)
    claims = (ContactClaim("email", address, verified=False),) if address else ()
    metadata: dict[str, object] = {"webchat": {"client_id": client_id}}
    if button_payload is not None:
        metadata[BUTTON_PAYLOAD] = button_payload
    return InboundMessage(
        channel=CHANNEL,
        account_id=account_id,
        external_id=f"{visitor_external_id}:{client_id}",
        sender=InboundSender(
            channel=CHANNEL,
            external_id=visitor_external_id,
            name=clean_name(name),
            claims=claims,
            verified=verified,
        ),
        text=text,
        attachments=files,
        metadata=metadata,
    )
