"""Deliver replies on Telegram: ``sendMessage`` (and ``sendPhoto``, ``sendDocument``, … for files) to
the customer's private chat with the account's bot.

python-telegram-bot's ``telegram.Bot`` does the HTTP and turns Telegram's answers into exceptions;
this module only maps them onto the delivery job's retry rules. A customer who writes to a bot in a
private chat has a chat id equal to their user id, which is the identity's external id inbound
stored, so no chat lookup is needed.

Telegram refuses texts longer than 4096 characters (counted in UTF-16 code units, as its API does),
so a longer reply goes out as several messages split on paragraph, line or word boundaries; the
first message's id becomes the reply's external id. Each file is one more message, sent with the
method that shows it best (a photo inline, a voice note playable, …); the text rides along as the
first file's caption when it fits Telegram's 1024-character caption limit, else goes first as text.
Telegram has no idempotency key, so when a later part fails the adapter reports the parts that went
out (``DeliveryError.sent_parts``) and the retry sends only the rest.

A reply with buttons (``meta["buttons"]``, see ``integrations.buttons``) gets an inline keyboard,
one button a row, on its last part (where the customer's eye lands, and the one message the buttons
answer). A button's ``callback_data`` is its payload, which Telegram caps at 64 bytes: a payload
that does not fit is not cut (a cut payload would mean something else, or nothing) but its button
is left out, with a warning naming the message. The customer's press comes back as a
``callback_query`` (see ``inbound``), which ``answer_callback_query`` acknowledges.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar, Literal

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

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
from integrations.telegram.inbound import CHANNEL
from integrations.text import N_
from integrations.transport import may_have_arrived
from integrations.types import AccountConfig, OutboundAttachment, OutboundMessage, SendResult

MAX_MESSAGE_LENGTH = 4096
"""Telegram's limit for one message's text, in UTF-16 code units after entity parsing."""
MAX_CAPTION_LENGTH = 1024
"""Telegram's limit for a file's caption, counted like a text."""
MAX_PHOTO_BYTES = 10 * 1024 * 1024
"""Bigger pictures are refused by ``sendPhoto``; they go as documents (uncompressed) instead."""
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
VOICE_TYPES = frozenset({"audio/ogg", "audio/opus"})
"""``sendVoice`` plays OGG with Opus as a voice note; other audio is a track (``sendAudio``)."""
AUDIO_TYPES = frozenset({"audio/mpeg", "audio/mp3", "audio/mp4", "audio/m4a", "audio/x-m4a"})
VIDEO_TYPES = frozenset({"video/mp4"})
FileMethod = Literal["photo", "voice", "audio", "video", "document"]
DEFAULT_API_URL = "https://api.telegram.org"
BOUNDARIES = ("\n\n", "\n", " ")
"""Where a long text is preferably cut, best first: between paragraphs, lines, words."""
MAX_CALLBACK_DATA_BYTES = 64
"""Telegram's limit for an inline button's ``callback_data``, in UTF-8 bytes."""
MAX_BUTTON_TEXT_LENGTH = 64
"""Longer button labels are shortened with an ellipsis (Telegram clips them on screen anyway)."""
ANSWER_TIMEOUT_SECONDS = 3.0
"""How long the webhook waits for ``answerCallbackQuery``: the update is stored by then, and a
slow Bot API must not hold Telegram's delivery (it would retry the update)."""

log = logging.getLogger(__name__)


def utf16_length(text: str) -> int:
    """The length Telegram counts: characters outside the BMP (most emoji) count twice."""
    return len(text.encode("utf-16-le")) // 2


def _fitting_prefix(text: str, limit: int) -> int:
    """How many characters from the start of ``text`` fit in ``limit`` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def _boundary(window: str, fits: int) -> tuple[int, int]:
    """Where to cut ``window`` and how many break characters to drop there.

    The best kind of break in the second half wins (a paragraph break early on would leave a short
    message and many more to follow); failing that, the best kind anywhere; failing that, a hard cut.
    """
    for earliest in (fits // 2, 1):
        for boundary in BOUNDARIES:
            found = window.rfind(boundary)
            if found >= max(earliest, 1):
                return found, len(boundary)
    return fits, 0


def split_text(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Split ``text`` into parts Telegram accepts, cutting at the last paragraph break, else line
    break, else space before the limit (see ``_boundary``), and mid-word only when a single word is
    longer than it.

    The whitespace at a cut is dropped (a part never starts or ends with the break it was cut at);
    everything else is kept, so joining the parts with their breaks gives the text back.
    """
    parts: list[str] = []
    rest = text
    while utf16_length(rest) > limit:
        fits = _fitting_prefix(rest, limit)
        window = rest[: fits + 1]  # a break right after the last fitting character still counts
        cut, skip = _boundary(window, fits)
        part = rest[:cut]
        if part.strip():
            parts.append(part)
        rest = rest[cut + skip :]
    if rest.strip() or not parts:
        parts.append(rest)
    return parts


