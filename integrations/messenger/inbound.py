"""Parse a Messenger webhook body (Meta Graph ``object: "page"``) into ``InboundMessage`` values.

Pure functions, bytes in and structs out: the route verifies ``X-Hub-Signature-256`` over the raw
body first, then calls :func:`parse_webhook`. Meta batches: every ``entry`` and every ``messaging``
item is read. What is not a customer's message is not lost either: delivery and read watermarks
come back as :class:`Receipt` values, echoes of the page's own sends and kinds we do not handle are
counted as ignored, so the caller can acknowledge the whole batch (Meta retries anything but 200).

A tapped quick reply (``message.quick_reply.payload``, its title as the text) and a postback (a
button, Get Started, the persistent menu: ``postback.title``/``payload``) carry their payload as
``metadata["button_payload"]``, where the bot reads which button was pressed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from integrations.buttons import BUTTON_PAYLOAD
from integrations.types import InboundAttachment, InboundEdit, InboundMessage, InboundSender

CHANNEL = "messenger"
SIGNATURE_HEADER = "X-Hub-Signature-256"
_MAX_ID_CHARS = 255
_MAX_URL_CHARS = 2000
_MAX_PAYLOAD_CHARS = 2000  # Meta caps developer payloads at 1,000 characters
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_SURROGATE = re.compile("[\ud800-\udfff]")


class WebhookBodyError(ValueError):
    """The body is not JSON at all; the text says why (the route answers 400)."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery or read watermark: every message the page sent to ``psid`` up to ``watermark``
    has reached (or been read by) the customer. ``mids`` lists some of them when Meta says so."""

    kind: Literal["delivered", "read"]
    page_id: str
    psid: str
    sender_external_id: str
    watermark: datetime
    mids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParsedWebhook:
    """Everything one webhook body carried, in the order Meta sent it."""

    messages: tuple[InboundMessage, ...] = ()
    receipts: tuple[Receipt, ...] = ()
    ignored: int = 0
    """Items we acknowledge and drop: echoes of the page's own messages, other kinds of events."""
    edits: tuple[InboundEdit, ...] = ()
    """``message_edits``: a customer changed the text of a message they sent."""


def signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (``sha256=<hex>``) is the HMAC-SHA256 of the raw ``body`` under the app secret.

    Meta signs the bytes it sends (unicode escaped as ``\\u00e4``), so only the raw body can be
    checked; re-serialised JSON gives another digest. Compared in constant time.
    """
    if not app_secret or not header:
        return False
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.strip().lower().encode(), expected.encode())


def sender_key(page_id: str, psid: str) -> str:
    """The identity external id of a customer: PSIDs are page-scoped, so the page comes first."""
    return f"{page_id}:{psid}"


def parse_webhook(account_id: str, body: bytes, *, max_text_chars: int = 65_536) -> ParsedWebhook:
    """Read a webhook body; raise ``WebhookBodyError`` only when it is not JSON.

    A JSON body with an unexpected shape (another ``object``, missing fields) is an acknowledged
    no-op rather than an error: it was signed by Meta, and an error would only make Meta retry it.
    Both the production envelope (``{"object": "page", "entry": [...]}``) and the dashboard's test
    notification (``{"field": ..., "value": {...}}``) are understood.
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookBodyError(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise WebhookBodyError("body is not valid JSON: nested too deeply") from None
    messages: list[InboundMessage] = []
    receipts: list[Receipt] = []
    edits: list[InboundEdit] = []
    ignored = 0
    for page_id, event in _events(payload):
        item = _event(account_id, page_id, event, max_text_chars)
        if isinstance(item, InboundMessage):
            messages.append(item)
        elif isinstance(item, Receipt):
            receipts.append(item)
        elif isinstance(item, InboundEdit):
            edits.append(item)
        else:
            ignored += 1
    return ParsedWebhook(tuple(messages), tuple(receipts), ignored, tuple(edits))


def _events(payload: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """Every messaging event with the id of the page it belongs to."""
    if not isinstance(payload, dict):
        return []
    if "field" in payload and isinstance(payload.get("value"), dict):  # dashboard test notification
        value = payload["value"]
        return [(_page_of(value, ""), value)]
    if payload.get("object") != "page" or not isinstance(payload.get("entry"), list):
        return []
    events: list[tuple[str, Mapping[str, Any]]] = []
    for entry in payload["entry"]:
        if not isinstance(entry, dict):
            continue
        entry_page = _text(entry.get("id"))
        items = entry.get("messaging")
        if not isinstance(items, list):
            continue  # ``standby`` (handover protocol) and ``changes`` are not ours to answer
        events.extend((_page_of(event, entry_page), event) for event in items if isinstance(event, dict))
    return events


def _page_of(event: Mapping[str, Any], fallback: str) -> str:
    """The page of an event: the recipient of a customer's message (the entry id otherwise)."""
    recipient = event.get("recipient")
    page = _text(recipient.get("id")) if isinstance(recipient, dict) else ""
    return page or fallback


def _event(
    account_id: str, page_id: str, event: Mapping[str, Any], max_text_chars: int
) -> InboundMessage | InboundEdit | Receipt | None:
    sender = event.get("sender")
    psid = _text(sender.get("id")) if isinstance(sender, dict) else ""
    if not psid or not page_id:
        return None  # e.g. a checkbox plugin's ``user_ref``: nobody we can answer
    sender_id = sender_key(page_id, psid)
    if len(sender_id) > _MAX_ID_CHARS:
        return None
    sent_at = _time(event.get("timestamp"))
    for kind, field in (("delivered", "delivery"), ("read", "read")):
        receipt = event.get(field)
        if isinstance(receipt, dict):
            watermark = _time(receipt.get("watermark"))
            if watermark is None:
                return None
            mids = receipt.get("mids")
            return Receipt(
                kind="delivered" if kind == "delivered" else "read",
                page_id=page_id,
                psid=psid,
                sender_external_id=sender_id,
                watermark=watermark,
                mids=tuple(_text(m) for m in mids if _text(m)) if isinstance(mids, list) else (),
            )
    who = InboundSender(channel=CHANNEL, external_id=sender_id)
    edit = event.get("message_edit")
    if isinstance(edit, dict):
        return _edit(account_id, page_id, psid, who, edit, sent_at, max_text_chars)
    message = event.get("message")
    if isinstance(message, dict):
        if message.get("is_echo"):
            return None  # the page's own message coming back: never a customer's
        mid = _text(message.get("mid"))
        if not mid or len(mid) > _MAX_ID_CHARS:
            return None
        metadata: dict[str, Any] = {"page_id": page_id, "psid": psid}
        quick_reply = message.get("quick_reply")
        if isinstance(quick_reply, dict):
            metadata["quick_reply_payload"] = _clean(quick_reply.get("payload"), _MAX_PAYLOAD_CHARS)
            if metadata["quick_reply_payload"]:
                metadata[BUTTON_PAYLOAD] = metadata["quick_reply_payload"]
        reply_to = message.get("reply_to")
        if isinstance(reply_to, dict) and _text(reply_to.get("mid")):
            metadata["reply_to_mid"] = _text(reply_to.get("mid"))
        attachments = _attachments(message.get("attachments"))
        if attachments:
            metadata["attachment_types"] = [kind for kind, _ in attachments]
        return InboundMessage(
            channel=CHANNEL,
            account_id=account_id,
            external_id=mid,
            sender=who,
            text=_clean(message.get("text"), max_text_chars),
            sent_at=sent_at,
            attachments=tuple(item for _, item in attachments),
            metadata=metadata,
        )
    postback = event.get("postback")
    if isinstance(postback, dict):
        payload = _clean(postback.get("payload"), _MAX_PAYLOAD_CHARS)
        title = _clean(postback.get("title"), max_text_chars)
        mid = _text(postback.get("mid"))
        if not mid or len(mid) > _MAX_ID_CHARS:
            # Captures before Graph v11 carry no mid: the same tap retried has the same sender,
            # time and payload, so their digest is its stable key.
            stamp = json.dumps(event.get("timestamp"), default=str)
            digest = hashlib.sha256(f"{sender_id}\x00{stamp}\x00{payload}".encode()).hexdigest()
            mid = f"postback:{digest[:40]}"
        metadata = {"page_id": page_id, "psid": psid, "postback_payload": payload}
        if payload:
            metadata[BUTTON_PAYLOAD] = payload
        referral = postback.get("referral")
        if isinstance(referral, dict) and _text(referral.get("ref")):
            metadata["referral_ref"] = _clean(referral.get("ref"), _MAX_PAYLOAD_CHARS)
        return InboundMessage(
            channel=CHANNEL,
            account_id=account_id,
            external_id=mid,
            sender=who,
            text=title or payload,
            sent_at=sent_at,
            metadata=metadata,
        )
    return None


def _edit(
    account_id: str,
    page_id: str,
    psid: str,
    who: InboundSender,
    edit: Mapping[str, Any],
    sent_at: datetime | None,
    max_text_chars: int,
) -> InboundEdit | None:
    """``message_edit`` ``{mid, text, num_edit}``: the mid is the edited message's (our dedupe key);
    ``num_edit`` counts the edits, so ``mid`` and it together name this one."""
    mid = _text(edit.get("mid"))
    count = edit.get("num_edit")
    number = count if isinstance(count, int) and not isinstance(count, bool) else 0
    key = f"{mid}#edit-{number}"
    if not mid or len(key) > _MAX_ID_CHARS:
        return None
    text = _clean(edit.get("text"), max_text_chars)
    metadata: dict[str, Any] = {"page_id": page_id, "psid": psid, "edited_mid": mid, "edited": True}
    as_message = InboundMessage(
        channel=CHANNEL,
        account_id=account_id,
        external_id=key,
        sender=who,
        text=text,
        sent_at=sent_at,
        metadata=metadata,
    )
    return InboundEdit(
        channel=CHANNEL,
        account_id=account_id,
        edit_key=key,
        sender=who,
        text=text,
        as_message=as_message,
        edited_at=sent_at,
        original_external_id=mid,
    )


_FILE_KINDS = frozenset({"image", "video", "audio", "file"})
"""Attachment types whose URL is a file on Meta's CDN; others (``fallback`` for a shared link,
``location``, templates, reels) are links to keep, not bytes to fetch."""


def _attachments(raw: Any) -> list[tuple[str, InboundAttachment]]:
    """Attachment kinds and where to fetch them (Meta's URLs are signed and expire: fetch soon)."""
    if not isinstance(raw, list):
        return []
    found: list[tuple[str, InboundAttachment]] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        kind = _text(item.get("type"))[:40] or "file"
        payload = item.get("payload")
        url = _text(payload.get("url")) if isinstance(payload, dict) else ""
        if not url.startswith(("https://", "http://")) or len(url) > _MAX_URL_CHARS:
            url = ""
        name = urlsplit(url).path.rsplit("/", 1)[-1] if url else ""
        filename = (name or kind)[:255]
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        source = {"url": url} if url and kind in _FILE_KINDS else {}
        found.append(
            (
                kind,
                InboundAttachment(
                    filename=filename, content_type=content_type, url=url or None, source=source
                ),
            )
        )
    return found


def _time(raw: Any) -> datetime | None:
    """A Meta timestamp: milliseconds in production, seconds as a string in test notifications."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        raw = int(raw.strip())
    if not isinstance(raw, int | float):
        return None
    try:
        seconds = raw / 1000 if raw > 100_000_000_000 else raw
        when = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return when if when >= _EARLIEST else None


def _text(raw: Any) -> str:
    """Ids arrive as strings or (in old captures) numbers; anything else is absent, and so is an id
    the database could not store (a NUL, a lone surrogate): it could never be matched again."""
    if isinstance(raw, bool):
        return ""
    if isinstance(raw, str | int):
        text = str(raw).strip()
        return text if _storable(text) == text else ""
    return ""


def _storable(text: str) -> str:
    """``text`` without what PostgreSQL refuses in text and JSON: NUL, and unpaired surrogates
    (JSON may escape them, ``"\\ud800"``; they become U+FFFD)."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))


def _clean(raw: Any, max_chars: int) -> str:
    """Text as stored: no NUL (the database refuses it), at most ``max_chars`` characters."""
    if not isinstance(raw, str):
        return ""
    return _storable(raw)[:max_chars]
