"""The bot's reply buttons on every channel that draws them, end to end on both shapes.

A bot reply carrying ``meta["buttons"]`` is delivered by the real adapters through the real job
queue to local fakes of the platforms: Telegram gets an inline keyboard (on the last part of a
split reply only), Messenger quick replies. The customer's press comes back through the real
webhooks (a ``callback_query``, a tapped quick reply, a postback) and is stored once, however often
the platform retries it, as the customer's message with the label as its text and the payload in
``meta["button_payload"]``; Telegram's callback query is answered. The widget's API takes a
pressed button's payload next to the text, and refuses a bad one with the reason.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.domain.channels.accounts import do_add_channel_account
from tests.bot_replies import bot_reply_with_buttons
from tests.fakes.delivery import wait_for_status
from tests.fakes.graph_api import GraphApi
from tests.fakes.telegram_bot_api import TelegramBotAPI
from tests.helpers import Api
from tests.integration.test_messenger_webhook import APP_SECRET, PAGE, VERIFY_TOKEN, post
from tests.integration.widget_client import Visitor, add_site

TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "tg-webhook_secret-0123456789"
CUSTOMER = 555000111
PSID = "5550001112223334"
PAGE_TOKEN = "EAAB-page-token-not-for-logs"
BUTTONS = [
    {"label": "Levertijd", "payload": "bot:rule:delivery-time"},
    {"label": "Retourneren", "payload": "bot:rule:returns"},
    {"label": "Een medewerker spreken", "payload": "bot:person"},
]


async def timeline(api: Api, thread_id: int) -> list[dict[str, Any]]:
    return await api.timeline(thread_id)  # type: ignore[no-any-return]


# -------------------------------------------------------------------------------------------------
# Telegram
# -------------------------------------------------------------------------------------------------
@pytest.fixture
async def telegram() -> AsyncIterator[TelegramBotAPI]:
    async with TelegramBotAPI() as server:
        yield server


async def telegram_customer(api: Api, telegram: TelegramBotAPI) -> tuple[str, int]:
    """A bot on the fake Bot API and a customer who wrote to it: the account and thread ids."""
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
            "text": "Hoe lang duurt het?",
        },
    }
    assert (await telegram_post(api, created.account.id, update)).status_code == 200
    [thread] = (await api.get("/api/v1/threads"))["items"]
    return created.account.id, int(thread["id"])


async def telegram_post(api: Api, account_id: str, update: dict[str, Any]) -> Any:
    return await api.client.post(
        f"/webhooks/telegram/{account_id}",
        content=json.dumps(update).encode(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
    )


def press(update_id: int, query_id: str, sent: dict[str, Any], data: str) -> dict[str, Any]:
    """The update Telegram sends when the customer presses the button with ``data`` under ``sent``
    (the bot's message as ``sendMessage`` answered, keyboard included), in today's shape."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id,
            "from": {"id": CUSTOMER, "is_bot": False, "first_name": "Lena", "last_name": "Lind"},
            "message": sent,
            "chat_instance": "-7764778060035751380",
            "data": data,
        },
    }


async def test_a_bot_reply_reaches_telegram_with_an_inline_keyboard(
    api: Api, telegram: TelegramBotAPI
) -> None:
    _, thread_id = await telegram_customer(api, telegram)

    message_id = await bot_reply_with_buttons(api.app, api.agent_id, thread_id, "Bedoel je…?", BUTTONS)
    message = await wait_for_status(api.writer, message_id)

    assert message.delivery_status == "sent", message.delivery_error
    [call] = telegram.calls_to("sendMessage")
    assert call.params["text"] == "Bedoel je…?"
    assert call.keyboard == [
        [("Levertijd", "bot:rule:delivery-time")],
        [("Retourneren", "bot:rule:returns")],
        [("Een medewerker spreken", "bot:person")],
    ]


async def test_a_split_reply_has_its_keyboard_on_the_last_part_only(
    api: Api, telegram: TelegramBotAPI
) -> None:
    _, thread_id = await telegram_customer(api, telegram)
    first, second = "a" * 3000, "b" * 1999

    message_id = await bot_reply_with_buttons(
        api.app, api.agent_id, thread_id, f"{first}\n{second}", BUTTONS[:1]
    )
    message = await wait_for_status(api.writer, message_id)

    assert message.delivery_status == "sent", message.delivery_error
    calls = telegram.calls_to("sendMessage")
    assert [(call.params["text"], call.keyboard) for call in calls] == [
        (first, None),
        (second, [[("Levertijd", "bot:rule:delivery-time")]]),
    ]


