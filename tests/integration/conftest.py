"""Fixtures the console's integration tests share."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from app.domain.accounts.actions import do_create_agent
from tests.console import login
from tests.helpers import PASSWORD


@pytest.fixture
async def agent_client(client: httpx.AsyncClient, app: Litestar) -> httpx.AsyncClient:
    """The test client, logged in to the console as Ada Agent (an agent, not an admin)."""
    await do_create_agent(app.state.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
    response = await login(client)
    assert response.status_code == 303, response.text
    return client
