"""Parse a custom-channel inbound body into an ``InboundMessage``."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from integrations.identifiers import InvalidIdentifierError, normalize_email, normalize_phone
from integrations.types import ContactClaim, InboundMessage, InboundSender

CHANNEL = "api"
EARLIEST_SENT_AT = datetime(2000, 1, 1, tzinfo=UTC)


class InboundPayloadError(ValueError):
    """The body is not a valid custom-channel message; the text says which field and why."""


class _Contact(msgspec.Struct, forbid_unknown_fields=False):
    external_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class _Inbound(msgspec.Struct, forbid_unknown_fields=False):
    external_id: str
    contact: _Contact
    text: str
    sent_at: datetime | None = None


def parse_inbound(
    account_id: str, body: bytes, *, default_region: str = "NL", max_text_chars: int = 65_536
) -> InboundMessage:
    """Validate ``body`` and build the message; raise ``InboundPayloadError`` with a reason.

    Contact ids are scoped by the account (``<account>:<id>``) because two sources may both have a
    customer ``42``. Email and phone are vouched for by the authenticated source, so they are
    verified claims and link the customer to a contact that already has them.
    """
    try:
        payload = msgspec.json.decode(body, type=_Inbound)
    except msgspec.ValidationError as exc:
        raise InboundPayloadError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InboundPayloadError(f"body is not valid JSON: {exc}") from None

    if not payload.external_id.strip() or len(payload.external_id) > 255:
        raise InboundPayloadError("external_id must be 1 to 255 characters")
    if not payload.contact.external_id.strip() or len(payload.contact.external_id) > 200:
        raise InboundPayloadError("contact.external_id must be 1 to 200 characters")
    if not payload.text.strip():
        raise InboundPayloadError("text must not be empty")
    if len(payload.text) > max_text_chars:
        raise InboundPayloadError(f"text is longer than {max_text_chars} characters")
    if payload.contact.name is not None and len(payload.contact.name) > 200:
        raise InboundPayloadError("contact.name is longer than 200 characters")
    for field, value in (
        ("external_id", payload.external_id),
        ("contact.external_id", payload.contact.external_id),
        ("contact.name", payload.contact.name or ""),
        ("text", payload.text),
    ):
        if "\x00" in value:
            raise InboundPayloadError(f"{field} contains a NUL character")

    claims: list[ContactClaim] = []
    if payload.contact.email:
        try:
            claims.append(ContactClaim("email", normalize_email(payload.contact.email), verified=True))
        except InvalidIdentifierError as exc:
            raise InboundPayloadError(f"contact.email: {exc}") from None
    if payload.contact.phone:
        try:
            phone = normalize_phone(payload.contact.phone, default_region)
        except InvalidIdentifierError as exc:
            raise InboundPayloadError(f"contact.phone: {exc}") from None
        claims.append(ContactClaim("phone", phone, verified=True))

    sent_at = payload.sent_at
    if sent_at is not None:
        if sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=UTC)
        try:
            sent_at = sent_at.astimezone(UTC)
        except OverflowError:
            raise InboundPayloadError("sent_at is out of range") from None
        if not sent_at >= EARLIEST_SENT_AT:
            raise InboundPayloadError("sent_at is before 2000")

    return InboundMessage(
        channel=CHANNEL,
        account_id=account_id,
        external_id=payload.external_id,
        sender=InboundSender(
            channel=CHANNEL,
            external_id=f"{account_id}:{payload.contact.external_id}",
            name=(payload.contact.name or "").strip() or None,
            claims=tuple(claims),
        ),
        text=payload.text,
        sent_at=sent_at,
    )
