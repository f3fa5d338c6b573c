"""Setting a Telegram bot up, against the fake Bot API: the CLI learns the bot's username, and the
channels page (admins) shows the webhook as Telegram has it and registers it.

What an admin would notice: whether Telegram posts to this installation, what waits and what
failed; a "Register webhook" button that fixes a wrong URL; a Bot API that is down said in words.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from html import unescape

import httpx
import pytest
from litestar import Litestar

from app.db.models import ChannelAccount
from app.domain.accounts.actions import do_create_agent
from app.domain.channels.accounts import do_add_channel_account
from app.settings import Settings
from tests.console import csrf_from, login
from tests.fakes.callback_server import free_port
from tests.fakes.telegram_bot_api import TelegramBotAPI
from tests.helpers import PASSWORD
from tests.integration.test_telegram_outbound import onethread

TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "tg-webhook_secret-0123456789"


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramBotAPI]:
    async with TelegramBotAPI() as server:
        yield server


async def logged_in(client: httpx.AsyncClient, app: Litestar, role: str) -> httpx.AsyncClient:
    email = f"{role}@example.com"
    await do_create_agent(app.state.writer, email=email, name=f"Ada {role}", password=PASSWORD, role=role)
    assert (await login(client, email)).status_code == 303
    return client


@pytest.fixture
async def admin(client: httpx.AsyncClient, app: Litestar) -> httpx.AsyncClient:
    return await logged_in(client, app, "admin")


async def add_bot(app: Litestar, api_url: str, name: str = "Shop bot") -> str:
    created = await do_add_channel_account(
        app.state.writer,
        channel="telegram",
        name=name,
        config={"api_url": api_url},
        secrets={"bot_token": TOKEN, "webhook_secret": SECRET},
    )
    return created.account.id


def webhook_section(page: str, account_id: str) -> str:
    start = page.index(f'id="account-{account_id}"')
    section = page[start:]
    return unescape(section[: section.index("</li>")])


async def register(client: httpx.AsyncClient, account_id: str) -> httpx.Response:
    token = csrf_from((await client.get("/settings/channels")).text)
    return await client.post(f"/settings/channels/{account_id}/telegram-webhook", data={"_csrf_token": token})


# -- the CLI -----------------------------------------------------------------------------------------
async def test_channel_add_stores_the_bots_username(embedded: Settings, telegram: TelegramBotAPI) -> None:
    telegram.username = "lena_shop_bot"
    added = await onethread(
        embedded,
        "channel", "add", "telegram", "--name", "Shop bot", "--token", TOKEN,
        "--api-url", telegram.url, "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["username"] == "lena_shop_bot"
    assert [call.token for call in telegram.calls_to("getMe")] == [TOKEN]


async def test_channel_add_without_the_bot_api_still_adds_the_bot(embedded: Settings) -> None:
    added = await onethread(
        embedded,
        "channel", "add", "telegram", "--name", "Offline bot", "--token", TOKEN,
        "--api-url", f"http://127.0.0.1:{free_port()}", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["username"] is None
    assert "username is unknown" in added.stderr and TOKEN not in added.stderr


async def test_channel_add_says_when_webhook_urls_use_the_default_address(
    embedded: Settings, telegram: TelegramBotAPI
) -> None:
    """Without ONETHREAD_PUBLIC_URL the webhook URL names this machine's default address, which no
    platform can reach: the command says so instead of letting the admin find out later."""
    env = {
        **os.environ,
        "ONETHREAD_DATABASE_URL": embedded.database_url,
        "ONETHREAD_SECRET_KEY": "k" * 40,
        "ONETHREAD_VAR_DIR": str(embedded.var_dir),
    }
    env.pop("ONETHREAD_PUBLIC_URL", None)
    args = [
        "channel",
        "add",
        "telegram",
        "--name",
        "Bot",
        "--token",
        TOKEN,
        "--api-url",
        telegram.url,
        "--json",
    ]
    added = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    note = json.loads(added.stdout)["note"]
    assert "ONETHREAD_PUBLIC_URL is not set" in note and "http://127.0.0.1:8000" in note


# -- the channels page ----------------------------------------------------------------------------------
async def test_the_page_shows_the_webhook_and_registers_it(
    admin: httpx.AsyncClient, app: Litestar, settings: Settings, telegram: TelegramBotAPI
) -> None:
    account_id = await add_bot(app, telegram.url)
    ours = f"{settings.public_url.rstrip('/')}/webhooks/telegram/{account_id}"
    telegram.webhook = {"url": "https://old-host.example/hook"}
    telegram.pending_updates = 17
    telegram.webhook_error = (1_764_000_000, "Wrong response from the webhook: 502 Bad Gateway")

    before = webhook_section((await admin.get("/settings/channels")).text, account_id)
    assert "https://old-host.example/hook" in before
    assert "not this installation" in before
    assert "Updates waiting</dt><dd>17" in before
    assert "Wrong response from the webhook: 502 Bad Gateway" in before
    assert TOKEN not in before and SECRET not in before

    answer = await register(admin, account_id)
    assert answer.status_code == 303, answer.text
    [call] = telegram.calls_to("setWebhook")
    assert (call.token, call.params["url"], call.params["secret_token"]) == (TOKEN, ours, SECRET)

    after = webhook_section((await admin.get(answer.headers["location"])).text, account_id)
    assert f"<code>{ours}</code>" in after and "this installation</span>" in after
    assert "Webhook registered" in after, "the admin is told it worked"
    assert "not this installation" not in after and "Last delivery error" not in after
    # a bot added without its username (before we asked getMe) learns it now, for deep links
    async with app.state.writer.sessionmaker() as session:
        account = await session.get(ChannelAccount, uuid.UUID(account_id))
        assert account is not None and account.config["username"] == "shop_bot"


async def test_a_bot_without_a_token_is_not_asked_and_offers_no_button(
    admin: httpx.AsyncClient, app: Litestar, telegram: TelegramBotAPI
) -> None:
    """The demo's bot has no token: the page says so calmly, instead of an error and a button
    that can only fail."""
    created = await do_add_channel_account(
        app.state.writer, channel="telegram", name="Demo bot", config={"api_url": telegram.url}
    )
    section = webhook_section((await admin.get("/settings/channels")).text, created.account.id)
    assert "has no bot token" in section
    assert "Register webhook" not in section and 'role="alert"' not in section
    assert telegram.calls_to("getWebhookInfo") == []


async def test_a_bot_api_that_is_down_is_said_in_words(
    admin: httpx.AsyncClient, app: Litestar, telegram: TelegramBotAPI
) -> None:
    down = await add_bot(app, f"http://127.0.0.1:{free_port()}", name="Down bot")
    up = await add_bot(app, telegram.url, name="Up bot")
    page = await admin.get("/settings/channels")
    assert page.status_code == 200
    assert "could not be reached" in webhook_section(page.text, down)
    assert "none registered" in webhook_section(page.text, up)  # the other bot is still shown

    refused = await register(admin, down)
    assert refused.status_code == 409
    assert "could not be reached" in webhook_section(refused.text, down)


async def test_telegrams_refusal_is_shown(
    admin: httpx.AsyncClient, app: Litestar, telegram: TelegramBotAPI
) -> None:
    account_id = await add_bot(app, telegram.url)
    token = csrf_from((await admin.get("/settings/channels")).text)
    telegram.refuse("Bad Request: bad webhook: HTTPS url must be provided for webhook")
    refused = await admin.post(
        f"/settings/channels/{account_id}/telegram-webhook", data={"_csrf_token": token}
    )
    assert refused.status_code == 409
    assert "https url must be provided for webhook" in webhook_section(refused.text, account_id).lower()


async def test_only_admins_register_webhooks(
    client: httpx.AsyncClient, app: Litestar, telegram: TelegramBotAPI
) -> None:
    account_id = await add_bot(app, telegram.url)
    agent = await logged_in(client, app, "agent")
    token = csrf_from((await agent.get("/settings/preferences")).text)
    refused = await agent.post(
        f"/settings/channels/{account_id}/telegram-webhook", data={"_csrf_token": token}
    )
    assert refused.status_code == 403
    assert telegram.calls_to("setWebhook") == []


async def test_an_unknown_account_is_a_404(admin: httpx.AsyncClient) -> None:
    for account_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        assert (await register(admin, account_id)).status_code == 404
