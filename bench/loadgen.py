"""The load generator: HTTP senders (closed and open loop) and the websocket receiver process.

Timestamps are ``time.monotonic()`` (CLOCK_MONOTONIC, one clock for every process on the machine),
so a send stamped in this process and an arrival stamped in the receiver process compare directly.

Why a hand-written HTTP/1.1 client by default: the server under test and the load generator share
two cores, so every microsecond the client spends is taken from the server. Measured against the
floor on the 2-core machine: the raw client below (pre-built request bytes over keep-alive sockets,
on uvloop) costs about 0.15 ms of CPU per message including the websocket receiver, and the floor
reaches ~1,400 msgs/s; with ``--client httpx`` (one ``AsyncClient`` per connection) the generator
costs about 1.4 ms per message and the floor "reaches" ~600 msgs/s, i.e. httpx is measured, not
the server (a single shared ``AsyncClient`` pool is worse still, ~200 msgs/s). Several client
processes would not help: they would only compete with the server for the same two cores.

Why the receiver is a separate process: at saturation the sending loop is always busy, and an
arrival stamped in that loop would wait for it (client-side queueing counted as server latency).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

import msgspec

IDLE_RECONNECT_SECONDS = 3.0
"""A kept-alive socket idle longer than this is replaced before use (uvicorn closes them after 5 s)."""
MARKER = re.compile(r"otb:([A-Za-z0-9]+):(\d+)")
MAIL_MARKER = re.compile(r"^otb\.([A-Za-z0-9]+)\.(\d+)@")
"""The marker in a mail's Message-ID (``email_payloads.message_id``): the mail's text is the
fixture's own, so its event is found by ``meta.email.message_id`` instead."""


def marker(tag: str, seq: int) -> str:
    """The unique text marker of message ``seq`` of run ``tag`` (found again in its event)."""
    return f"otb:{tag}:{seq}"


def _marker_of(message: dict[str, Any]) -> re.Match[str] | None:
    found = MARKER.search(message.get("text") or "")
    if found is None:
        facts = (message.get("meta") or {}).get("email") or {}
        found = MAIL_MARKER.match(str(facts.get("message_id") or "")) if isinstance(facts, dict) else None
    return found


