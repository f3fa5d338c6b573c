"""The structs that cross the border between channel adapters and the app.

Adapters turn platform bytes into these and never import ``app`` or ``litestar``; the app's ingest
action takes them and never looks at platform payloads. Plain frozen dataclasses keep both sides
honest and every adapter testable on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ClaimKind = Literal["email", "phone"]
Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class ContactClaim:
    """An email address or phone number the sender is said to own.

    ``verified`` means the source vouches for it (the platform confirmed the number, the site's
    server signed it, an authenticated API client stated it). Only verified claims link contacts
    automatically; unverified ones can only produce a merge suggestion.
    """

    kind: ClaimKind
    value: str
    verified: bool = False


@dataclass(frozen=True, slots=True)
class InboundSender:
    """Who sent an inbound message, as the channel knows them.

    ``(channel, external_id)`` is the identity key; adapters scope ids that are only unique per
    account (Messenger PSIDs, custom-channel ids) by prefixing the account, so the key is global.
    """

    channel: str
    external_id: str
    name: str | None = None
    claims: tuple[ContactClaim, ...] = ()
    verified: bool = True
    """Whether the platform authenticated this identity (a Telegram user id is; a From: header isn't)."""


@dataclass(frozen=True, slots=True)
class InboundAttachment:
    """A file that came with a message: its bytes, or where the platform offers it.

    ``source`` says how to fetch the bytes later (a Telegram ``file_id``, a Meta CDN URL); the app
    stores such an attachment as pending and a job downloads it. ``url`` without a ``source`` is a
    link kept as it is (a shared web page, a map), with nothing to download. ``size`` is what the
    platform announced (0 when it did not), so a file over the cap is refused before any download.
    """

    filename: str
    content_type: str = "application/octet-stream"
    size: int = 0
    url: str | None = None
    data: bytes | None = None
    source: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message from a customer, parsed from a platform payload.

    ``external_id`` is the dedupe key within ``account_id`` (a Telegram ``update_id``, a Messenger
    ``mid``, an email ``Message-ID``, a custom source's id): the same pair stored twice is one message.
    """

    channel: str
    account_id: str
    external_id: str
    sender: InboundSender
    text: str
    sent_at: datetime | None = None
    html: str | None = None
    subject: str | None = None
    attachments: tuple[InboundAttachment, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InboundEdit:
    """A customer changed the text of a message they sent earlier.

    The edited message is found within the sender's messages on ``account_id``: by its
    ``original_external_id`` where the platform's message id is our dedupe key (Messenger's
    ``mid``), else by the values ``original_meta`` names in its stored metadata (Telegram's chat
    and message ids, ``{"telegram": {"chat_id": …, "message_id": …}}``). ``edit_key`` identifies
    this edit (a retried delivery of it changes nothing). ``as_message`` is what to store when the
    original is unknown (sent before the account was connected): the new text as a message of
    its own, marked edited.
    """

    channel: str
    account_id: str
    edit_key: str
    sender: InboundSender
    text: str
    as_message: InboundMessage
    edited_at: datetime | None = None
    original_external_id: str | None = None
    original_meta: Mapping[str, Mapping[str, int | str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """What an adapter needs to act for one channel account: its settings and decrypted secrets."""

    id: str
    channel: str
    name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboundAttachment:
    """A file that goes with a reply, its bytes read from storage by the delivery job."""

    filename: str
    content_type: str
    size: int
    data: bytes


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A stored reply on its way out. ``idempotency_key`` lets receivers drop a redelivery."""

    message_id: int
    thread_id: int
    recipient_id: str
    """The recipient's identity external id on this channel (chat id, PSID, address, callback contact id)."""
    text: str
    author_name: str | None = None
    subject: str | None = None
    html: str | None = None
    idempotency_key: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """The message's stored ``meta``; ``sent_parts`` (see ``integrations.base.parts_sent``) lists the
    platform ids of the parts an earlier attempt already delivered."""
    attachments: tuple[OutboundAttachment, ...] = ()
    last_inbound_at: datetime | None = None
    """When the recipient last wrote to us through this identity (the ``DeliveryContext`` time):
    channels with reply windows (Messenger's 24 hours / 7 days) decide at send time how to send."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the platform told us after accepting a message."""

    external_id: str | None = None
    status: Literal["sent", "delivered"] = "sent"
    part_ids: tuple[str, ...] = ()
    """The platform id of every message the reply went out as (a long text, text and files), in
    order, including parts an earlier attempt sent."""