async def test_a_payload_over_64_bytes_leaves_its_button_out_and_the_reply_still_goes(
    api: Api, telegram: TelegramBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    _, thread_id = await telegram_customer(api, telegram)
    too_long = "bot:rule:" + "x" * 56  # 65 bytes: Telegram would refuse the whole message

    with caplog.at_level(logging.WARNING):
        message_id = await bot_reply_with_buttons(
            api.app, api.agent_id, thread_id, "Kies:", [{"label": "Lang", "payload": too_long}, BUTTONS[2]]
        )
        message = await wait_for_status(api.writer, message_id)

    assert message.delivery_status == "sent", message.delivery_error
    [call] = telegram.calls_to("sendMessage")
    assert call.keyboard == [[("Een medewerker spreken", "bot:person")]]
    assert any("over Telegram's 64" in record.getMessage() for record in caplog.records)


async def test_a_pressed_button_is_stored_once_with_its_payload_and_answered(
    api: Api, telegram: TelegramBotAPI
) -> None:
    account_id, thread_id = await telegram_customer(api, telegram)
    await wait_for_status(
        api.writer, await bot_reply_with_buttons(api.app, api.agent_id, thread_id, "Bedoel je…?", BUTTONS)
    )
    [sent] = telegram.calls_to("sendMessage")
    bot_message = {
        "message_id": 1001,
        "from": {"id": 7000001, "is_bot": True, "first_name": "Shop bot", "username": "shop_bot"},
        "chat": {"id": CUSTOMER, "type": "private", "first_name": "Lena"},
        "date": 1_764_000_100,
        "text": sent.params["text"],
        "reply_markup": json.loads(sent.params["reply_markup"]),
    }
    update = press(900002, "4382bfdwdsb323b2d9", bot_message, "bot:rule:returns")

    first = await telegram_post(api, account_id, update)
    again = await telegram_post(api, account_id, update)  # Telegram retrying the same update

    assert first.status_code == again.status_code == 200
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    assert first.json()["message_id"] == again.json()["message_id"]
    customer = [m for m in await timeline(api, thread_id) if m["direction"] == "in"]
    assert [m["text"] for m in customer] == ["Hoe lang duurt het?", "Retourneren"]
    pressed = customer[-1]
    assert pressed["meta"]["button_payload"] == "bot:rule:returns"
    assert pressed["meta"]["telegram"]["message_id"] == 1001
    answers = telegram.calls_to("answerCallbackQuery")
    assert [a.params["callback_query_id"] for a in answers] == ["4382bfdwdsb323b2d9"] * 2


async def test_an_answer_telegram_refuses_is_logged_and_the_press_still_stored(
    api: Api, telegram: TelegramBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    account_id, thread_id = await telegram_customer(api, telegram)
    telegram.expire_callback("old-query-1")
    bot_message = {
        "message_id": 1001,
        "from": {"id": 7000001, "is_bot": True, "first_name": "Shop bot"},
        "chat": {"id": CUSTOMER, "type": "private", "first_name": "Lena"},
        "date": 1_764_000_100,
        "text": "Bedoel je…?",
        "reply_markup": {
            "inline_keyboard": [[{"text": "Een medewerker spreken", "callback_data": "bot:person"}]]
        },
    }

    with caplog.at_level(logging.WARNING):
        response = await telegram_post(
            api, account_id, press(900003, "old-query-1", bot_message, "bot:person")
        )

    assert response.status_code == 200 and response.json()["duplicate"] is False
    texts = [m["text"] for m in await timeline(api, thread_id)]
    assert texts[-1] == "Een medewerker spreken"
    assert len(telegram.calls_to("answerCallbackQuery")) == 1
    warnings = [r.getMessage() for r in caplog.records if "answerCallbackQuery failed" in r.getMessage()]
    assert warnings and "query is too old" in warnings[0].lower() and TOKEN not in warnings[0]


async def test_an_unreachable_bot_api_does_not_fail_the_press(api: Api, telegram: TelegramBotAPI) -> None:
    account_id, thread_id = await telegram_customer(api, telegram)
    telegram.fail(502, "Bad Gateway")
    bot_message = {
        "message_id": 1001,
        "from": {"id": 7000001, "is_bot": True, "first_name": "Shop bot"},
        "chat": {"id": CUSTOMER, "type": "private", "first_name": "Lena"},
        "date": 1_764_000_100,
        "text": "Hielp dit?",
        "reply_markup": {"inline_keyboard": [[{"text": "Nee", "callback_data": "bot:not_helpful:17"}]]},
    }

    response = await telegram_post(api, account_id, press(900004, "q-502", bot_message, "bot:not_helpful:17"))

    assert response.status_code == 200 and response.json()["duplicate"] is False
    [pressed] = [m for m in await timeline(api, thread_id) if m["text"] == "Nee"]
    assert pressed["meta"]["button_payload"] == "bot:not_helpful:17"


# -------------------------------------------------------------------------------------------------
# Messenger
# -------------------------------------------------------------------------------------------------
@pytest.fixture
async def graph() -> AsyncIterator[GraphApi]:
    async with GraphApi() as server:
        yield server


def envelope(*events: dict[str, Any]) -> bytes:
    return json.dumps(
        {"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": list(events)}]}
    ).encode()


async def messenger_customer(api: Api, graph: GraphApi) -> tuple[str, int]:
    created = await do_add_channel_account(
        api.writer,
        channel="messenger",
        name="Shop page",
        config={"page_id": PAGE, "graph_url": graph.url},
        secrets={"page_token": PAGE_TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    )
    event = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE},
        "timestamp": int(time.time() * 1000),
        "message": {"mid": "m.customer.1", "text": "Hoe lang duurt het?"},
    }
    assert (await post(api.client, created.account.id, envelope(event))).status_code == 200
    [thread] = (await api.get("/api/v1/threads"))["items"]
    return created.account.id, int(thread["id"])


