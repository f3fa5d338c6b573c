"""A local stand-in for Telegram's Bot API: a real HTTP server on 127.0.0.1 answering like Telegram.

The code under test uses python-telegram-bot's real ``telegram.Bot`` pointed at ``server.url``
(the account's ``api_url``), so requests, form encoding, status codes and PTB's error mapping are
all real. Every call is recorded; ``rate_limit`` and ``block`` script Telegram's refusals.

    async with TelegramBotAPI() as server:
        server.rate_limit(retry_after=1)             # the next call: 429 with parameters.retry_after
        server.block()                               # the one after: 403, blocked by the user
        ...
        [call] = await server.wait_for_calls("sendMessage", 1)
        call.params["text"]
        [photo] = server.calls_to("sendPhoto")
        photo.files["photo"].data, photo.files["photo"].filename, photo.params["caption"]

Answers not scripted: ``sendMessage`` and the file methods (``sendPhoto``, ``sendDocument``,
``sendVoice``, ``sendAudio``, ``sendVideo``; multipart bodies, the files kept with their bytes and
names) → ``{"ok": true, "result": <Message>}`` with increasing message ids;
``setWebhook``/``deleteWebhook`` → ``true`` (the webhook is remembered); ``getWebhookInfo`` → what
``setWebhook`` stored, with ``pending_updates`` and ``webhook_error``; ``getMe`` → the bot
(``username``); ``getFile`` → the file registered
with ``add_file`` (else 400 ``invalid file_id``), whose bytes are then served at
``GET /file/bot<token>/<file_path>`` like Telegram's file server; ``answerCallbackQuery`` → ``true``
(400 for a query id given to ``expire_callback``); anything else → 404 ``Not Found`` as Telegram
answers unknown methods.

A send's ``reply_markup`` (PTB sends it as a JSON string) is read back by ``BotCall.keyboard`` as
``[[(text, callback_data), …], …]``; a keyboard Telegram would refuse (``callback_data`` over 64
bytes, a button without text) gets Telegram's 400 ``BUTTON_DATA_INVALID`` and no message.

    server.add_file("AgACAg…", photo_bytes)          # getFile answers, the download serves them
    server.expire_callback("4382bf…")                 # answerCallbackQuery: 400 "query is too old"
    server.add_file("BQACAg…", b"", too_big=True)      # getFile: 400 "file is too big"
    server.downloads                                  # the file paths fetched so far
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.callback_server import CallbackServer, FormPart, RecordedRequest, Reply

BLOCKED = "Forbidden: bot was blocked by the user"
FILE_METHODS = {
    "sendPhoto": "photo",
    "sendDocument": "document",
    "sendVoice": "voice",
    "sendAudio": "audio",
    "sendVideo": "video",
}
"""Each file method and the parameter its file travels in."""


@dataclass(frozen=True)
class BotCall:
    """One Bot API call: the token and method from the path, the parameters as sent, and the files
    of a multipart call by parameter name."""

    token: str
    method: str
    params: dict[str, str]
    received_at: float
    files: dict[str, FormPart] = field(default_factory=dict)

    @property
    def keyboard(self) -> list[list[tuple[str, str]]] | None:
        """The inline keyboard sent with the call, ``[[(text, callback_data), …], …]``, or ``None``."""
        raw = self.params.get("reply_markup")
        if not raw:
            return None
        markup = json.loads(raw)
        return [
            [(b.get("text", ""), b.get("callback_data", "")) for b in row]
            for row in markup["inline_keyboard"]
        ]


def _keyboard_error(call: BotCall) -> Reply | None:
    """Telegram's answer to an inline keyboard it refuses (the whole message is not sent)."""
    raw = call.params.get("reply_markup")
    if not raw:
        return None
    try:
        rows = json.loads(raw)["inline_keyboard"]
    except (ValueError, KeyError, TypeError):
        return _error(400, "Bad Request: can't parse reply keyboard markup JSON object")
    for row in rows:
        for button in row:
            data = button.get("callback_data")
            if not button.get("text") or data is None or not 1 <= len(data.encode()) <= 64:
                return _error(400, "Bad Request: BUTTON_DATA_INVALID")
    return None


