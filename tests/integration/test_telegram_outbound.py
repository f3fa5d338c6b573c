"""Replies on Telegram, end to end on both shapes: a customer writes through the real webhook, an
agent answers through the API, and the real ``TelegramAdapter`` (python-telegram-bot's ``Bot``)
delivers through the real job queue to a local fake of the Bot API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from app.domain.channels.accounts import do_add_channel_account
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
