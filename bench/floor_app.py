"""The floor: the least a Litestar app must do to take a message in and push it to an agent socket.

``POST /api/v1/channels/{account_id}/inbound`` (same body and bearer check as OneThread's custom
channel) does one ``INSERT … RETURNING id`` through a pooled asyncpg connection and one Redis
``PUBLISH``; ``WS /api/v1/events`` relays what one Redis subscriber hears to every open socket.
Served by uvicorn with the settings ``onethread serve`` uses (factory, single worker, uvloop +
httptools, lifespan on, no protocol pings), so the difference to OneThread is the application.

The webhook floor (``bench/webhooks.py``) has the same shape per platform:
``POST /webhooks/telegram/{account_id}`` compares ``X-Telegram-Bot-Api-Secret-Token`` in constant
time, ``POST /webhooks/messenger/{account_id}`` checks ``X-Hub-Signature-256`` (HMAC-SHA256 of the
raw body); both then parse the JSON into the few fields a message needs, run one
``INSERT … ON CONFLICT DO NOTHING RETURNING`` keyed on the update (``<bot id>:<update_id>``, the
``mid``), and publish to Redis only when the row is new, so a retried update is answered 200 and
stored once, as in OneThread.

The email floor (``bench/email_ingest.py``): ``POST /webhooks/email/{account_id}`` checks the
bearer token (``FLOOR_TOKEN``, constant time), reads the raw message with
``email.message_from_bytes(…, policy=default)`` into Message-ID, From, Subject and the text (the
plain part, else the HTML), one ``INSERT … ON CONFLICT DO NOTHING`` keyed on the Message-ID, one
``PUBLISH`` when new, and answers 202. With ``FLOOR_SMTP_PORT`` set it also serves SMTP on the same
event loop (``aiosmtpd``, as ``onethread serve`` does): ``RCPT`` accepts only
``FLOOR_EMAIL_ADDRESS``, ``DATA`` stores the mail the same way and answers 250.

Run: ``python bench/floor_app.py --port P`` with ``FLOOR_DATABASE_URL`` (a ``postgresql://`` DSN),
``FLOOR_REDIS_URL``, ``FLOOR_TOKEN`` (the accepted bearer token) and ``FLOOR_CHANNEL`` (the Redis
channel, unique per run) in the environment; for the webhooks also ``FLOOR_TELEGRAM_SECRET``,
``FLOOR_TELEGRAM_BOT_ID`` and ``FLOOR_MESSENGER_APP_SECRET`` (without them every webhook is
refused). The table is created by the benchmark beforehand.

The widget floor (``bench/widget.py``): ``WS /widget/v1/ws?token=<thread id>`` accepts the socket,
sends ``{"type": "ready"}``, registers one queue under its thread and relays what arrives there
while the handler itself waits on ``receive()`` (to notice the visitor leaving, as Litestar's own
channels socket does); ``POST /api/v1/threads/{id}/messages`` (bearer ``FLOOR_TOKEN``) runs one
``INSERT … RETURNING`` and one ``PUBLISH`` on a Redis channel of its own (``FLOOR_CHANNEL`` +
``.widget``), whose single subscriber hands each frame to the queues of its thread only. No token
check, no database read per socket or per frame: the least a per-visitor socket costs.

Not tuned beyond that: the asyncpg pool resets each connection on release (one extra round trip
per request), as an application using a pool normally would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import parseaddr
from functools import lru_cache
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import msgspec
from litestar import Litestar, MediaType, Request, Response, WebSocket, get, post, websocket
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
    WebSocketDisconnect,
)
from redis.asyncio import Redis

TABLE_SQL = """
CREATE TABLE IF NOT EXISTS floor_messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text NOT NULL,
    external_id text NOT NULL,
    contact_external_id text NOT NULL,
    contact_name text,
    text text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, external_id)
)
"""
INSERT_SQL = (
    "INSERT INTO floor_messages (account_id, external_id, contact_external_id, contact_name, text) "
    "VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at"
)
UPSERT_SQL = (
    "INSERT INTO floor_messages (account_id, external_id, contact_external_id, contact_name, text) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, external_id) DO NOTHING RETURNING id, created_at"
)


class Contact(msgspec.Struct):
    external_id: str
    name: str | None = None


class Inbound(msgspec.Struct):
    external_id: str
    contact: Contact
    text: str


class Accepted(msgspec.Struct):
    message_id: int


class TgUser(msgspec.Struct):
    id: int
    first_name: str = ""


class TgChat(msgspec.Struct):
    id: int
    type: str


class TgMessage(msgspec.Struct):
    message_id: int
    chat: TgChat
    from_: TgUser | None = msgspec.field(default=None, name="from")
    text: str | None = None
    caption: str | None = None


class TgUpdate(msgspec.Struct):
    update_id: int
    message: TgMessage | None = None


class FbId(msgspec.Struct):
    id: str


class FbMessage(msgspec.Struct):
    mid: str
    text: str | None = None
    is_echo: bool = False


class FbEvent(msgspec.Struct):
    sender: FbId
    message: FbMessage | None = None


class FbEntry(msgspec.Struct):
    id: str
    messaging: list[FbEvent] = []


class FbBody(msgspec.Struct):
    object: str
    entry: list[FbEntry] = []


class _CachedMimePolicy(email_policy.EmailPolicy):
    """``policy.default`` parsing each short MIME structure header value once, as OneThread's
    ``parse_mail`` does (``get_body`` reads every part's ``Content-Type`` several times): a floor
    must not pay for what the app has learned to avoid."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if (
            isinstance(value, str)
            and not hasattr(value, "name")
            and len(value) <= 300
            and name.lower() in {"content-type", "content-disposition", "content-transfer-encoding"}
        ):
            return _parsed_header(name, value)
        return super().header_fetch_parse(name, value)


