"""What every browser test shares: Debian's Chromium, a real ``onethread serve`` on a SQLite copy
with one admin, and a logged-in page that records script and console errors.

Playwright's own browser downloads are never used (``executable_path``). Screenshots go to
``tests/e2e/screenshots/`` (git-ignored) for a person to look at; take them with
``caret="initial"``: hiding the caret makes Playwright put ``style`` attributes on the page, and
htmx settling a swap at that moment copies one, which the console's CSP then reports as an error.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from app.settings import Settings
from tests.conftest import RUN_ID, SECRET
from tests.helpers import PASSWORD
from tests.processes import ServerGroup, ServerProcess, create_agent

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_EMAIL = "ada@example.com"


@pytest.fixture
def chromium() -> Path:
    """Debian's browser; missing means a broken set-up, so the test fails rather than skips."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is required for the browser tests (apt-get install chromium)")
    SCREENSHOTS.mkdir(exist_ok=True)
    return CHROMIUM


@dataclass
class ConsoleServer:
    """A running ``onethread serve`` (embedded shape) and what it was started with."""

    process: ServerProcess
    env: dict[str, str]
    database_url: str
    group: ServerGroup

    def settings(self) -> Settings:
        """Settings for a writer on the server's own database (seeding what has no HTTP door yet)."""
        return Settings(database_url=self.database_url, secret_key=SECRET)


@asynccontextmanager
async def serve_console(sqlite_template: Path, directory: Path) -> AsyncIterator[ConsoleServer]:
    """The server on a copy of the template in ``directory``, with Ada Agent; stopped on exit."""
    db = directory / "onethread.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite+aiosqlite:///{db}"
    env = {
        "ONETHREAD_DATABASE_URL": url,
        "ONETHREAD_SECRET_KEY": SECRET,
        "ONETHREAD_VAR_DIR": str(directory / "var"),
        "ONETHREAD_LOGIN_RATE_LIMIT": "10000",
        "ONETHREAD_JOB_QUEUE": f"onethread:test:{RUN_ID}:{uuid.uuid4().hex[:6]}",
    }
    group = ServerGroup(directory / "logs")
    try:
        await create_agent(env, ADMIN_EMAIL, PASSWORD, admin=True, name="Ada Agent")
        yield ConsoleServer(await group.start(env, name="console"), env, url, group)
    finally:
        group.stop_all()


@pytest.fixture
async def console_server(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    """The server, with Ada Agent (an admin, password ``tests.helpers.PASSWORD``)."""
    async with serve_console(sqlite_template, tmp_path) as server:
        yield server


def watch_errors(page: Page) -> list[str]:
    """Script errors and console errors (CSP violations among them) the page logs from now on."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console", lambda msg: errors.append(f"{msg.text} {msg.location}") if msg.type == "error" else None
    )
    return errors


async def log_in(page: Page, url: str, email: str = ADMIN_EMAIL) -> None:
    """Log in through the form, as a person does, and wait for the inbox."""
    await page.goto(f"{url}/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