# ------------------------------------------------------------------------------------------------
# HTTP clients
# ------------------------------------------------------------------------------------------------
Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to POST: host, port, path, the bearer token of the inbound endpoint ("" for
    none), headers every request carries (a webhook's secret token) and the body's content type.
    For ``SmtpClient``: the SMTP server's host and port, and ``path`` the recipient address."""

    host: str
    port: int
    path: str
    token: str
    headers: Headers = ()
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class Request:
    """A body with headers of its own (a webhook signature computed over exactly these bytes), and
    a path of its own when set (an agent's reply goes to its thread's URL)."""

    body: bytes
    headers: Headers = ()
    path: str = ""


class Client(Protocol):
    """One keep-alive HTTP connection that POSTs a JSON body and returns the status."""

    async def post(self, body: bytes, headers: Headers = (), path: str = "") -> int: ...

    async def aclose(self) -> None: ...


class RawClient:
    """A minimal HTTP/1.1 keep-alive client: one socket, one request at a time, no parsing beyond need."""

    def __init__(self, target: Target) -> None:
        self._target = target
        lines = [f"Host: {target.host}:{target.port}"]
        if target.token:
            lines.append(f"Authorization: Bearer {target.token}")
        lines += [f"{name}: {value}" for name, value in target.headers]
        lines.append(f"Content-Type: {target.content_type}")
        self._head = ("\r\n".join(lines) + "\r\n").encode()
        self._request_line = f"POST {target.path} HTTP/1.1\r\n".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_used = 0.0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self._reader, self._writer = await asyncio.open_connection(self._target.host, self._target.port)
        return self._reader, self._writer

    async def post(self, body: bytes, headers: Headers = (), path: str = "") -> int:
        """POST ``body`` (with ``headers`` besides the target's, to ``path`` instead of the target's
        when given); a kept-alive socket the server closed meanwhile is replaced once, transparently.

        uvicorn drops connections idle for 5 s, so one idle longer than ``IDLE_RECONNECT_SECONDS`` is
        not reused; a reused socket that fails before any byte of the answer arrived is retried on a
        fresh one (the server never read that request).
        """
        reused = self._writer is not None and time.monotonic() - self._last_used < IDLE_RECONNECT_SECONDS
        if not reused:
            await self.aclose()
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers).encode() if headers else b""
        line = f"POST {path} HTTP/1.1\r\n".encode() if path else self._request_line
        try:
            return await self._exchange(body, extra, line)
        except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
        return await self._exchange(body, extra, line)

    async def _exchange(self, body: bytes, extra: bytes = b"", line: bytes = b"") -> int:
        if self._reader is None or self._writer is None:
            reader, writer = await self._connect()
        else:
            reader, writer = self._reader, self._writer
        try:
            writer.write(
                (line or self._request_line)
                + self._head
                + extra
                + b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lower = head.lower()
            if b"transfer-encoding: chunked" in lower:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                start = lower.find(b"content-length:")
                if start >= 0:
                    end = lower.index(b"\r\n", start)
                    await reader.readexactly(int(lower[start + 15 : end]))
            self._last_used = time.monotonic()
            if b"connection: close" in lower:
                await self.aclose()
            return status
        except (OSError, asyncio.IncompleteReadError, ValueError):
            await self.aclose()
            raise

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class HttpxClient:
    """The same through ``httpx.AsyncClient``: one client (one keep-alive connection) per slot.

    One client per slot rather than one shared pool: httpx's pool is slow to hand out connections
    to many concurrent requests, which would measure httpx rather than the server. ``verify=False``
    only skips loading the CA bundle for each client (the traffic is plain HTTP anyway).
    """

    def __init__(self, target: Target) -> None:
        import httpx

        self._client = httpx.AsyncClient(
            base_url=f"http://{target.host}:{target.port}",
            transport=httpx.AsyncHTTPTransport(
                verify=False, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)
            ),
            timeout=30.0,
        )
        self._path = target.path
        self._headers = {"Content-Type": "application/json", **dict(target.headers)}
        if target.token:
            self._headers["Authorization"] = f"Bearer {target.token}"

    async def post(self, body: bytes, headers: Headers = (), path: str = "") -> int:
        sent = {**self._headers, **dict(headers)} if headers else self._headers
        response = await self._client.post(path or self._path, content=body, headers=sent)
        return int(response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()


class SmtpClient:
    """One SMTP session kept open across mails, as a sending MTA reuses its connection: ``post``
    runs one transaction (``MAIL FROM``, ``RCPT TO``, ``DATA``) and returns the final reply code.

    ``body`` is the DATA payload (``email_payloads.smtp_data``: CRLF, dot-stuffed, ended by
    ``.``); the envelope sender comes as the ``mail-from`` header. ``data_started`` is when the
    ``DATA`` command went out, so the sender can report DATA → 250 (what the MTA waits for once
    the mail is handed over). Hand-written for the same reason as ``RawClient``: aiosmtplib costs
    the shared cores more than the server's own SMTP parsing.
    """

    def __init__(self, target: Target) -> None:
        self._target = target
        self._rcpt = f"RCPT TO:<{target.path}>\r\n".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.data_started = 0.0

    async def _reply(self) -> int:
        assert self._reader is not None
        while True:
            line = await self._reader.readuntil(b"\r\n")
            if line[3:4] != b"-":
                return int(line[:3])

    async def _command(self, line: bytes) -> int:
        assert self._writer is not None
        self._writer.write(line)
        return await self._reply()

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self._target.host, self._target.port)
        if await self._reply() != 220 or await self._command(b"EHLO bench.onethread.test\r\n") != 250:
            await self.aclose()
            raise ConnectionError("the SMTP server did not greet")

    async def post(self, body: bytes, headers: Headers = (), path: str = "") -> int:
        if self._writer is None:
            await self._connect()
        sender = dict(headers).get("mail-from", "")
        self.data_started = 0.0
        try:
            code = await self._command(f"MAIL FROM:<{sender}>\r\n".encode())
            if code == 250:
                code = await self._command(self._rcpt)
            if code == 250:
                self.data_started = time.monotonic()
                code = await self._command(b"DATA\r\n")
                if code == 354:
                    assert self._writer is not None
                    self._writer.write(body)
                    return await self._reply()
            await self._command(b"RSET\r\n")
            return code
        except (OSError, asyncio.IncompleteReadError, ValueError):
            await self.aclose()
            raise

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.write(b"QUIT\r\n")
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def make_client(kind: str, target: Target) -> Client:
    """A new connection slot: a raw keep-alive socket, an httpx client (``--client httpx``), or an
    SMTP session (``smtp``)."""
    if kind == "smtp":
        return SmtpClient(target)
    return HttpxClient(target) if kind == "httpx" else RawClient(target)