@lru_cache(maxsize=512)
def _parsed_header(name: str, value: str) -> Any:
    return email_policy.default.header_fetch_parse(name, value)


_MAIL_POLICY = _CachedMimePolicy()


def mail_facts(raw: bytes) -> tuple[str, str, str, str] | None:
    """(Message-ID, From address, Subject, text) of a raw mail; ``None`` without a sender."""
    message = message_from_bytes(raw, policy=_MAIL_POLICY)
    if not isinstance(message, EmailMessage):
        return None
    address = parseaddr(str(message.get("From", "")))[1].lower()
    if not address:
        return None
    body = message.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    return (
        str(message.get("Message-ID", "")).strip().strip("<>"),
        address,
        str(message.get("Subject", "")),
        text,
    )


class FloorSmtpHandler:
    """aiosmtpd hooks: one recipient address taken, each mail stored like the email webhook."""

    def __init__(self, address: str, store: Any, account_id: str) -> None:
        self.address = address
        self.store = store
        self.account_id = account_id

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.strip().lower() != self.address:
            return f"550 5.1.1 <{address}>: no mailbox here by that name"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        facts = mail_facts(envelope.original_content or b"")
        if facts is None:
            return "550 5.6.0 no From address"
        mid, sender, subject, text = facts
        await self.store(self.account_id, mid, sender, subject, text)
        return "250 2.0.0 OK: stored"


class Hub:
    """One Redis subscription per process, fanned out to a queue per open socket."""

    def __init__(self, redis: Redis, channel: str) -> None:
        self.redis = redis
        self.channel = channel
        self.sockets: set[asyncio.Queue[bytes]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)
        self._task = asyncio.create_task(self._listen(pubsub))

    async def _listen(self, pubsub: Any) -> None:
        async for item in pubsub.listen():
            data = item.get("data")
            if isinstance(data, bytes):
                for queue in self.sockets:
                    queue.put_nowait(data)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class _ThreadOf(msgspec.Struct):
    thread_id: int = 0


class ThreadHub(Hub):
    """The same subscription, each frame handed only to the sockets of its thread."""

    def __init__(self, redis: Redis, channel: str) -> None:
        super().__init__(redis, channel)
        self.by_thread: dict[int, set[asyncio.Queue[bytes]]] = {}
        self._decoder = msgspec.json.Decoder(_ThreadOf)

    async def _listen(self, pubsub: Any) -> None:
        async for item in pubsub.listen():
            data = item.get("data")
            if isinstance(data, bytes):
                for queue in self.by_thread.get(self._decoder.decode(data).thread_id, ()):
                    queue.put_nowait(data)


class Reply(msgspec.Struct):
    text: str


