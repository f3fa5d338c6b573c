"""Parse a Telegram webhook body (one ``Update``) into an ``InboundMessage`` (an ``InboundEdit``
for an ``edited_message``).

The platform's JSON is read with python-telegram-bot's ``Update.de_json`` (no ``Bot`` is needed to
parse, so no token and no network), then mapped to the inbox's structs:

- the message's ``external_id`` is ``"<bot id>:<update_id>"``, the dedupe key of channels.md §1.1
  (``update_id`` is a per-bot counter that may restart at a random value, so the bot is part of it);
- the sender is the Telegram user (``from.id``, globally unique across bots, so not scoped by the
  account) with the name they show; Telegram authenticated them, so the identity is verified;
- text or caption is the message text; files become attachments carrying what Telegram told us
  about them (name, type, size) and, as their ``source``, the ``file_id`` the app's fetch job hands
  to ``getFile`` (the ids are also kept in the message's metadata); a location becomes a text line; a contact the user shares about
  themselves (``contact.user_id == from.id``) is a verified phone claim.

A ``callback_query`` (the customer pressed one of the bot's inline buttons) is a message too: its
text is the pressed button's label, read from the keyboard of the message the button is on (which
the update carries), its ``metadata["button_payload"]`` the button's ``callback_data``, and its
``external_id`` ``"cb:<callback query id>"`` (Telegram's ids for callback queries are unique, and a
retried update carries the same one). The caller answers the query (``answerCallbackQuery``).

Anything else is acknowledged and ignored (:class:`IgnoredUpdate` says why): group chats, presses
on inline-mode messages, service messages, live-location ticks. A body that is JSON but not an update Telegram's
own library can read raises :class:`UnreadableUpdateError`; the webhook answers 2xx for it anyway,
because Telegram would otherwise redeliver the same poison update until it gives up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from telegram import CallbackQuery, Contact, Location, Message, Update, User, Venue

from integrations.buttons import BUTTON_PAYLOAD
from integrations.identifiers import InvalidIdentifierError, normalize_phone
from integrations.types import (
    ContactClaim,
    InboundAttachment,
    InboundEdit,
    InboundMessage,
    InboundSender,
)

CHANNEL = "telegram"
EARLIEST_SENT_AT = datetime(2000, 1, 1, tzinfo=UTC)
UNKNOWN_BOT_ID = "0"
"""Stands for the bot in dedupe keys when the account has no token stored (bot ids are positive)."""


class UpdateJSONError(ValueError):
    """The body is not a JSON object, so it is not a Telegram update at all (the webhook says 400)."""


class UnreadableUpdateError(ValueError):
    """The body is a JSON object but not an update we can read.

    ``update_id`` is the only thing worth logging about it (``None`` when even that is missing);
    ``error`` names the failure without repeating any of the customer's content.
    """

    def __init__(self, update_id: int | None, error: str) -> None:
        super().__init__(f"update {update_id}: {error}")
        self.update_id = update_id
        self.error = error


@dataclass(frozen=True, slots=True)
class IgnoredUpdate:
    """An update that is no customer message for the inbox; ``reason`` is for the log line."""

    update_id: int
    reason: str


def bot_id_from_token(token: str | None) -> str | None:
    """The bot's numeric id: the part of a bot token before the colon (``123456:ABC…`` → ``123456``)."""
    if not token:
        return None
    head, sep, _ = token.partition(":")
    return head if sep and head.isdigit() else None