async def test_a_bot_reply_reaches_messenger_with_quick_replies_on_its_last_part(
    api: Api, graph: GraphApi
) -> None:
    _, thread_id = await messenger_customer(api, graph)
    first, second = "a" * 1500, "b" * 1000
    buttons = [*BUTTONS, *({"label": f"Optie {n}", "payload": f"p{n}"} for n in range(12))]

    message_id = await bot_reply_with_buttons(api.app, api.agent_id, thread_id, f"{first} {second}", buttons)
    message = await wait_for_status(api.writer, message_id)

    assert message.delivery_status == "sent", message.delivery_error
    assert [send["message"]["text"] for send in graph.sends] == [first, second]
    no_chips, chips = graph.quick_replies
    assert no_chips == []
    assert chips[:3] == [
        ("Levertijd", "bot:rule:delivery-time"),
        ("Retourneren", "bot:rule:returns"),
        ("Een medewerker spre…", "bot:person"),  # Meta's 20 characters, shortened visibly
    ]
    assert len(chips) == 13  # Meta's most; the rest are left out rather than the reply refused
    assert all(c["content_type"] == "text" for c in graph.sends[1]["message"]["quick_replies"])


async def test_a_tapped_quick_reply_and_a_postback_are_stored_once_with_their_payloads(
    api: Api, graph: GraphApi
) -> None:
    account_id, thread_id = await messenger_customer(api, graph)
    now = int(time.time() * 1000)
    tap = {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE},
        "timestamp": now + 1,
        "message": {"mid": "m.tap.1", "text": "Retourneren", "quick_reply": {"payload": "bot:rule:returns"}},
    }
    postback = {  # a pre-v11 postback: no mid, keyed by sender, time and payload
        "sender": {"id": PSID},
        "recipient": {"id": PAGE},
        "timestamp": now + 2,
        "postback": {"title": "Een medewerker spreken", "payload": "bot:person"},
    }

    for _ in range(2):  # Meta retrying the batch
        assert (await post(api.client, account_id, envelope(tap, postback))).status_code == 200

    customer = [m for m in await timeline(api, thread_id) if m["direction"] == "in"]
    assert [(m["text"], m["meta"].get("button_payload")) for m in customer] == [
        ("Hoe lang duurt het?", None),
        ("Retourneren", "bot:rule:returns"),
        ("Een medewerker spreken", "bot:person"),
    ]


# -------------------------------------------------------------------------------------------------
# The widget
# -------------------------------------------------------------------------------------------------
async def test_the_widget_shows_the_buttons_and_takes_a_pressed_ones_payload(api: Api) -> None:
    site = await add_site(api.writer)
    anna = Visitor(api.client, site)
    await anna.open()
    await anna.send("Hoe lang duurt het?")
    await anna.open()
    assert anna.session is not None
    thread_id = int(anna.session["thread_id"])
    await wait_for_status(
        api.writer, await bot_reply_with_buttons(api.app, api.agent_id, thread_id, "Bedoel je…?", BUTTONS)
    )

    shown = await anna.messages()
    assert shown[-1]["author"]["type"] == "bot" and shown[-1]["buttons"] == BUTTONS
    assert shown[0]["buttons"] == []

    client_id = uuid.uuid4().hex
    body = {"text": "Retourneren", "client_id": client_id, "button_payload": "bot:rule:returns"}
    first = await api.client.post("/widget/v1/messages", json=body, headers=anna.headers)
    again = await api.client.post("/widget/v1/messages", json=body, headers=anna.headers)

    assert (first.status_code, again.status_code) == (201, 200)
    customer = [m for m in await timeline(api, thread_id) if m["direction"] == "in"]
    assert [(m["text"], m["meta"].get("button_payload")) for m in customer] == [
        ("Hoe lang duurt het?", None),
        ("Retourneren", "bot:rule:returns"),
    ]


@pytest.mark.parametrize(
    ("payload", "status", "reason"),
    [  # the API's rule: 422 for a value it cannot take, 400 for a body of the wrong shape
        ("x" * 201, 422, "button_payload must be 1 to 200 characters"),
        ("", 422, "button_payload must be 1 to 200 characters"),
        ("bot:\x00", 422, "button_payload cannot contain NUL characters"),
        (17, 400, "button_payload"),
        (["bot:person"], 400, "button_payload"),
    ],
)
async def test_the_widget_refuses_a_bad_button_payload_with_the_reason(
    api: Api, payload: object, status: int, reason: str
) -> None:
    site = await add_site(api.writer)
    anna = Visitor(api.client, site)
    await anna.open()
    body = {"text": "Retourneren", "client_id": uuid.uuid4().hex, "button_payload": payload}

    response = await api.client.post("/widget/v1/messages", json=body, headers=anna.headers)

    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]
    assert (await api.get("/api/v1/threads"))["items"] == []  # nothing half-written
