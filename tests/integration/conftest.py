"""Fixtures the integration tests share: a logged-in console client, settings for CLI runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from litestar import Litestar

from app.domain.accounts.actions import do_create_agent
from app.settings import Settings
from tests.conftest import base_settings
from tests.console import login
from tests.helpers import PASSWORD


@pytest.fixture
def embedded(sqlite_template: Path, tmp_path: Path) -> Settings:
    """Settings on a fresh embedded database, for commands run as the operator runs them (the CLI
    runs the same code on both shapes; the embedded one is the operator's first contact)."""
    db = tmp_path / "cli.db"
    shutil.copy(sqlite_template, db)
    return base_settings(database_url=f"sqlite+aiosqlite:///{db}", var_dir=tmp_path / "var")


@pytest.fixture
async def agent_client(client: httpx.AsyncClient, app: Litestar) -> httpx.AsyncClient:
    """The test client, logged in to the console as Ada Agent (an agent, not an admin)."""
    await do_create_agent(app.state.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
    response = await login(client)
    assert response.status_code == 303, response.text
    return client
