"""A real HTTP/1.1 server on 127.0.0.1 that stands in for a custom channel's callback receiver.

It speaks the protocol over a socket (asyncio streams, no framework), so the code under test uses
its real HTTP client: DNS-free connect, request bytes on the wire, status codes, headers. Every
request is recorded with its raw body bytes and headers; ``answer_next`` scripts the replies.

    async with CallbackServer() as server:
        server.answer_next(500, count=2)
        server.answer_next(429, headers={"Retry-After": "1"})
        ...  # point the account's callback_url at server.url
        [request] = await server.wait_for(1)
        request.json()["text"]

Replies not scripted are ``200`` with ``{"ok": true}`` and an ``X-Message-Id`` header.
Each connection carries one request (``Connection: close``), so the client never reuses a socket
that the server may already have dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any

MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived: header names lower-cased, body exactly the bytes received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    """``time.monotonic()`` when the request was complete."""

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def is_multipart(self) -> bool:
        return self.headers.get("content-type", "").lower().startswith("multipart/form-data")

    def form_parts(self) -> list[FormPart]:
        """The parts of a ``multipart/form-data`` body, in order (``[]`` for any other body)."""
        return parse_multipart(self.headers.get("content-type", ""), self.body)


@dataclass(frozen=True)
class FormPart:
    """One field of a multipart form: a file part has a ``filename``; ``data`` is its exact bytes."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode()


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    """``form-data; name="photo"; filename="a.jpg"`` → ``("form-data", {"name": …, "filename": …})``."""
    main, *rest = value.split(";")
    params: dict[str, str] = {}
    for item in rest:
        key, _, raw = item.strip().partition("=")
        params[key.lower()] = raw.strip().strip('"')
    return main.strip().lower(), params


def parse_multipart(content_type: str, body: bytes) -> list[FormPart]:
    """Split a ``multipart/form-data`` body (RFC 7578) the way a receiving server does."""
    kind, params = _header_params(content_type)
    boundary = params.get("boundary")
    if kind != "multipart/form-data" or not boundary:
        return []
    parts: list[FormPart] = []
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        _, disposition = _header_params(headers.get("content-disposition", ""))
        parts.append(
            FormPart(
                name=disposition.get("name", ""),
                data=data.removesuffix(b"\r\n"),
                filename=disposition.get("filename"),
                content_type=headers.get("content-type"),
            )
        )
    return parts


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok":true}'


def free_port() -> int:
    """A TCP port nothing listens on right now (for "the receiver is down" tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CallbackServer:
    """Records requests; answers from a script, then ``200``."""

    def __init__(self, port: int = 0, *, path: str = "/callback", latency: float = 0.0) -> None:
        self._port = port
        self.path = path
        self.latency = latency
        """Seconds to wait before answering (makes concurrent senders overlap)."""
        self.requests: list[RecordedRequest] = []
        self._script: deque[Reply | None] = deque()
        """Scripted answers in order; ``None`` stands for the default answer (``answer_default``)."""
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Condition()
        self._handlers: set[asyncio.Task[None]] = set()
        self._hold_after: int | None = None
        self._answering = asyncio.Event()
        self._answering.set()

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> CallbackServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self._port)
        self._port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> CallbackServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}{self.path}"

    # -- scripting and inspection ---------------------------------------------------------------
    def answer_next(
        self, status: int, *, count: int = 1, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> None:
        """The next ``count`` requests (after those already scripted) get this answer."""
        for _ in range(count):
            self._script.append(Reply(status, dict(headers or {}), body))

    def answer_default(self, *, count: int = 1) -> None:
        """The next ``count`` requests get the usual answer: a refusal scripted after them then
        hits a later request (the second part of a split message, say)."""
        self._script.extend(None for _ in range(count))

    def hold(self, after: int) -> None:
        """Receive (and record) requests as usual, but answer none after the first ``after`` until
        ``release``: a platform that has the requests and has not answered yet (fault tests)."""
        self._hold_after = after
        self._answering.clear()

    def release(self) -> None:
        """Answer the held requests (to senders still there) and every later one."""
        self._hold_after = None
        self._answering.set()

    async def wait_for(self, count: int, within: float = 10.0) -> list[RecordedRequest]:
        """Wait until at least ``count`` requests arrived; return all of them."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return list(self.requests)

    # -- the protocol -----------------------------------------------------------------------------
    def default_reply(self, request: RecordedRequest, number: int) -> Reply:
        """The answer to a request nothing was scripted for (``number`` counts from 1).

        A receiver's 200 with an ``X-Message-Id``; fakes of other platforms override it.
        """
        return Reply(headers={"X-Message-Id": f"cb-{number}"})

    def scripted_reply(self, request: RecordedRequest) -> Reply | None:
        """The scripted answer for this request, if any (fakes with several endpoints script each)."""
        return self._script.popleft() if self._script else None

    def recorded(self, request: RecordedRequest) -> list[RecordedRequest]:
        """The list this request is recorded in (``requests``; fakes may keep other calls apart)."""
        return self.requests

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            request = await self._read_request(reader)
            if request is None:
                return
            reply = self.scripted_reply(request)
            async with self._arrived:
                self.recorded(request).append(request)
                number = len(self.requests)
                self._arrived.notify_all()
            if self.latency:
                await asyncio.sleep(self.latency)
            if self._hold_after is not None and number > self._hold_after:
                await self._answering.wait()
            writer.write(_response(reply or self.default_reply(request, len(self.requests))))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> RecordedRequest | None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEADER_BYTES:
            return None
        request_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        return RecordedRequest(method, target, headers, body, time.monotonic())


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _response(reply: Reply) -> bytes:
    reason = HTTPStatus(reply.status).phrase if reply.status in HTTPStatus._value2member_map_ else "Status"
    headers = {
        "Content-Type": "application/json",
        **reply.headers,
        "Content-Length": str(len(reply.body)),
        "Connection": "close",
    }
    lines = [f"HTTP/1.1 {reply.status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body