def parse_update(
    account_id: str,
    body: bytes,
    *,
    bot_id: str | None = None,
    default_region: str = "NL",
    max_text_chars: int = 65_536,
) -> InboundMessage | InboundEdit | IgnoredUpdate:
    """Read one webhook body; raise ``UpdateJSONError`` or ``UnreadableUpdateError`` when it is not one.

    ``bot_id`` scopes the dedupe key (see the module docstring); ``default_region`` reads a shared
    phone number written without a country code.
    """
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise UpdateJSONError(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise UpdateJSONError("body is nested too deeply") from None
    if not isinstance(data, dict):
        raise UpdateJSONError("body is not a JSON object")
    raw_id = data.get("update_id")
    update_id = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
    if update_id is None:
        raise UnreadableUpdateError(None, "no integer update_id")
    try:
        update = Update.de_json(data, None)
        return _to_inbound(account_id, update, bot_id or UNKNOWN_BOT_ID, default_region, max_text_chars)
    except UnreadableUpdateError:
        raise
    except Exception as exc:  # PTB raises TypeError/KeyError/ValueError…; none may become a 500
        raise UnreadableUpdateError(update_id, type(exc).__name__) from None


def _to_inbound(
    account_id: str, update: Update, bot_id: str, default_region: str, max_text_chars: int
) -> InboundMessage | InboundEdit | IgnoredUpdate:
    update_id = update.update_id
    if update.callback_query is not None:
        return _button_press(account_id, update_id, update.callback_query, max_text_chars)
    message = update.message or update.edited_message
    if message is None:
        kind = next((key for key in _UPDATE_KINDS if getattr(update, key, None) is not None), "unknown")
        return IgnoredUpdate(update_id, f"{kind} update")
    edited = update.message is None
    if message.chat.type != "private":
        return IgnoredUpdate(update_id, f"{message.chat.type} chat")
    user = message.from_user
    if user is None or user.is_bot:
        return IgnoredUpdate(update_id, "not sent by a person")
    if edited and message.location is not None:
        return IgnoredUpdate(update_id, "live location update")

    text = message.text or message.caption or ""
    attachments, files = _attachments(message)
    telegram_meta: dict[str, Any] = {
        "update_id": update_id,
        "message_id": message.message_id,
        "chat_id": message.chat.id,
    }
    if user.username:
        telegram_meta["username"] = user.username
    if message.reply_to_message is not None:
        telegram_meta["reply_to_message_id"] = message.reply_to_message.message_id
    if files:
        telegram_meta["files"] = files

    claims: tuple[ContactClaim, ...] = ()
    if message.venue is not None:
        text = _join(text, _venue_text(message.venue))
        telegram_meta["location"] = _location_meta(message.venue.location)
    elif message.location is not None:
        text = _join(text, _location_text(message.location))
        telegram_meta["location"] = _location_meta(message.location)
    if message.contact is not None:
        phone = _phone(message.contact.phone_number, default_region)
        text = _join(text, _contact_text(message.contact, phone))
        own = message.contact.user_id is not None and message.contact.user_id == user.id
        telegram_meta["contact"] = {
            "phone": phone or message.contact.phone_number,
            "user_id": message.contact.user_id,
            "own": own,
        }
        if own and phone:
            claims = (ContactClaim("phone", phone, verified=True),)
    if message.sticker is not None and not text:
        text = message.sticker.emoji or ""

    if not text and not attachments:
        return IgnoredUpdate(update_id, "no content the inbox shows")
    text = _clean(text)
    if len(text) > max_text_chars:
        raise UnreadableUpdateError(update_id, f"text longer than {max_text_chars} characters")

    metadata: dict[str, Any] = {"telegram": telegram_meta}
    if edited:
        metadata["edited"] = True
        if message.edit_date is not None:
            telegram_meta["edit_date"] = message.edit_date.isoformat()
    sent_at: datetime | None = (message.edit_date if edited else None) or message.date
    if sent_at is not None and sent_at < EARLIEST_SENT_AT:  # a clock that cannot be right: use ours
        sent_at = None
    inbound = InboundMessage(
        channel=CHANNEL,
        account_id=account_id,
        external_id=f"{bot_id}:{update_id}",
        sender=InboundSender(
            channel=CHANNEL,
            external_id=str(user.id),
            name=_name(user),
            claims=claims,
            verified=True,
        ),
        text=text,
        sent_at=sent_at,
        attachments=attachments,
        metadata=metadata,
    )
    if not edited:
        return inbound
    # Telegram numbers messages per chat: the chat and its message id name the one edited.
    return InboundEdit(
        channel=CHANNEL,
        account_id=account_id,
        edit_key=inbound.external_id,
        sender=inbound.sender,
        text=text,
        as_message=inbound,
        edited_at=sent_at,
        original_meta={"telegram": {"chat_id": message.chat.id, "message_id": message.message_id}},
    )


CALLBACK_PREFIX = "cb:"
"""Starts the ``external_id`` of a button press: ``cb:<callback query id>``."""


def callback_query_id(message: InboundMessage) -> str | None:
    """The id of the callback query a parsed button press answers (``None`` for other messages)."""
    if not message.external_id.startswith(CALLBACK_PREFIX):
        return None
    telegram = message.metadata.get("telegram")
    value = telegram.get("callback_query_id") if isinstance(telegram, Mapping) else None
    return value if isinstance(value, str) and value else None


def _button_press(
    account_id: str, update_id: int, query: CallbackQuery, max_text_chars: int
) -> InboundMessage | IgnoredUpdate:
    """A press on an inline button under one of the bot's messages in a private chat."""
    user = query.from_user
    if user.is_bot:
        return IgnoredUpdate(update_id, "button press not made by a person")
    if query.data is None:
        return IgnoredUpdate(update_id, "button press without callback data (a game)")
    message = query.message  # absent for inline-mode messages: nothing in a chat with the bot
    if message is None:
        return IgnoredUpdate(update_id, "button press on an inline-mode message")
    if message.chat.type != "private":
        return IgnoredUpdate(update_id, f"button press in a {message.chat.type} chat")
    payload = _clean(query.data)
    # The label the customer saw: the button with this data in the keyboard the update carries
    # (an inaccessible message, older than Telegram keeps, carries none: the payload stands in).
    label = None
    if isinstance(message, Message) and message.reply_markup is not None:
        for row in message.reply_markup.inline_keyboard:
            for button in row:
                if button.callback_data == query.data and button.text.strip():
                    label = button.text.strip()
                    break
            if label is not None:
                break
    text = _clean(label or payload)[:max_text_chars]
    telegram_meta: dict[str, Any] = {
        "update_id": update_id,
        "callback_query_id": query.id,
        "message_id": message.message_id,
        "chat_id": message.chat.id,
    }
    if user.username:
        telegram_meta["username"] = user.username
    return InboundMessage(
        channel=CHANNEL,
        account_id=account_id,
        external_id=f"{CALLBACK_PREFIX}{query.id}",
        sender=InboundSender(channel=CHANNEL, external_id=str(user.id), name=_name(user), verified=True),
        text=text,
        sent_at=None,  # a callback query carries no time; the moment it arrives is when it was pressed
        metadata={"telegram": telegram_meta, BUTTON_PAYLOAD: payload},
    )


_UPDATE_KINDS = (
    "callback_query",
    "channel_post",
    "edited_channel_post",
    "inline_query",
    "chosen_inline_result",
    "shipping_query",
    "pre_checkout_query",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "message_reaction",
    "message_reaction_count",
    "business_message",
    "edited_business_message",
    "business_connection",
    "deleted_business_messages",
    "chat_boost",
    "removed_chat_boost",
    "purchased_paid_media",
)


def _attachments(message: Message) -> tuple[tuple[InboundAttachment, ...], list[dict[str, Any]]]:
    """The message's file as an attachment, and its Telegram ids for the later download.

    A message carries at most one file. For a photo the largest rendition is the one kept (the
    others are thumbnails of it); Telegram reports no name or type for photos, voice notes and
    round videos, so those get a fixed one.
    """
    found: tuple[str, Any, str, str] | None = None  # kind, file object, filename, content type
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        found = ("photo", largest, "photo.jpg", "image/jpeg")
    elif message.animation is not None:  # comes with a `document` copy; the animation is the file
        item = message.animation
        found = ("animation", item, item.file_name or "animation.mp4", item.mime_type or "video/mp4")
    elif message.document is not None:
        item_doc = message.document
        found = (
            "document",
            item_doc,
            item_doc.file_name or "document",
            item_doc.mime_type or "application/octet-stream",
        )
    elif message.voice is not None:
        found = ("voice", message.voice, "voice.ogg", message.voice.mime_type or "audio/ogg")
    elif message.audio is not None:
        audio = message.audio
        found = ("audio", audio, audio.file_name or "audio.mp3", audio.mime_type or "audio/mpeg")
    elif message.video is not None:
        video = message.video
        found = ("video", video, video.file_name or "video.mp4", video.mime_type or "video/mp4")
    elif message.video_note is not None:
        found = ("video_note", message.video_note, "video-note.mp4", "video/mp4")
    elif message.sticker is not None:
        sticker = message.sticker
        if sticker.is_video:
            found = ("sticker", sticker, "sticker.webm", "video/webm")
        elif sticker.is_animated:
            found = ("sticker", sticker, "sticker.tgs", "application/x-tgsticker")
        else:
            found = ("sticker", sticker, "sticker.webp", "image/webp")
    if found is None:
        return (), []
    kind, item, filename, content_type = found
    size = int(item.file_size or 0)
    attachment = InboundAttachment(
        filename=_clean(filename)[:255] or kind,
        content_type=content_type[:255],
        size=size,
        source={"telegram_file_id": item.file_id, "file_unique_id": item.file_unique_id},
    )
    file_meta: dict[str, Any] = {
        "kind": kind,
        "file_id": item.file_id,
        "file_unique_id": item.file_unique_id,
        "file_size": size or None,
    }
    return (attachment,), [file_meta]


def _name(user: User) -> str | None:
    """What the user calls themselves on Telegram; their @username when that is all there is."""
    full = _clean(" ".join(part for part in (user.first_name, user.last_name) if part)).strip()
    if full:
        return full[:200]
    return f"@{user.username}" if user.username else None


def _phone(raw: str, default_region: str) -> str | None:
    try:
        return normalize_phone(raw, default_region)
    except InvalidIdentifierError:
        return None


def _contact_text(contact: Contact, phone: str | None) -> str:
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part).strip()
    return "📇 " + ", ".join(part for part in (name, phone or contact.phone_number) if part)


def _location_text(location: Location) -> str:
    return f"📍 {location.latitude:.6f}, {location.longitude:.6f}"


def _venue_text(venue: Venue) -> str:
    details = ", ".join(part for part in (venue.title, venue.address) if part)
    return _location_text(venue.location) + (f" · {details}" if details else "")


def _location_meta(location: Location) -> Mapping[str, float]:
    return {"latitude": location.latitude, "longitude": location.longitude}


def _join(text: str, line: str) -> str:
    return f"{text}\n{line}" if text else line


def _clean(text: str) -> str:
    """NUL cannot be stored (PostgreSQL text refuses it); keep the message, mark the character."""
    return text.replace("\x00", "\ufffd")