def file_method(attachment: OutboundAttachment) -> FileMethod:
    """How Telegram shows a file best: ``photo``, ``voice``, ``audio``, ``video``, else ``document``."""
    kind = attachment.content_type.split(";", 1)[0].strip().lower()
    if kind in PHOTO_TYPES and attachment.size <= MAX_PHOTO_BYTES:
        return "photo"
    if kind in VOICE_TYPES:
        return "voice"
    if kind in AUDIO_TYPES:
        return "audio"
    if kind in VIDEO_TYPES:
        return "video"
    return "document"


@dataclass(frozen=True, slots=True)
class Part:
    """One Telegram message of a reply: a text, or a file with an optional caption."""

    text: str = ""
    attachment: OutboundAttachment | None = None


def plan_parts(text: str, attachments: tuple[OutboundAttachment, ...]) -> list[Part]:
    """The messages a reply goes out as, in order. Deterministic: a retry skips the parts an earlier
    attempt sent by counting them."""
    if not attachments:
        return [Part(text=part) for part in split_text(text)]
    parts: list[Part] = []
    caption = ""
    if text.strip():
        if utf16_length(text) <= MAX_CAPTION_LENGTH:
            caption = text
        else:
            parts.extend(Part(text=part) for part in split_text(text))
    for index, attachment in enumerate(attachments):
        parts.append(Part(text=caption if index == 0 else "", attachment=attachment))
    return parts


def keyboard(message: OutboundMessage) -> InlineKeyboardMarkup | None:
    """The reply's buttons as an inline keyboard, one a row; ``None`` when it has none that fit.

    A payload over ``MAX_CALLBACK_DATA_BYTES`` leaves its button out (logged): Telegram refuses the
    whole message for one such button, and a shortened payload would tell the bot something else.
    """
    rows: list[list[InlineKeyboardButton]] = []
    for button in buttons_of(message.metadata):
        if len(button.payload.encode()) > MAX_CALLBACK_DATA_BYTES:
            log.warning(
                "message %s: button payload is %d bytes, over Telegram's %d; the button is left out",
                message.message_id,
                len(button.payload.encode()),
                MAX_CALLBACK_DATA_BYTES,
            )
            continue
        label = button.label
        if len(label) > MAX_BUTTON_TEXT_LENGTH:
            label = label[: MAX_BUTTON_TEXT_LENGTH - 1].rstrip() + "…"
        rows.append([InlineKeyboardButton(text=label, callback_data=button.payload)])
    return InlineKeyboardMarkup(rows) if rows else None


def api_base_url(account: AccountConfig) -> str:
    """The Bot API root for this account: its ``api_url`` (a local Bot API server, a test fake)
    or Telegram's own."""
    return str(account.config.get("api_url") or DEFAULT_API_URL).rstrip("/")


def make_bot(token: str, api_url: str) -> Bot:
    """A PTB ``Bot`` talking to ``{api_url}/bot<token>/<method>``."""
    return Bot(token, base_url=f"{api_url.rstrip('/')}/bot")


