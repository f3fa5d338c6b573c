"""Production shape with a separate worker: the app only enqueues to the Redis stream, a real
``onethread worker`` process (its own interpreter, configured only through the environment)
delivers to a real HTTP receiver, and shuts down cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import pytest

from app.settings import Settings
from tests.conftest import SECRET
from tests.fakes.callback_server import CallbackServer
from tests.fakes.delivery import (
    message_events,
    message_row,
    reply,
    statuses,
    wait_for_status,
)
from tests.helpers import Api


@pytest.fixture
def shape() -> str:
    return "production"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(run_worker_in_process=False)


class Worker:
    """``onethread worker`` as a child process, its output collected line by line."""

    def __init__(self, settings: Settings, var_dir: Path) -> None:
        self.env = {
            **os.environ,
            "ONETHREAD_DATABASE_URL": settings.database_url,
            "ONETHREAD_REDIS_URL": settings.redis_url,
            "ONETHREAD_SECRET_KEY": SECRET,
            "ONETHREAD_JOB_QUEUE": settings.job_queue,
            "ONETHREAD_DELIVERY_BACKOFF_BASE": str(settings.delivery_backoff_base),
            "ONETHREAD_DELIVERY_MAX_ATTEMPTS": str(settings.delivery_max_attempts),
            "ONETHREAD_VAR_DIR": str(var_dir),
        }
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        script = Path(sys.executable).with_name("onethread")
        command = [str(script)] if script.exists() else [sys.executable, "-m", "app"]
        self.process = await asyncio.create_subprocess_exec(
            *command,
            "worker",
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())
        await self.wait_for_line("worker started", within=30)

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for raw in self.process.stdout:
            async with self._changed:
                self.lines.append(raw.decode(errors="replace").rstrip())
                self._changed.notify_all()

    async def wait_for_line(self, needle: str, within: float = 10.0) -> None:
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: any(needle in line for line in self.lines))
        except TimeoutError:
            raise AssertionError(f"worker never said {needle!r}:\n" + "\n".join(self.lines)) from None

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(15):
                code = await self.process.wait()
        except TimeoutError:
            self.process.kill()
            code = await self.process.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
        return code


async def test_separate_worker_process_delivers(api: Api, settings: Settings, tmp_path: Path) -> None:
    async with CallbackServer() as server:
        channel = await api.add_api_channel(callback_url=server.url)
        inbound = await api.inbound(channel, "Hello from the shop", contact_id="cust-5")
        server.answer_next(503, headers={"Retry-After": "0"})

        body = await reply(api, inbound["thread_id"], "Hello from the agent")
        await asyncio.sleep(0.3)
        # The app process only enqueued: nothing was sent, the message waits in the stream.
        assert server.requests == []
        assert (await message_row(api.writer, body["id"])).delivery_status == "queued"

        worker = Worker(settings, tmp_path / "worker-var")
        await worker.start()
        try:
            message = await wait_for_status(api.writer, body["id"], within=20)
            requests = await server.wait_for(2)
        finally:
            code = await worker.stop()

    assert message.delivery_status == "sent", "\n".join(worker.lines)
    assert [r.json()["text"] for r in requests] == ["Hello from the agent"] * 2
    assert all(r.headers["idempotency-key"] == f"onethread-message-{body['id']}" for r in requests)
    assert [s for _, s, _ in statuses(await message_events(api.writer, body["id"]))] == [
        "queued",
        "queued",
        "sent",
    ]
    assert code == 0, "\n".join(worker.lines)
    assert any("worker stopped" in line for line in worker.lines)