def _parse(request: RecordedRequest) -> BotCall | None:
    prefix = "/bot"
    path = request.path.split("?", 1)[0]
    if not path.startswith(prefix) or "/" not in path[len(prefix) :]:
        return None
    token, method = path[len(prefix) :].split("/", 1)
    content_type = request.headers.get("content-type", "")
    params: dict[str, str]
    files: dict[str, FormPart] = {}
    if request.is_multipart:
        params = {}
        for part in request.form_parts():
            if part.filename is None:
                params[part.name] = part.text
            else:
                files[part.name] = part
    elif "json" in content_type:
        params = {
            k: v if isinstance(v, str) else json.dumps(v)
            for k, v in json.loads(request.body or b"{}").items()
        }
    else:
        params = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    return BotCall(token, method, params, request.received_at, files)


def _ok(result: Any) -> Reply:
    return Reply(200, {}, json.dumps({"ok": True, "result": result}).encode())


def _error(status: int, description: str, **parameters: Any) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Reply(status, {}, json.dumps(body).encode())


@dataclass(frozen=True)
class HostedFile:
    """A file the fake Telegram holds for bots to download."""

    file_id: str
    data: bytes
    file_path: str
    announce_size: bool = True
    """Whether ``getFile`` reports ``file_size`` (Telegram may leave it out)."""
    too_big: bool = False
    """``getFile`` refuses it as Telegram does files over 20 MB."""


FILE_PREFIX = "/file/bot"