# ------------------------------------------------------------------------------------------------
# senders
# ------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class SendLog:
    """What the sender saw, per message ``seq``: intended and actual send times, response, status."""

    due: dict[int, float] = field(default_factory=dict)
    """When each message was due, answered or not (the others are filled in on an answer)."""
    intended: dict[int, float] = field(default_factory=dict)
    sent: dict[int, float] = field(default_factory=dict)
    answered: dict[int, float] = field(default_factory=dict)
    status: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    planned: int = 0
    started: float = 0.0
    finished: float = 0.0
    connections: int = 0
    cpu_seconds: float = 0.0

    def record(self, seq: int, intended: float, sent: float, status: int) -> None:
        self.intended[seq] = intended
        self.sent[seq] = sent
        self.answered[seq] = time.monotonic()
        self.status[seq] = status


BodyFactory = Callable[[int], bytes | Request]
"""Message ``seq``'s body, or its body and headers of its own."""


async def _post_one(client: Client, body: bytes | Request, log: SendLog, seq: int, intended: float) -> bool:
    log.due[seq] = intended
    sent = time.monotonic()
    try:
        if isinstance(body, Request):
            status = await client.post(body.body, body.headers, body.path)
        else:
            status = await client.post(body)
    except Exception as exc:
        log.errors.append(f"{seq}: {type(exc).__name__}: {exc}")
        return False
    # An SMTP transaction is timed from its DATA command (the envelope's round trips before it).
    log.record(seq, intended, getattr(client, "data_started", 0.0) or sent, status)
    return True


async def closed_loop(
    target: Target,
    body_for: BodyFactory,
    *,
    concurrency: int,
    max_messages: int,
    max_seconds: float,
    client_kind: str = "raw",
) -> SendLog:
    """``concurrency`` clients, each POSTing its next message as soon as the last one is answered.

    Stops after ``max_messages`` or ``max_seconds``, whichever comes first (saturation).
    """
    log = SendLog(connections=concurrency)
    next_seq = 0
    clients = [make_client(client_kind, target) for _ in range(concurrency)]
    cpu0 = time.process_time()
    log.started = time.monotonic()
    deadline = log.started + max_seconds

    async def worker(client: Client) -> None:
        nonlocal next_seq
        while next_seq < max_messages and time.monotonic() < deadline:
            seq = next_seq
            next_seq += 1
            body = body_for(seq)
            await _post_one(client, body, log, seq, time.monotonic())

    try:
        await asyncio.gather(*(worker(client) for client in clients))
    finally:
        log.planned = next_seq
        log.finished = time.monotonic()
        log.cpu_seconds = time.process_time() - cpu0
        await asyncio.gather(*(client.aclose() for client in clients), return_exceptions=True)
    return log


