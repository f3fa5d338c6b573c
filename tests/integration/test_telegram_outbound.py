"""Replies on Telegram, end to end on both shapes: a customer writes through the real webhook, an
agent answers through the API, and the real ``TelegramAdapter`` (python-telegram-bot's ``Bot``)
delivers through the real job queue to a local fake of the Bot API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from app.domain.channels.accounts import do_add_channel_account
from app.settings import Settings
from tests.conftest import SECRET as APP_SECRET
from tests.fakes.delivery import message_events, reply, statuses, wait_for_status
from tests.fakes.telegram_bot_api import BLOCKED, TelegramBotAPI
from tests.helpers import Api

TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "tg-webhook_secret-0123456789"
CUSTOMER = 555000111


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramBotAPI]:
    async with TelegramBotAPI() as server:
        yield server


async def _customer_thread(api: Api, telegram: TelegramBotAPI) -> int:
    """A Telegram account using the fake API, and a customer who wrote to it via the webhook."""
    created = await do_add_channel_account(
        api.writer,
        channel="telegram",
        name="Shop bot",
        config={"api_url": telegram.url},
        secrets={"bot_token": TOKEN, "webhook_secret": SECRET},
    )
    update = {
        "update_id": 900001,
        "message": {
            "message_id": 7,
            "from": {"id": CUSTOMER, "is_bot": False, "first_name": "Lena", "last_name": "Lind"},
            "chat": {"id": CUSTOMER, "type": "private", "first_name": "Lena"},
            "date": 1_764_000_000,
            "text": "Waar blijft mijn pakket?",
        },
    }
    response = await api.client.post(
        f"/webhooks/telegram/{created.account.id}",
        content=json.dumps(update).encode(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert response.status_code == 200, response.text
    assert response.json()["duplicate"] is False
    [thread] = (await api.get("/api/v1/threads"))["items"]
    return int(thread["id"])


async def test_reply_goes_out_and_is_sent_with_the_telegram_message_id(
    api: Api, telegram: TelegramBotAPI
) -> None:
    thread_id = await _customer_thread(api, telegram)

    body = await reply(api, thread_id, "Het is onderweg 🚚 — morgen in huis.")
    message = await wait_for_status(api.writer, body["id"])

    assert message.delivery_status == "sent", message.delivery_error
    [call] = telegram.calls_to("sendMessage")
    assert call.token == TOKEN
    assert call.params["chat_id"] == str(CUSTOMER)
    assert call.params["text"] == "Het is onderweg 🚚 — morgen in huis."
    assert message.external_id == "1001"


async def test_a_5000_character_reply_is_two_telegram_messages(api: Api, telegram: TelegramBotAPI) -> None:
    thread_id = await _customer_thread(api, telegram)
    first, second = "a" * 3000, "b" * 1999
    text = f"{first}\n{second}"  # 5,000 characters

    body = await reply(api, thread_id, text)
    message = await wait_for_status(api.writer, body["id"])

    assert message.delivery_status == "sent", message.delivery_error
    calls = telegram.calls_to("sendMessage")
    assert [call.params["text"] for call in calls] == [first, second]
    assert message.external_id == "1001"  # the first part's id


async def test_flood_control_is_retried_after_retry_after(api: Api, telegram: TelegramBotAPI) -> None:
    thread_id = await _customer_thread(api, telegram)
    telegram.rate_limit(retry_after=1)

    body = await reply(api, thread_id, "Thanks for waiting.")
    message = await wait_for_status(api.writer, body["id"])

    assert message.delivery_status == "sent", message.delivery_error
    refused, accepted = telegram.calls_to("sendMessage")
    assert accepted.received_at - refused.received_at >= 0.9
    events = statuses(await message_events(api.writer, body["id"]))
    assert any("retrying in 1s" in (error or "") for _, _, error in events), events


async def test_a_send_telegram_never_answers_is_not_sent_twice(api: Api, telegram: TelegramBotAPI) -> None:
    """Telegram has no idempotency key: a request that went out and got no answer (PTB's read
    timeout, 5 s) may well have been shown, so it is marked sent, unconfirmed, and not repeated."""
    thread_id = await _customer_thread(api, telegram)
    telegram.hold(after=0)
    try:
        body = await reply(api, thread_id, "Your parcel left the warehouse.")
        message = await wait_for_status(api.writer, body["id"], within=20)
    finally:
        telegram.release()

    assert message.delivery_status == "sent"
    assert (message.delivery_error or "").startswith("unconfirmed: Telegram did not answer")
    await asyncio.sleep(0.5)  # a repeat, if one were coming, would be on its way by now
    assert [call.params["text"] for call in telegram.calls_to("sendMessage")] == [
        "Your parcel left the warehouse."
    ]


async def test_a_customer_who_blocked_the_bot_fails_with_the_reason(
    api: Api, telegram: TelegramBotAPI
) -> None:
    thread_id = await _customer_thread(api, telegram)
    telegram.block()

    body = await reply(api, thread_id, "Are you still there?")
    message = await wait_for_status(api.writer, body["id"])

    assert message.delivery_status == "failed"
    assert message.delivery_error is not None and BLOCKED in message.delivery_error
    assert len(telegram.calls_to("sendMessage")) == 1  # permanent: not retried


# -- the CLI: `channel add telegram` and `channel telegram set-webhook` ----------------------------
PUBLIC_URL = "https://support.example"


async def onethread(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a process of its own (off the loop the fake server runs on)."""
    env = {
        **os.environ,
        "ONETHREAD_DATABASE_URL": settings.database_url,
        "ONETHREAD_SECRET_KEY": APP_SECRET,
        "ONETHREAD_VAR_DIR": str(settings.var_dir),
        "ONETHREAD_PUBLIC_URL": PUBLIC_URL,
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_cli_adds_a_bot_and_registers_its_webhook(embedded: Settings, telegram: TelegramBotAPI) -> None:
    added = await onethread(
        embedded,
        "channel", "add", "telegram", "--name", "Shop bot", "--token", TOKEN,
        "--webhook-secret", SECRET, "--api-url", telegram.url, "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    out = json.loads(added.stdout)
    assert out["channel"] == "telegram" and out["name"] == "Shop bot"
    assert out["webhook_url"] == f"{PUBLIC_URL}/webhooks/telegram/{out['id']}"
    assert TOKEN not in added.stdout and SECRET not in added.stdout

    registered = await onethread(embedded, "channel", "telegram", "set-webhook", out["id"])

    assert registered.returncode == 0, registered.stderr
    assert out["webhook_url"] in registered.stdout
    [call] = telegram.calls_to("setWebhook")
    assert call.token == TOKEN
    assert call.params["url"] == out["webhook_url"]
    assert call.params["secret_token"] == SECRET


async def test_cli_without_a_webhook_secret_registers_the_accounts_own(
    embedded: Settings, telegram: TelegramBotAPI
) -> None:
    added = await onethread(
        embedded,
        "channel",
        "add",
        "telegram",
        "--name",
        "B",
        "--token",
        TOKEN,
        "--api-url",
        telegram.url,
        "--json",
    )
    assert added.returncode == 0, added.stderr
    registered = await onethread(
        embedded, "channel", "telegram", "set-webhook", json.loads(added.stdout)["id"]
    )
    assert registered.returncode == 0, registered.stderr
    [call] = telegram.calls_to("setWebhook")
    assert call.params["secret_token"].startswith("ot_sig_")


async def test_cli_bad_input_exits_2_with_a_reason(embedded: Settings, telegram: TelegramBotAPI) -> None:
    cases = {
        ("--token", "not-a-token"): "--token",
        ("--token", TOKEN, "--webhook-secret", "has spaces!"): "--webhook-secret",
        ("--token", TOKEN, "--api-url", "ftp://nope"): "--api-url",
    }
    for flags, reason in cases.items():
        result = await onethread(embedded, "channel", "add", "telegram", "--name", "X", *flags)
        assert result.returncode == 2, (flags, result.stdout)
        assert reason in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr

    unknown = await onethread(embedded, "channel", "telegram", "set-webhook", "not-a-uuid")
    assert unknown.returncode == 2 and "UUID" in unknown.stderr
    api = await onethread(embedded, "channel", "add", "api", "--name", "Not a bot", "--json")
    api_id = json.loads(api.stdout)["id"]
    wrong = await onethread(embedded, "channel", "telegram", "set-webhook", api_id)
    assert wrong.returncode == 2 and "Telegram" in wrong.stderr

    added = await onethread(
        embedded,
        "channel",
        "add",
        "telegram",
        "--name",
        "B",
        "--token",
        TOKEN,
        "--api-url",
        telegram.url,
        "--json",
    )
    telegram.refuse("Bad Request: bad webhook: HTTPS url must be provided for webhook")
    refused = await onethread(embedded, "channel", "telegram", "set-webhook", json.loads(added.stdout)["id"])
    assert refused.returncode == 2 and "https url must be provided" in refused.stderr.lower()
