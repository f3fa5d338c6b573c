"""Deliver replies on Messenger through Meta's Send API (channels.md §2.5).

One reply is one or more ``POST {graph_url}/me/messages`` with the page's access token as an
``Authorization: Bearer`` header (Graph takes OAuth 2.0 bearer tokens there as well as in the
``access_token`` parameter; a header keeps the token out of URLs, which proxies and httpx's own
request logging would otherwise record)::

    {"recipient": {"id": "<psid>"}, "messaging_type": "RESPONSE", "message": {"text": "..."}}

Meta only lets a page message a person inside windows that open when the person writes: 24 hours
for anything, then up to 7 days for a reply a person typed, sent with ``messaging_type:
MESSAGE_TAG`` and ``tag: HUMAN_AGENT``. ``unavailable_reason`` refuses a reply outside them before
it is stored, so the agent can pick another channel instead of watching it fail.

A file goes as an attachment upload: the same endpoint, ``multipart/form-data`` with ``recipient``
and ``message`` (``{"attachment": {"type": "image|audio|video|file", "payload": {"is_reusable":
false}}}``) as JSON fields and the bytes as ``filedata``. Messenger attachments carry no caption, so
the text goes first, then one message per file. Graph has no idempotency key: when a later part
fails, the parts that went out are reported (``DeliveryError.sent_parts``) and the retry sends only
the rest.

A reply's buttons (``meta["buttons"]``, see ``integrations.buttons``) go as quick replies on its
last part (``{"content_type": "text", "title", "payload"}``; Messenger shows them as chips under
that message until the customer answers). Meta allows 13 of them, titles of 20 characters and
payloads of 1,000: a longer title is shortened with an ellipsis (the customer's tap comes back with
that title as its text), a longer payload leaves its button out (a cut payload would mean something
else) and the 14th and later are left out; each with a warning.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from integrations.base import (
    Capabilities,
    ChannelAdapter,
    DeliveryContext,
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    UnconfirmedDeliveryError,
    parts_sent,
)
from integrations.buttons import buttons_of
from integrations.messenger.inbound import CHANNEL
from integrations.text import N_
from integrations.transport import may_have_arrived
from integrations.types import AccountConfig, OutboundAttachment, OutboundMessage, SendResult

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v21.0"
MAX_TEXT_CHARS = 2000
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 613})
"""Graph's "unknown/temporary error", "service unavailable" and the rate limits (app, user, page,
calls per time): the same request can succeed later. Any other code (10 outside the window, 100
bad parameter, 200 permissions, 551 person unavailable, 190 token) will fail the same way again."""
MAX_REASON_CHARS = 300
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_QUICK_REPLY_PAYLOAD = 1000

log = logging.getLogger(__name__)

WINDOW_CLOSED = N_(
    "Messenger's 24-hour window has closed and the 7-day human agent window too; "
    "the customer has to write first"
)
BOT_WINDOW_CLOSED = N_(
    "Messenger's 24-hour window has closed; only a person may reply now, with the human agent tag"
)


def _aware(moment: datetime) -> datetime:
    """Times read back from SQLite are naive; every time OneThread stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def window_tag(last_inbound_at: datetime | None, now: datetime) -> str | None:
    """``None`` inside the 24-hour window, ``"HUMAN_AGENT"`` inside the 7-day one, else ``"closed"``.

    With no known last message (an old row, a reply the app routed without one) we send as a
    response and let Graph answer (#10) if the window turns out closed.
    """
    if last_inbound_at is None:
        return None
    age = _aware(now) - _aware(last_inbound_at)
    if age <= STANDARD_WINDOW:
        return None
    if age <= HUMAN_AGENT_WINDOW:
        return "HUMAN_AGENT"
    return "closed"


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at the last line break or space where there is one."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        if cut <= 0:
            pieces.append(rest[:limit])
            rest = rest[limit:]
        else:
            pieces.append(rest[:cut])
            rest = rest[cut + 1 :]  # the space or line break cut at is not sent
    pieces.append(rest)
    return pieces


def attachment_type(attachment: OutboundAttachment) -> str:
    """Messenger's attachment type for a file: ``image``, ``audio``, ``video`` or ``file``."""
    major = attachment.content_type.split("/", 1)[0].strip().lower()
    return major if major in ("image", "audio", "video") else "file"


@dataclass(frozen=True, slots=True)
class Part:
    """One Send API message of a reply: a piece of text or a file."""

    text: str = ""
    attachment: OutboundAttachment | None = None


def plan_parts(text: str, attachments: tuple[OutboundAttachment, ...]) -> list[Part]:
    """The messages a reply goes out as, in order (deterministic, so a retry can skip sent ones)."""
    parts = [Part(text=piece) for piece in split_text(text)] if text.strip() or not attachments else []
    parts.extend(Part(attachment=attachment) for attachment in attachments)
    return parts