async def open_loop(
    target: Target,
    body_for: BodyFactory,
    *,
    rate: float,
    seconds: float,
    max_connections: int,
    drain_seconds: float = 10.0,
    client_kind: str = "raw",
) -> SendLog:
    """POST at a fixed ``rate`` for ``seconds``, whatever the responses do (open loop).

    Message ``i`` is due at ``start + i / rate``; it goes out on an idle keep-alive connection, or a
    new one when all are busy (up to ``max_connections``). Latency is measured from the due time,
    so a generator or server that falls behind shows up in the figures instead of hiding. Answers
    still outstanding ``drain_seconds`` after the last due time are given up (``SendLog.planned``
    minus the answered and failed ones), which keeps a run against a slow server bounded in time.
    """
    total = round(rate * seconds)
    log = SendLog(planned=total)
    idle: list[Client] = []
    slots = asyncio.Semaphore(max_connections)
    opened = 0
    tasks: set[asyncio.Task[None]] = set()

    async def send(seq: int, due: float) -> None:
        nonlocal opened
        log.due[seq] = due
        async with slots:
            if idle:
                client = idle.pop()
            else:
                client = make_client(client_kind, target)
                opened += 1
            ok = await _post_one(client, body_for(seq), log, seq, due)
            if ok:
                idle.append(client)
            else:
                await client.aclose()

    cpu0 = time.process_time()
    log.started = start = time.monotonic() + 0.01
    try:
        for seq in range(total):
            due = start + seq / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(send(seq, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=drain_seconds)
    finally:
        log.finished = time.monotonic()
        log.cpu_seconds = time.process_time() - cpu0
        log.connections = opened
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(client.aclose() for client in idle), return_exceptions=True)
    return log


# ------------------------------------------------------------------------------------------------
# the receiver process
# ------------------------------------------------------------------------------------------------
class _Frame(msgspec.Struct):
    type: str = ""
    data: dict[str, Any] | None = None


@dataclass(slots=True)
class _Arrivals:
    by_tag: dict[str, dict[int, float]] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    others: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


async def _read_frames(ws: Any, arrivals: _Arrivals) -> None:
    decoder = msgspec.json.Decoder(_Frame)
    async for raw in ws:
        now = time.monotonic()
        arrivals.frames += 1
        frame = decoder.decode(raw)
        if frame.type != "message.created" or not frame.data:
            arrivals.others += 1
            continue
        found = _marker_of(frame.data.get("message") or {})
        if found is None:
            arrivals.others += 1
            continue
        tag, seq = found.group(1), int(found.group(2))
        seen = arrivals.by_tag.setdefault(tag, {})
        if seq in seen:
            arrivals.duplicates[tag] = arrivals.duplicates.get(tag, 0) + 1
        else:
            seen[seq] = now
        arrivals.changed.set()


async def _collect(
    arrivals: _Arrivals, tag: str, expected: int, idle_seconds: float, max_seconds: float
) -> dict[int, float]:
    """Wait until ``expected`` arrivals of ``tag`` are in, none came for ``idle_seconds``, or
    ``max_seconds`` have passed."""
    deadline = time.monotonic() + max_seconds
    while len(arrivals.by_tag.get(tag, {})) < expected:
        arrivals.changed.clear()
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            await asyncio.wait_for(arrivals.changed.wait(), timeout=min(idle_seconds, left))
        except TimeoutError:
            break
    return arrivals.by_tag.pop(tag, {})


async def _receive(conn: Connection, ws_url: str) -> None:
    from websockets.asyncio.client import connect

    async with connect(ws_url, max_size=None, ping_interval=None, open_timeout=15) as ws:
        first = msgspec.json.decode(await ws.recv())
        if first.get("type") != "ready":
            raise RuntimeError(f"expected a ready frame, got {first!r}")
        arrivals = _Arrivals()
        reader = asyncio.create_task(_read_frames(ws, arrivals))
        conn.send(("ready", None))
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command[0] == "stop":
                break
            _, tag, expected, idle_seconds, max_seconds = command
            got = await _collect(arrivals, tag, expected, idle_seconds, max_seconds)
            if reader.done():
                error = reader.exception()
                conn.send(("closed", repr(error)))
                return
            conn.send(
                (
                    "arrivals",
                    {
                        "arrivals": got,
                        "duplicates": arrivals.duplicates.pop(tag, 0),
                        "frames": arrivals.frames,
                        "other_frames": arrivals.others,
                        "cpu_seconds": time.process_time(),
                    },
                )
            )
        reader.cancel()


def receiver_main(conn: Connection, ws_url: str) -> None:
    """Entry point of the receiver process: one agent websocket, arrivals stamped as they come."""
    try:
        import uvloop

        uvloop.run(_receive(conn, ws_url))
    except Exception as exc:
        with contextlib.suppress(Exception):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()
