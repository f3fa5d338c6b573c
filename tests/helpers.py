"""Small helpers for talking to the app the way its clients do (HTTP, JSON)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from litestar import Litestar

from app.domain.accounts.actions import do_create_agent
from app.domain.channels.accounts import do_add_channel_account
from app.domain.realtime.writer import Writer

PASSWORD = "correct horse battery staple"


@dataclass
class ApiChannel:
    """A custom-channel account: its id, inbound token and signing secret."""

    id: str
    token: str
    signing_secret: str


@dataclass
class Api:
    client: httpx.AsyncClient
    app: Litestar
    token: str
    agent_id: int
    channels: dict[str, ApiChannel] = field(default_factory=dict)

    @property
    def writer(self) -> Writer:
        return self.app.state.writer  # type: ignore[no-any-return]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @classmethod
    async def login(
        cls,
        client: httpx.AsyncClient,
        app: Litestar,
        *,
        email: str = "admin@example.com",
        role: str = "admin",
    ) -> Api:
        writer: Writer = app.state.writer
        agent = await do_create_agent(writer, email=email, name="Ada Admin", password=PASSWORD, role=role)
        response = await client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return cls(client=client, app=app, token=response.json()["token"], agent_id=agent.id or 0)

    async def add_api_channel(
        self, name: str = "Order system", callback_url: str | None = None
    ) -> ApiChannel:
        config = {"callback_url": callback_url} if callback_url else {}
        created = await do_add_channel_account(self.writer, channel="api", name=name, config=config)
        channel = ApiChannel(
            created.account.id, created.secrets["inbound_token"], created.secrets["signing_secret"]
        )
        self.channels[name] = channel
        return channel

    async def inbound(
        self,
        channel: ApiChannel,
        text: str,
        *,
        contact_id: str = "c-1",
        external_id: str | None = None,
        expect: int = 202,
        **contact: Any,
    ) -> dict[str, Any]:
        body = {
            "external_id": external_id or uuid.uuid4().hex,
            "contact": {"external_id": contact_id, **contact},
            "text": text,
        }
        response = await self.client.post(
            f"/api/v1/channels/{channel.id}/inbound",
            json=body,
            headers={"Authorization": f"Bearer {channel.token}"},
        )
        assert response.status_code == expect, response.text
        return response.json()  # type: ignore[no-any-return]

    async def get(self, path: str, expect: int = 200, **params: Any) -> Any:
        response = await self.client.get(path, headers=self.headers, params=params or None)
        assert response.status_code == expect, response.text
        return response.json()

    async def post(self, path: str, body: Any, expect: int | None = None) -> Any:
        response = await self.client.post(path, json=body, headers=self.headers)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    async def patch(self, path: str, body: Any, expect: int = 200) -> Any:
        response = await self.client.patch(path, json=body, headers=self.headers)
        assert response.status_code == expect, response.text
        return response.json()

    async def timeline(self, thread_id: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": 200, **({"before": cursor} if cursor else {})}
            page = await self.get(f"/api/v1/threads/{thread_id}/messages", **params)
            items = page["items"] + items
            cursor = page["next_cursor"]
            if not cursor:
                return items
