"""A handoff reaches agents live: real ``onethread serve`` processes (embedded; PostgreSQL + Redis with
two app processes), the bot's rules imported with the CLI, a customer asking for a person, and an
agent's console inbox (filtered to ``open``) receiving the thread's row over its websocket."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import truncate_postgres
from tests.integration.bot_helpers import DEMO, DEMO_RULES_FILE
from tests.integration.test_console_live import Browser, Site, _env, _start, inbound, thread_id_of
from tests.processes import ServerGroup, cli, command, process_env


@pytest.fixture(params=["embedded", "production"])
async def site(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Site]:
    if request.param == "embedded":
        db = tmp_path / "onethread.db"
        shutil.copy(sqlite_template, db)
        env = {**_env(tmp_path), "ONETHREAD_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
        names = ["bot-live-embedded"]
    else:
        pg_url, redis_url = request.getfixturevalue("pg_url"), request.getfixturevalue("redis_url")
        await truncate_postgres(pg_url)
        env = {**_env(tmp_path), "ONETHREAD_DATABASE_URL": pg_url, "ONETHREAD_REDIS_URL": redis_url}
        names = ["bot-live-pg-a", "bot-live-pg-b"]
    group = ServerGroup(tmp_path / "logs")
    worker: asyncio.subprocess.Process | None = None
    try:
        started = await _start(group, env, names)
        await cli(env, "bot", "import", str(DEMO_RULES_FILE))
        if request.param == "production":
            # App processes only enqueue there: the bot's turn runs in the worker, as in production.
            with (tmp_path / "logs" / "worker.log").open("ab") as log:
                worker = await asyncio.create_subprocess_exec(
                    *command("worker"), env=process_env(env), stdout=log, stderr=asyncio.subprocess.STDOUT
                )
        yield started
    finally:
        if worker is not None and worker.returncode is None:
            worker.terminate()
            try:
                await asyncio.wait_for(worker.wait(), 15)
            except TimeoutError:
                worker.kill()
                await worker.wait()
        group.stop_all()


async def test_medewerker_hands_over_and_the_thread_appears_live_in_the_open_inbox(site: Site) -> None:
    ada = await Browser(site.servers[0]).login("ada@example.com")
    page = await ada.socket(await ada.live_url("/?status=open"))
    try:
        await page.ready()
        # Written to the last process: with two, the handoff crosses from one to the other by Redis.
        await inbound(site, "Ik wil een medewerker spreken", contact="mila-1", name="Mila Mulder", server=-1)

        fragment = await page.until(lambda text: "Mila Mulder" in text and "afterbegin" in text, within=20)

        thread_id = await thread_id_of(ada, "Mila Mulder")
        assert f'id="thread-{thread_id}"' in fragment
        detail = (await ada.http.get(f"/api/v1/threads/{thread_id}")).json()
        assert detail["thread"]["status"] == "open"
        timeline = (await ada.http.get(f"/api/v1/threads/{thread_id}/messages")).json()["items"]
        assert [m["text"] for m in timeline if m["kind"] == "system"] == [
            "Bot handed over: the customer asked for a person"
        ]
        # The API channel here has no callback URL, so the bot could not tell the customer; the
        # thread is with people all the same.
        assert DEMO.handoff_message["nl"] not in [m["text"] for m in timeline]
    finally:
        await page.close()
        await ada.aclose()