class TelegramBotAPI(CallbackServer):
    """Answers ``POST /bot<token>/<method>`` like Telegram; records every call in ``calls``."""

    def __init__(self) -> None:
        super().__init__(path="")
        self._message_ids = itertools.count(1001)
        self.username = "shop_bot"
        """What ``getMe`` answers as the bot's username."""
        self.webhook: dict[str, str] = {"url": ""}
        """What the last ``setWebhook`` stored (``url``, ``secret_token``); ``getWebhookInfo`` reads it."""
        self.pending_updates = 0
        self.webhook_error: tuple[int, str] | None = None
        """``(unix time, message)`` of Telegram's last failed delivery to the webhook, if any."""
        self.files: dict[str, HostedFile] = {}
        self.expired_callbacks: set[str] = set()

    def expire_callback(self, callback_query_id: str) -> None:
        """``answerCallbackQuery`` for this id gets Telegram's answer for a query too old to answer."""
        self.expired_callbacks.add(callback_query_id)

    def add_file(
        self,
        file_id: str,
        data: bytes,
        *,
        name: str = "file",
        announce_size: bool = True,
        too_big: bool = False,
    ) -> HostedFile:
        """Hold ``data`` under ``file_id`` (what an update's ``file_id`` names) for ``getFile``."""
        hosted = HostedFile(
            file_id, data, f"documents/{len(self.files)}-{name}", announce_size=announce_size, too_big=too_big
        )
        self.files[file_id] = hosted
        return hosted

    async def __aenter__(self) -> TelegramBotAPI:
        await self.start()
        return self

    # -- scripting ------------------------------------------------------------------------------
    def rate_limit(self, retry_after: int = 1, *, count: int = 1) -> None:
        """The next ``count`` calls get Telegram's flood-control answer."""
        for _ in range(count):
            self._script.append(
                _error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
            )

    def block(self, *, count: int = 1) -> None:
        """The next ``count`` calls get the answer for a user who blocked the bot."""
        for _ in range(count):
            self._script.append(_error(403, BLOCKED))

    def fail(self, status: int = 502, description: str = "Bad Gateway", *, count: int = 1) -> None:
        """The next ``count`` calls get ``status`` (a 5xx is a server error PTB reports as a network error)."""
        for _ in range(count):
            self._script.append(_error(status, description))

    def refuse(self, description: str = "Bad Request: chat not found", *, count: int = 1) -> None:
        """The next ``count`` calls get a ``400`` with ``description``."""
        for _ in range(count):
            self._script.append(_error(400, description))

    # -- inspection -------------------------------------------------------------------------------
    @property
    def calls(self) -> list[BotCall]:
        """Every Bot API call received, in order (requests to other paths left out)."""
        return [call for call in map(_parse, self.requests) if call is not None]

    def calls_to(self, method: str) -> list[BotCall]:
        return [call for call in self.calls if call.method == method]

    def shown(self) -> Counter[tuple[str, str]]:
        """How many times each ``(chat_id, text)`` was sent with ``sendMessage``: what the customer's
        chat shows. Telegram keeps no idempotency key, so a count above 1 is a duplicate the
        customer sees (tests give each reply a distinct text)."""
        return Counter(
            (call.params.get("chat_id", ""), call.params.get("text", ""))
            for call in self.calls_to("sendMessage")
        )

    @property
    def downloads(self) -> list[str]:
        """The raw paths of every file-server request (they hold the token: ``/file/bot<token>/…``)."""
        return [r.path for r in self.requests if r.path.startswith(FILE_PREFIX)]

    async def wait_for_calls(self, method: str, count: int, within: float = 10.0) -> list[BotCall]:
        """Wait until at least ``count`` calls of ``method`` arrived; return them all."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.calls_to(method)) >= count)
        return self.calls_to(method)

    # -- Telegram's answers -------------------------------------------------------------------------
    def _answer(self, call: BotCall | None) -> Reply:
        if call is None:
            return _error(404, "Not Found")
        if call.method == "sendMessage" or call.method in FILE_METHODS:
            refused = _keyboard_error(call)
            if refused is not None:
                return refused
            chat_id = int(call.params["chat_id"])
            message: dict[str, Any] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "Customer"},
                "from": {"id": int(call.token.split(":")[0]), "is_bot": True, "first_name": "Shop bot"},
            }
            if call.method == "sendMessage":
                message["text"] = call.params.get("text", "")
            elif call.params.get("caption"):
                message["caption"] = call.params["caption"]
            if call.params.get("reply_markup"):
                message["reply_markup"] = json.loads(call.params["reply_markup"])
            return _ok(message)
        if call.method == "answerCallbackQuery":
            if call.params.get("callback_query_id", "") in self.expired_callbacks:
                return _error(
                    400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
                )
            return _ok(True)
        if call.method in ("setWebhook", "deleteWebhook"):
            self.webhook = {"url": call.params.get("url", "")} if call.method == "setWebhook" else {"url": ""}
            if call.method == "setWebhook" and call.params.get("secret_token"):
                self.webhook["secret_token"] = call.params["secret_token"]
            self.webhook_error = None
            return Reply(
                200, {}, json.dumps({"ok": True, "result": True, "description": "Webhook was set"}).encode()
            )
        if call.method == "getFile":
            hosted = self.files.get(call.params.get("file_id", ""))
            if hosted is None:
                return _error(400, "Bad Request: invalid file_id")
            if hosted.too_big:
                return _error(400, "Bad Request: file is too big")
            result: dict[str, Any] = {
                "file_id": hosted.file_id,
                "file_unique_id": f"u-{hosted.file_id[:12]}",
                "file_path": hosted.file_path,
            }
            if hosted.announce_size:
                result["file_size"] = len(hosted.data)
            return _ok(result)
        if call.method == "getWebhookInfo":
            info: dict[str, Any] = {
                "url": self.webhook["url"],
                "has_custom_certificate": False,
                "pending_update_count": self.pending_updates,
            }
            if self.webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self.webhook_error
            return _ok(info)
        if call.method == "getMe":
            bot_id = int(call.token.split(":")[0])
            return _ok({"id": bot_id, "is_bot": True, "first_name": "Shop bot", "username": self.username})
        return _error(404, "Not Found")

    def _file(self, request: RecordedRequest) -> Reply:
        """Telegram's file server: ``GET /file/bot<token>/<file_path>``; unknown paths are 404."""
        _token, _, file_path = request.path[len(FILE_PREFIX) :].partition("/")
        hosted = next((f for f in self.files.values() if f.file_path == file_path), None)
        if request.method != "GET" or hosted is None:
            return _error(404, "Not Found")
        return Reply(200, {"Content-Type": "application/octet-stream"}, hosted.data)

    def default_reply(self, request: RecordedRequest, number: int) -> Reply:
        if request.path.startswith(FILE_PREFIX):
            return self._file(request)
        return self._answer(_parse(request))
