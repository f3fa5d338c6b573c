"""One seeded installation the attack tests share: agents, sites, visitors, channels, a victim.

Seeding takes a while next to a single request, and the attack tests only read (or are refused),
so each module builds the world once: an embedded app run by Litestar's ``TestClient`` (which also
speaks websockets), two agents and a spare one, two widget sites, three visitors, one account per
channel. The *victim* is a visitor of site A whose thread holds a secret text and a file; every
other role tries to reach it.

Each request names its role; the client's cookie jar is emptied first, so a role carries exactly
the credentials it was given and nothing another role's response left behind.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from litestar.testing import TestClient

from app.core import create_app
from app.domain.accounts import passwords
from app.domain.accounts.actions import do_create_agent
from app.domain.canned.actions import do_create_canned_response
from app.domain.channels.accounts import do_add_channel_account
from app.domain.realtime.writer import Writer
from app.settings import Settings
from tests.conftest import base_settings
from tests.helpers import PASSWORD
from tests.integration.widget_client import SITE_ORIGIN

VICTIM_SECRET = "victim-secret-7f3a9c"
"""Text only the victim's thread holds; no other visitor may ever see it."""
OTHER_A_TEXT = "other-visitor-same-site-41b2"
OTHER_SITE_TEXT = "visitor-of-site-b-8e11"
SITE_B_ORIGIN = "https://other-shop.example"
APP_SECRET = "messenger-app-secret-0123456789"
VERIFY_TOKEN = "messenger-verify-token"
PAGE_ID = "1029384756"
TELEGRAM_SECRET = "tg-webhook_secret-0123456789"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\xbd\xfa\x00\x00\x00\x00IEND\xaeB`\x82"
)


@dataclass
class Role:
    """What one caller holds: a bearer token, console cookies (with the page's CSRF token)."""

    name: str
    bearer: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str | None = None


@dataclass
class World:
    client: TestClient[Any]
    settings: Settings
    roles: dict[str, Role]
    ids: dict[str, Any]

    @property
    def writer(self) -> Writer:
        return self.client.app.state.writer  # type: ignore[no-any-return]

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run an async action on the app's own loop."""

        async def run() -> Any:
            return await fn(*args, **kwargs)

        return self.client.blocking_portal.call(run)

    def request(
        self,
        role: Role | str,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        use_bearer: bool = True,
        use_cookies: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        who = self.roles[role] if isinstance(role, str) else role
        self.client.cookies.clear()
        sent = dict(headers or {})
        if use_bearer and who.bearer and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {who.bearer}"
        if use_cookies and who.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in who.cookies.items())
        try:
            return self.client.request(method, url, headers=sent, follow_redirects=False, **kwargs)
        finally:
            self.client.cookies.clear()

    def count(self, table: str) -> int:
        """Rows in ``table`` (what an attack must leave unchanged)."""
        from sqlalchemy import text

        async def run() -> int:
            async with self.writer.sessionmaker() as session:
                return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())

        return self.client.blocking_portal.call(run)  # type: ignore[no-any-return]

    def counts(self) -> dict[str, int]:
        return {t: self.count(t) for t in ("messages", "contacts", "threads", "identities", "attachments")}


def csrf_field(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return unescape(match.group(1))


def console_login(
    client: TestClient[Any], email: str, password: str = PASSWORD
) -> tuple[dict[str, str], str]:
    """Log in through the form as a browser does; the cookies it ends with and the page's CSRF token."""
    client.cookies.clear()
    page = client.get("/login")
    token = csrf_field(page.text)
    response = client.post(
        "/login", data={"email": email, "password": password, "_csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    cookies = dict(client.cookies.items())
    client.cookies.clear()
    return cookies, token


def _api_token(client: TestClient[Any], email: str) -> str:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def _visitor(
    client: TestClient[Any], site: str, origin: str, text: str, *, file: bool = False
) -> dict[str, Any]:
    client.cookies.clear()
    session = client.post("/widget/v1/sessions", json={"site": site}, headers={"Origin": origin})
    assert session.status_code == 200, session.text
    token = session.json()["visitor_token"]
    auth = {"Authorization": f"Bearer {token}"}
    if file:
        sent = client.post(
            "/widget/v1/messages",
            data={"text": text, "client_id": uuid.uuid4().hex},
            files={"file": ("receipt.png", PNG, "image/png")},
            headers=auth,
        )
    else:
        sent = client.post(
            "/widget/v1/messages", json={"text": text, "client_id": uuid.uuid4().hex}, headers=auth
        )
    assert sent.status_code == 201, sent.text
    message = sent.json()
    opened = client.post(
        "/widget/v1/sessions", json={"site": site, "visitor_token": token}, headers={"Origin": origin}
    )
    return {"token": token, "message": message, **opened.json()}


def _seed(world: World) -> None:
    client, writer = world.client, world.writer
    admin = world.call(
        do_create_agent, writer, email="admin@example.com", name="Ada Admin", password=PASSWORD, role="admin"
    )
    world.call(do_create_agent, writer, email="agent@example.com", name="Bo Agent", password=PASSWORD)
    spare = world.call(do_create_agent, writer, email="spare@example.com", name="Spare", password=PASSWORD)
    site_a = world.call(
        do_add_channel_account, writer, channel="webchat", name="Shop A", config={"origins": [SITE_ORIGIN]}
    )
    site_b = world.call(
        do_add_channel_account, writer, channel="webchat", name="Shop B", config={"origins": [SITE_B_ORIGIN]}
    )
    api = world.call(do_add_channel_account, writer, channel="api", name="Orders")
    spare_channel = world.call(do_add_channel_account, writer, channel="api", name="Spare channel")
    messenger = world.call(
        do_add_channel_account,
        writer,
        channel="messenger",
        name="Shop page",
        config={"page_id": PAGE_ID, "graph_url": "http://127.0.0.1:9"},
        secrets={"page_token": "EAAB-page-token", "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    )
    telegram = world.call(
        do_add_channel_account,
        writer,
        channel="telegram",
        name="Shop bot",
        config={"api_url": "http://127.0.0.1:9"},
        secrets={
            "bot_token": "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "webhook_secret": TELEGRAM_SECRET,
        },
    )
    email = world.call(
        do_add_channel_account,
        writer,
        channel="email",
        name="Support mail",
        config={"address": "support@shop.example", "smtp_url": "smtp://127.0.0.1:9"},
    )
    canned = world.call(
        do_create_canned_response, writer, agent=admin, shortcut="hi", title="Hello", text="Hello there"
    )
    victim = _visitor(client, site_a.account.id, SITE_ORIGIN, VICTIM_SECRET, file=True)
    other_a = _visitor(client, site_a.account.id, SITE_ORIGIN, OTHER_A_TEXT)
    other_site = _visitor(client, site_b.account.id, SITE_B_ORIGIN, OTHER_SITE_TEXT)
    # The admin's erase cells erase someone: never the victim the other cells aim at.
    erasable = _visitor(client, site_b.account.id, SITE_B_ORIGIN, "erase me")
    attachment = victim["message"]["attachments"][0]
    world.ids.update(
        admin_id=admin.id,
        spare_agent=spare.id,
        site_a=site_a.account.id,
        site_b=site_b.account.id,
        api=api,
        spare_channel=spare_channel.account.id,
        messenger=messenger.account.id,
        telegram=telegram.account.id,
        email=email,
        canned=canned.id,
        thread=victim["thread_id"],
        contact=victim["contact_id"],
        erasable_contact=erasable["contact_id"],
        message=victim["message"]["id"],
        attachment=attachment["id"],
        attachment_url=attachment["url"],
        other_a_thread=other_a["thread_id"],
        other_site_thread=other_site["thread_id"],
    )
    admin_cookies, admin_csrf = console_login(client, "admin@example.com")
    agent_cookies, agent_csrf = console_login(client, "agent@example.com")
    # Anybody can fetch the login page and get a CSRF token: giving one to every role keeps the
    # matrix about authorization (a missing CSRF token is tested on its own).
    client.cookies.clear()
    anon_page = client.get("/login")
    anon_cookies, anon_csrf = dict(client.cookies.items()), csrf_field(anon_page.text)
    client.cookies.clear()
    world.roles.update(
        anonymous=Role("anonymous", cookies=anon_cookies, csrf=anon_csrf),
        visitor_other_site=Role(
            "visitor_other_site", bearer=other_site["token"], cookies=anon_cookies, csrf=anon_csrf
        ),
        visitor_other_thread=Role(
            "visitor_other_thread", bearer=other_a["token"], cookies=anon_cookies, csrf=anon_csrf
        ),
        agent=Role(
            "agent", bearer=_api_token(client, "agent@example.com"), cookies=agent_cookies, csrf=agent_csrf
        ),
        admin=Role(
            "admin", bearer=_api_token(client, "admin@example.com"), cookies=admin_cookies, csrf=admin_csrf
        ),
    )
    world.ids["victim_token"] = victim["token"]


@contextmanager
def seeded_world(sqlite_template: Path, tmp: Path, **overrides: Any) -> Iterator[World]:
    """An embedded app on a copy of the migrated template, seeded, running for the block."""
    db = tmp / "onethread.db"
    shutil.copy(sqlite_template, db)
    settings = base_settings(database_url=f"sqlite+aiosqlite:///{db}", var_dir=tmp / "var", **overrides)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        app = create_app(settings)
        with TestClient(app, base_url="http://testserver.local", timeout=20) as client:
            world = World(client=client, settings=settings, roles={}, ids={})
            _seed(world)
            yield world