def quick_replies(message: OutboundMessage) -> list[dict[str, str]]:
    """The reply's buttons as Messenger quick replies, within Meta's limits (module docstring)."""
    replies: list[dict[str, str]] = []
    for button in buttons_of(message.metadata):
        if len(button.payload) > MAX_QUICK_REPLY_PAYLOAD:
            log.warning(
                "message %s: a button payload of %d characters is over Messenger's %d; left out",
                message.message_id,
                len(button.payload),
                MAX_QUICK_REPLY_PAYLOAD,
            )
            continue
        if len(replies) == MAX_QUICK_REPLIES:
            log.warning(
                "message %s: more than %d buttons; the rest are left out",
                message.message_id,
                MAX_QUICK_REPLIES,
            )
            break
        title = button.label
        if len(title) > MAX_QUICK_REPLY_TITLE:
            title = title[: MAX_QUICK_REPLY_TITLE - 1].rstrip() + "…"
        replies.append({"content_type": "text", "title": title, "payload": button.payload})
    return replies


class MessengerAdapter(ChannelAdapter):
    """Sends replies as the page through the Send API; long texts go as several messages, files as
    attachment uploads."""

    channel: ClassVar[str] = CHANNEL  # type: ignore[misc]
    capabilities: ClassVar[Capabilities] = Capabilities(attachments=True, buttons=True)
    max_text_length: ClassVar[int | None] = MAX_TEXT_CHARS

    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        self._client = client or httpx.AsyncClient(timeout=timeout)

    def unavailable_reason(self, account: AccountConfig, context: DeliveryContext) -> str | None:
        if not account.secrets.get("page_token"):
            return N_("this Messenger page has no page access token, so replies cannot be sent")
        tag = window_tag(context.last_inbound_at, context.now)
        if tag == "closed":
            return WINDOW_CLOSED
        if tag == "HUMAN_AGENT" and not context.sender_is_person:
            return BOT_WINDOW_CLOSED
        return None

    async def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        token = account.secrets.get("page_token")
        if not token:
            raise PermanentDeliveryError("this Messenger page has no page access token")
        tag = window_tag(message.last_inbound_at, datetime.now(UTC))
        if tag == "closed":
            # The reply waited in the queue (retries, an outage) until the 7-day window shut.
            raise PermanentDeliveryError(WINDOW_CLOSED)
        psid = message.recipient_id.rpartition(":")[2]
        url = str(account.config.get("graph_url") or DEFAULT_GRAPH_URL).rstrip("/") + "/me/messages"
        headers = {"Authorization": f"Bearer {token}", "User-Agent": "OneThread"}
        envelope: dict[str, Any] = (
            {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
            if tag == "HUMAN_AGENT"
            else {"messaging_type": "RESPONSE"}
        )
        done = parts_sent(message)
        parts = plan_parts(message.text, message.attachments)
        chips = quick_replies(message)
        for index, part in enumerate(parts[len(done) :], start=len(done)):
            last = index == len(parts) - 1
            try:
                sent_id = await self._send_part(url, headers, psid, envelope, part, chips if last else [])
            except DeliveryError as exc:
                exc.sent_parts = tuple(done)
                raise
            # Graph always names the message it accepted; an answer without an id still counts as
            # sent, so the retry after a later failure does not send this part again.
            done.append(sent_id or "")
        # The last piece's id stands for the reply.
        return SendResult(external_id=done[-1] if done and done[-1] else None, part_ids=tuple(done))

    async def _send_part(
        self,
        url: str,
        headers: dict[str, str],
        psid: str,
        envelope: dict[str, Any],
        part: Part,
        chips: list[dict[str, str]],
    ) -> str | None:
        file = part.attachment
        extra: dict[str, Any] = {"quick_replies": chips} if chips else {}
        if file is None:
            body = {"recipient": {"id": psid}, **envelope, "message": {"text": part.text, **extra}}
            return await self._post(url, headers, json_body=body)
        fields = {
            "recipient": json.dumps({"id": psid}),
            **envelope,
            "message": json.dumps(
                {"attachment": {"type": attachment_type(file), "payload": {"is_reusable": False}}, **extra}
            ),
        }
        upload = {"filedata": (file.filename, file.data, file.content_type)}
        return await self._post(url, headers, form=fields, files=upload)

    async def _post(
        self,
        url: str,
        headers: dict[str, str],
        *,
        json_body: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> str | None:
        try:
            response = await self._client.post(url, json=json_body, data=form, files=files, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PermanentDeliveryError(f"the Graph URL cannot be used: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            if may_have_arrived(exc):
                raise UnconfirmedDeliveryError(f"Graph API did not answer: {type(exc).__name__}") from exc
            raise RetryableDeliveryError(f"Graph API unreachable: {type(exc).__name__}") from exc
        payload = _json(response)
        if response.is_success:
            sent_id = payload.get("message_id")
            return sent_id if isinstance(sent_id, str) else None
        error = payload.get("error")
        if not isinstance(error, dict):
            error = {}
        code = error.get("code")
        detail = " ".join(str(error.get("message") or "").split())[:MAX_REASON_CHARS]
        reason = f"Messenger answered {response.status_code}"
        if code is not None:
            reason += f" (code {code})"
        if detail:
            reason += f": {detail}"
        if response.status_code >= 500 or code in RETRYABLE_CODES:
            raise RetryableDeliveryError(reason)
        raise PermanentDeliveryError(reason)

    async def aclose(self) -> None:
        await self._client.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
