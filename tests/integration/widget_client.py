"""A widget visitor as the iframe's script talks to the API: a session token, sends, reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from app.domain.channels.accounts import do_add_channel_account
from app.domain.realtime.writer import Writer
from app.domain.widget.tokens import user_hash

SITE_ORIGIN = "https://shop.example"


@dataclass
class WidgetSite:
    """A webchat account: its id (the ``data-site``) and the identity secret its server signs with."""

    id: str
    identity_secret: str

    def hash(self, user_id: str) -> str:
        return user_hash(self.identity_secret, user_id)


async def add_site(writer: Writer, origins: tuple[str, ...] = (SITE_ORIGIN,), **config: Any) -> WidgetSite:
    created = await do_add_channel_account(
        writer, channel="webchat", name="Shop website", config={"origins": list(origins), **config}
    )
    return WidgetSite(created.account.id, created.secrets["signing_secret"])


@dataclass
class Visitor:
    client: httpx.AsyncClient
    site: WidgetSite
    token: str = ""
    session: dict[str, Any] | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def open(
        self, expect: int = 200, origin: str | None = SITE_ORIGIN, **fields: Any
    ) -> httpx.Response:
        body = {"site": self.site.id, **fields}
        if self.token and "visitor_token" not in fields:
            body["visitor_token"] = self.token
        headers = {"Origin": origin} if origin else {}
        response = await self.client.post("/widget/v1/sessions", json=body, headers=headers)
        assert response.status_code == expect, response.text
        if response.status_code == 200:
            self.session = response.json()
            self.token = self.session["visitor_token"]
        return response

    async def identify(self, user_id: str, **fields: Any) -> httpx.Response:
        return await self.open(user_id=user_id, user_hash=self.site.hash(user_id), **fields)

    async def send(self, text: str, client_id: str | None = None, expect: int | None = 201) -> httpx.Response:
        response = await self.client.post(
            "/widget/v1/messages",
            json={"text": text, "client_id": client_id or uuid.uuid4().hex},
            headers=self.headers,
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    async def messages(self, expect: int = 200, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/widget/v1/messages", params=params, headers=self.headers)
        assert response.status_code == expect, response.text
        return response.json()["items"] if expect == 200 else []

    async def texts(self) -> list[str]:
        return [m["text"] for m in await self.messages()]