def create_app() -> Litestar:
    """The floor app, configured from the environment."""
    database_url = os.environ["FLOOR_DATABASE_URL"]
    redis = Redis.from_url(os.environ["FLOOR_REDIS_URL"])
    token = os.environ["FLOOR_TOKEN"].encode()
    hub = Hub(redis, os.environ["FLOOR_CHANNEL"])
    thread_hub = ThreadHub(redis, os.environ["FLOOR_CHANNEL"] + ".widget")
    telegram_secret = os.environ.get("FLOOR_TELEGRAM_SECRET", "").encode()
    telegram_bot = os.environ.get("FLOOR_TELEGRAM_BOT_ID", "0")
    messenger_secret = os.environ.get("FLOOR_MESSENGER_APP_SECRET", "").encode()
    smtp_port = int(os.environ.get("FLOOR_SMTP_PORT") or 0)
    email_address = os.environ.get("FLOOR_EMAIL_ADDRESS", "").lower()
    email_account = os.environ.get("FLOOR_EMAIL_ACCOUNT", "")
    smtp_server: asyncio.AbstractServer | None = None
    tg_decoder = msgspec.json.Decoder(TgUpdate)
    fb_decoder = msgspec.json.Decoder(FbBody)
    pool: asyncpg.Pool | None = None

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        nonlocal pool, smtp_server
        pool = await asyncpg.create_pool(database_url, min_size=10, max_size=20)
        await hub.start()
        await thread_hub.start()
        if smtp_port:
            from aiosmtpd.smtp import SMTP

            handler = FloorSmtpHandler(email_address, store_mail, email_account)
            smtp_server = await asyncio.get_running_loop().create_server(
                lambda: SMTP(handler, enable_SMTPUTF8=True, ident="floor ESMTP", timeout=60),
                host="127.0.0.1",
                port=smtp_port,
            )
        try:
            yield
        finally:
            if smtp_server is not None:
                smtp_server.close()
            await hub.stop()
            await thread_hub.stop()
            await pool.close()
            await redis.aclose()

    @post("/api/v1/channels/{account_id:str}/inbound", status_code=202)
    async def inbound(request: Request[Any, Any, Any], account_id: str, data: Inbound) -> Accepted:
        header = request.headers.get("authorization", "")
        if not hmac.compare_digest(header.removeprefix("Bearer ").encode(), token):
            raise NotAuthorizedException("bad account token")
        assert pool is not None
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                INSERT_SQL,
                account_id,
                data.external_id,
                data.contact.external_id,
                data.contact.name,
                data.text,
            )
        frame = {
            "id": row["id"],
            "type": "message.created",
            "thread_id": None,
            "data": {"message": {"id": row["id"], "text": data.text, "created_at": row["created_at"]}},
        }
        await redis.publish(hub.channel, msgspec.json.encode(frame))
        return Accepted(message_id=row["id"])

    async def store(
        account_id: str,
        key: str,
        contact: str,
        name: str | None,
        text: str,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """One row per key; the event only for a new row (a retry changes nothing)."""
        assert pool is not None
        async with pool.acquire() as conn:
            row = await conn.fetchrow(UPSERT_SQL, account_id, key, contact, name, text)
        if row is None:
            return
        frame = {
            "id": row["id"],
            "type": "message.created",
            "thread_id": None,
            "data": {
                "message": {
                    "id": row["id"],
                    "text": text,
                    "created_at": row["created_at"],
                    "meta": meta or {},
                }
            },
        }
        await redis.publish(hub.channel, msgspec.json.encode(frame))

    async def store_mail(account_id: str, mid: str, sender: str, subject: str, text: str) -> None:
        # The subject rides in the name column: the floor has no column of its own for it.
        await store(account_id, mid, sender, subject, text, {"email": {"message_id": mid}})

    @post("/webhooks/email/{account_id:str}", status_code=202)
    async def email(request: Request[Any, Any, Any], account_id: str) -> dict[str, str]:
        header = request.headers.get("authorization", "")
        if not hmac.compare_digest(header.removeprefix("Bearer ").encode(), token):
            raise NotAuthorizedException("bad account token")
        facts = mail_facts(await request.body())
        if facts is None:
            raise ValidationException("no From address")
        mid, sender, subject, text = facts
        await store_mail(account_id, mid, sender, subject, text)
        return {"outcome": "stored"}

    @post("/webhooks/telegram/{account_id:str}", status_code=200)
    async def telegram(request: Request[Any, Any, Any], account_id: str) -> dict[str, bool]:
        given = request.headers.get("x-telegram-bot-api-secret-token", "").encode()
        if not telegram_secret or not hmac.compare_digest(given, telegram_secret):
            raise PermissionDeniedException("bad secret token")
        try:
            update = tg_decoder.decode(await request.body())
        except msgspec.DecodeError:
            raise ValidationException("not an update") from None
        message = update.message
        text = message and (message.text or message.caption)
        if message is None or not text or message.from_ is None or message.chat.type != "private":
            return {"ok": True}
        user = message.from_
        await store(account_id, f"{telegram_bot}:{update.update_id}", str(user.id), user.first_name, text)
        return {"ok": True}

    @post("/webhooks/messenger/{account_id:str}", status_code=200, media_type=MediaType.TEXT)
    async def messenger(request: Request[Any, Any, Any], account_id: str) -> Response[str]:
        body = await request.body()
        scheme, _, given = request.headers.get("x-hub-signature-256", "").partition("=")
        expected = hmac.new(messenger_secret, body, hashlib.sha256).hexdigest()
        if (
            not messenger_secret
            or scheme != "sha256"
            or not hmac.compare_digest(given.encode(), expected.encode())
        ):
            raise PermissionDeniedException("bad signature")
        try:
            batch = fb_decoder.decode(body)
        except msgspec.DecodeError:
            raise ValidationException("not a webhook body") from None
        for entry in batch.entry:
            for event in entry.messaging:
                message = event.message
                if message is not None and not message.is_echo:
                    contact = f"{entry.id}:{event.sender.id}"
                    await store(account_id, message.mid, contact, None, message.text or "")
        return Response("EVENT_RECEIVED", media_type=MediaType.TEXT)

    @websocket("/api/v1/events")
    async def events(socket: WebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        hub.sockets.add(queue)
        try:
            await socket.send_json({"type": "ready", "last_event_id": 0})
            while True:
                await socket.send_text((await queue.get()).decode())
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            hub.sockets.discard(queue)

    @post("/api/v1/threads/{thread_id:int}/messages", status_code=202)
    async def reply(request: Request[Any, Any, Any], thread_id: int, data: Reply) -> dict[str, int]:
        header = request.headers.get("authorization", "")
        if not hmac.compare_digest(header.removeprefix("Bearer ").encode(), token):
            raise NotAuthorizedException("bad agent token")
        assert pool is not None
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                INSERT_SQL, f"thread-{thread_id}", os.urandom(8).hex(), "agent", None, data.text
            )
        frame = {
            "id": row["id"],
            "type": "message.created",
            "thread_id": thread_id,
            "data": {"message": {"id": row["id"], "direction": "out", "text": data.text}},
        }
        await redis.publish(thread_hub.channel, msgspec.json.encode(frame))
        return {"id": row["id"], "thread_id": thread_id}

    @websocket("/widget/v1/ws")
    async def widget_socket(socket: WebSocket[Any, Any, Any], token: str = "") -> None:
        await socket.accept()
        thread_id = int(token) if token.isdigit() else 0
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        thread_hub.by_thread.setdefault(thread_id, set()).add(queue)

        async def relay() -> None:
            while True:
                await socket.send_text((await queue.get()).decode())

        relaying: asyncio.Task[None] | None = None
        try:
            await socket.send_json({"type": "ready", "last_event_id": 0})
            relaying = asyncio.create_task(relay())
            while (await socket.receive())["type"] != "websocket.disconnect":
                continue
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if relaying is not None:
                relaying.cancel()
            queues = thread_hub.by_thread.get(thread_id, set())
            queues.discard(queue)
            if not queues:
                thread_hub.by_thread.pop(thread_id, None)

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar(
        route_handlers=[inbound, telegram, messenger, email, events, reply, widget_socket, health],
        lifespan=[lifespan],
        debug=False,
    )


def main() -> None:
    """Serve with the uvicorn settings of ``onethread serve`` (``app/cli.py``)."""
    import uvicorn

    parser = argparse.ArgumentParser(description="the floor app of bench/ingest.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    uvicorn.run(
        "floor_app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        ws_ping_interval=None,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
