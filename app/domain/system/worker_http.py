"""The worker's small HTTP port (``ONETHREAD_WORKER_METRICS_PORT``): ``/health``, ``/ready``, ``/metrics``.

Delivery failures and the bot's outcomes are counted where jobs run, which in production is
``onethread worker``, not the web processes; Prometheus scrapes it here, and compose's healthcheck
asks ``/ready``. Answers are the same as the web app's (same checks, same token rule). This is a
few lines of asyncio rather than a second web framework in the worker: three GET routes, one
request per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from app.domain.channels.jobs import Jobs
from app.domain.system.metrics import exposition, refresh_queue_depth, token_ok
from app.domain.system.readiness import Readiness
from app.settings import Settings

log = logging.getLogger(__name__)

MAX_HEAD = 8192
READ_TIMEOUT = 5.0


class WorkerStatus:
    def __init__(self, settings: Settings, jobs: Jobs, readiness: Readiness) -> None:
        self.settings = settings
        self.jobs = jobs
        self.readiness = readiness
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port)
        log.info("worker status on http://%s:%s (/health, /ready, /metrics)", host, port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            status, content_type, body, extra = await self.answer(head[:MAX_HEAD])
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            writer.close()
            return
        headers = [
            f"HTTP/1.1 {status}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *extra,
        ]
        with contextlib.suppress(ConnectionError):
            writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + body)
            await writer.drain()
        writer.close()

    async def answer(self, head: bytes) -> tuple[str, str, bytes, list[str]]:
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:] if ":" in line)
        }
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET only\n", ["Allow: GET, HEAD"]
        if path == "/health":
            return "200 OK", "application/json", b'{"status":"ok"}', []
        if path == "/ready":
            checks = await self.readiness.check()
            ok = all(state == "ok" for state in checks.values())
            body = json.dumps({"status": "ok" if ok else "unavailable", "checks": checks}).encode()
            return ("200 OK" if ok else "503 Service Unavailable"), "application/json", body, []
        if path == "/metrics":
            if not token_ok(self.settings.metrics_token, headers.get("authorization", "")):
                return (
                    "401 Unauthorized",
                    "text/plain",
                    b"metrics token required\n",
                    ['WWW-Authenticate: Bearer realm="metrics"'],
                )
            await refresh_queue_depth(self.jobs, self.readiness.redis, self.settings.job_queue)
            body, content_type = exposition()
            return "200 OK", content_type, body, []
        return "404 Not Found", "text/plain", b"not found\n", []