def _retry_after_seconds(exc: RetryAfter) -> float:
    """PTB 22 gives ``retry_after`` as seconds with a deprecation warning, later as a ``timedelta``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | float | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramAdapter(ChannelAdapter):
    """Sends a reply as one or more ``sendMessage`` calls (and one ``sendPhoto``/``sendDocument``/…
    per file) to the customer's chat with the bot.

    Telegram's ``429`` (``RetryAfter``), timeouts and network errors are retried by the delivery
    job (after Telegram's ``retry_after`` where it gives one); ``403`` (the customer blocked the
    bot), ``400`` (the chat does not exist, the text is refused) and a rejected token fail the
    message with Telegram's reason.
    """

    channel: ClassVar[str] = CHANNEL  # type: ignore[misc]
    capabilities: ClassVar[Capabilities] = Capabilities(text=True, attachments=True, buttons=True)
    max_text_length: ClassVar[int | None] = MAX_MESSAGE_LENGTH

    def __init__(self) -> None:
        self._bots: dict[tuple[str, str], Bot] = {}

    def unavailable_reason(self, account: AccountConfig, context: DeliveryContext) -> str | None:
        if not account.secrets.get("bot_token"):
            return N_("this Telegram channel has no bot token, so replies cannot be delivered")
        return None

    def _bot(self, account: AccountConfig) -> Bot:
        token = account.secrets.get("bot_token", "")
        if not token:
            raise PermanentDeliveryError(N_("this Telegram channel has no bot token"))
        key = (token, api_base_url(account))
        bot = self._bots.get(key)
        if bot is None:
            bot = self._bots[key] = make_bot(*key)
        return bot

    async def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        bot = self._bot(account)
        chat_id = message.recipient_id.strip()
        if not chat_id.lstrip("-").isdigit():
            raise PermanentDeliveryError(N_("the customer has no Telegram chat with this bot"))
        done = parts_sent(message)
        parts = plan_parts(message.text, message.attachments)
        markup = keyboard(message)
        for index, part in enumerate(parts[len(done) :], start=len(done)):
            last = index == len(parts) - 1
            try:
                sent = await _call(_send_part(bot, int(chat_id), part, markup if last else None))
            except DeliveryError as exc:
                exc.sent_parts = tuple(done)
                raise
            done.append(str(sent.message_id))
        return SendResult(external_id=done[0] if done else None, part_ids=tuple(done))

    async def answer_callback_query(self, account: AccountConfig, callback_query_id: str) -> bool:
        """Tell Telegram a button press was received, so the customer's client stops its spinner.

        Never raises: the press is already stored when this is called, and Telegram retrying the
        update would not help; a refusal (a query older than Telegram keeps them) or an unreachable
        API is logged and ``False`` returned.
        """
        token = account.secrets.get("bot_token", "")
        if not token or not callback_query_id:
            return False
        try:
            return await self._bot(account).answer_callback_query(
                callback_query_id,
                connect_timeout=ANSWER_TIMEOUT_SECONDS,
                read_timeout=ANSWER_TIMEOUT_SECONDS,
                write_timeout=ANSWER_TIMEOUT_SECONDS,
                pool_timeout=ANSWER_TIMEOUT_SECONDS,
            )
        except TelegramError as exc:
            log.warning(
                "telegram account %s: answerCallbackQuery failed (%s: %s)",
                account.id,
                type(exc).__name__,
                exc.message.replace(token, "***"),
            )
        except Exception as exc:  # a press must never turn into a failed webhook
            log.warning(
                "telegram account %s: answerCallbackQuery failed (%s)", account.id, type(exc).__name__
            )
        return False

    async def aclose(self) -> None:
        bots, self._bots = list(self._bots.values()), {}
        for bot in bots:
            await bot.request.shutdown()


async def _send_part(
    bot: Bot, chat_id: int, part: Part, markup: InlineKeyboardMarkup | None = None
) -> Message:
    file = part.attachment
    if file is None:
        return await bot.send_message(chat_id=chat_id, text=part.text, reply_markup=markup)
    caption = part.text or None
    method = file_method(file)
    if method == "photo":
        try:
            return await bot.send_photo(
                chat_id=chat_id, photo=file.data, filename=file.filename, caption=caption, reply_markup=markup
            )
        except BadRequest:
            # Telegram refuses some pictures as photos (a panorama's proportions, a file it
            # cannot decode); the same bytes are still welcome as a document.
            pass
    elif method == "voice":
        return await bot.send_voice(
            chat_id=chat_id, voice=file.data, filename=file.filename, caption=caption, reply_markup=markup
        )
    elif method == "audio":
        return await bot.send_audio(
            chat_id=chat_id, audio=file.data, filename=file.filename, caption=caption, reply_markup=markup
        )
    elif method == "video":
        return await bot.send_video(
            chat_id=chat_id, video=file.data, filename=file.filename, caption=caption, reply_markup=markup
        )
    return await bot.send_document(
        chat_id=chat_id, document=file.data, filename=file.filename, caption=caption, reply_markup=markup
    )


async def _call(request: Awaitable[Message]) -> Message:
    """One Bot API call, its refusals mapped onto the delivery job's retry rules."""
    try:
        return await request
    except RetryAfter as exc:
        raise RetryableDeliveryError(
            N_("Telegram asks to slow down"), retry_after=_retry_after_seconds(exc)
        ) from exc
    except Forbidden as exc:
        raise PermanentDeliveryError(
            N_("Telegram refused the message (the customer may have blocked the bot)") + f": {exc.message}"
        ) from exc
    except BadRequest as exc:
        raise PermanentDeliveryError(N_("Telegram refused the message") + f": {exc.message}") from exc
    except InvalidToken as exc:
        raise PermanentDeliveryError(N_("Telegram does not accept this channel's bot token")) from exc
    except (TimedOut, NetworkError) as exc:
        if may_have_arrived(exc):
            raise UnconfirmedDeliveryError(N_("Telegram did not answer") + f": {exc.message}") from exc
        raise RetryableDeliveryError(N_("Telegram could not be reached") + f": {exc.message}") from exc
    except TelegramError as exc:
        raise PermanentDeliveryError(N_("Telegram refused the message") + f": {exc.message}") from exc
