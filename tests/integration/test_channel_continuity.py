"""Issue 4's continuity proof: one customer on Telegram and Messenger becomes one thread.

Everything a real deployment runs is real here, on both shapes: the webhook routes (Telegram's
secret token, Meta's ``X-Hub-Signature-256`` over the exact bytes), identity resolution, merges,
the JSON API the agent uses, the job queue, and the outbound adapters (python-telegram-bot's
``Bot``, the Send API over httpx) talking to the local fakes of the Bot API and Graph.

The customer, Lena, first writes to the shop's Telegram bot, a few minutes later to its Facebook
page. Messenger tells us nothing but a page-scoped id (the User Profile API gives her name, no
phone), so at first she is two contacts with two threads. Two ways they become one:

1. *She proves the same phone on both.* On Messenger she types her number and the agent adds it to
   that contact (``PATCH /contacts/{id}``: a phone the agent vouches for is a verified identity);
   then, on Telegram, she taps "share my phone number", which Telegram sends as a contact whose
   ``user_id`` is her own: a phone Telegram verified. Identity resolution links a verified phone
   to the contact holding it verified: the two contacts merge by themselves, no agent needed.
   (A name match alone — both "Lena Lind" — only files a merge suggestion; that is checked too.)
2. *The agent merges them* through the API (``POST /contacts/{id}/merge``) after seeing the
   suggestion.

Either way: one thread with every message in the order she wrote them; a reply with no channel
picked goes to the channel she used last (only that platform's fake receives it), and a reply with
the other channel picked goes there.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from itertools import count
from typing import Any

import httpx
import pytest

from app.domain.channels.accounts import do_add_channel_account
from tests.fakes.delivery import reply, wait_for_status
from tests.fakes.graph_api import GraphApi
from tests.fakes.telegram_bot_api import TelegramBotAPI
from tests.helpers import Api
from tests.integration.test_messenger_webhook import APP_SECRET, PAGE, VERIFY_TOKEN, signed

BOT_TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TG_SECRET = "tg-webhook_secret-0123456789"
TG_USER = 555000111
PSID = "5550001112223334"
PAGE_TOKEN = "EAAB-page-token"
PHONE = "+31612345678"


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramBotAPI]:
    async with TelegramBotAPI() as server:
        yield server


@pytest.fixture
async def graph() -> AsyncIterator[GraphApi]:
    async with GraphApi() as server:
        server.add_profile(PSID, first_name="Lena", last_name="Lind")
        yield server


@dataclass
class Customer:
    """Lena, writing through the real webhooks as Telegram and Meta deliver her messages."""

    client: httpx.AsyncClient
    telegram_account: str
    messenger_account: str
    started: float
    _ids: Any = None

    def __post_init__(self) -> None:
        self._ids = count(1)

    def at(self, minute: float) -> float:
        """When she writes: ``minute`` minutes into the story (which ends about now)."""
        return self.started + minute * 60

    async def on_telegram(self, minute: float, text: str = "", *, share_phone: str | None = None) -> None:
        number = next(self._ids)
        message: dict[str, Any] = {
            "message_id": number,
            "from": {"id": TG_USER, "is_bot": False, "first_name": "Lena", "last_name": "Lind"},
            "chat": {"id": TG_USER, "type": "private", "first_name": "Lena", "last_name": "Lind"},
            "date": int(self.at(minute)),
        }
        if share_phone:  # the "share my phone number" button: a contact whose user_id is her own
            message["contact"] = {"phone_number": share_phone, "first_name": "Lena", "user_id": TG_USER}
        else:
            message["text"] = text
        response = await self.client.post(
            f"/webhooks/telegram/{self.telegram_account}",
            content=json.dumps({"update_id": 880_000 + number, "message": message}).encode(),
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
        )
        assert response.status_code == 200 and response.json()["duplicate"] is False, response.text

    async def on_messenger(self, minute: float, text: str) -> None:
        event = {
            "sender": {"id": PSID},
            "recipient": {"id": PAGE},
            "timestamp": int(self.at(minute) * 1000),
            "message": {"mid": f"m.lena.{next(self._ids)}", "text": text},
        }
        body = json.dumps(
            {"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [event]}]}
        ).encode()
        response = await self.client.post(
            f"/webhooks/messenger/{self.messenger_account}", content=body, headers=signed(body)
        )
        assert (response.status_code, response.text) == (200, "EVENT_RECEIVED")


@pytest.fixture
async def lena(api: Api, telegram: TelegramBotAPI, graph: GraphApi) -> Customer:
    bot = await do_add_channel_account(
        api.writer,
        channel="telegram",
        name="Shop bot",
        config={"api_url": telegram.url},
        secrets={"bot_token": BOT_TOKEN, "webhook_secret": TG_SECRET},
    )
    page = await do_add_channel_account(
        api.writer,
        channel="messenger",
        name="Shop page",
        config={"page_id": PAGE, "graph_url": graph.url},
        secrets={"page_token": PAGE_TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    )
    return Customer(api.client, bot.account.id, page.account.id, started=time.time() - 20 * 60)


async def threads(api: Api) -> list[dict[str, Any]]:
    return (await api.get("/api/v1/threads"))["items"]  # type: ignore[no-any-return]


async def contact_named_by_messenger(api: Api) -> dict[str, Any]:
    """The Messenger contact, once the User Profile lookup has named it (a background job)."""
    async with asyncio.timeout(10):
        while True:
            for thread in await threads(api):
                if thread["last_inbound_channel"] == "messenger" and thread["contact"]["name"]:
                    return await api.get(f"/api/v1/contacts/{thread['contact']['id']}")  # type: ignore[no-any-return]
            await asyncio.sleep(0.02)


async def she_starts_on_telegram_then_messenger(api: Api, lena: Customer) -> tuple[int, int]:
    """Two contacts at first; their ids (Telegram's, Messenger's)."""
    await lena.on_telegram(0, "Hoi, bestelling 4711 is nog niet binnen.")
    await lena.on_messenger(5, "Hi, Lena here again: any news on order 4711?")
    messenger_contact = await contact_named_by_messenger(api)
    assert messenger_contact["name"] == "Lena Lind"
    both = await threads(api)
    assert len(both) == 2
    [telegram_thread] = [t for t in both if t["last_inbound_channel"] == "telegram"]
    # Same full name on both: only a suggestion for the agent, never a merge by itself.
    suggestions = (await api.get("/api/v1/merge-suggestions"))["items"]
    assert [s["reason"] for s in suggestions] == ["same name “Lena Lind”"]
    return telegram_thread["contact"]["id"], messenger_contact["id"]


def conversation(timeline: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["channel"], m["text"]) for m in timeline if m["kind"] == "text"]


async def one_thread(api: Api) -> dict[str, Any]:
    [thread] = await threads(api)
    return thread


async def assert_replies_follow_her(
    api: Api, thread_id: int, telegram: TelegramBotAPI, graph: GraphApi, *, last: str
) -> None:
    """No channel picked → the channel she used last; the other one when the agent picks it."""
    other = "messenger" if last == "telegram" else "telegram"

    async def sent(body: dict[str, Any]) -> None:
        message = await wait_for_status(api.writer, body["id"])
        assert message.delivery_status == "sent", message.delivery_error

    def received() -> dict[str, list[str]]:
        return {
            "telegram": [call.params["text"] for call in telegram.calls_to("sendMessage")],
            "messenger": [send["message"]["text"] for send in graph.sends],
        }

    default = await reply(api, thread_id, "We found it: it ships today.")
    assert default["channel"] == last
    await sent(default)
    assert received() == {last: ["We found it: it ships today."], other: []}

    picked = await reply(api, thread_id, "Track & trace follows here.", channel=other)
    assert picked["channel"] == other
    await sent(picked)
    assert received() == {last: ["We found it: it ships today."], other: ["Track & trace follows here."]}
    [call] = telegram.calls_to("sendMessage")
    assert call.params["chat_id"] == str(TG_USER)
    [send] = graph.sends
    assert send["recipient"] == {"id": PSID} and send["messaging_type"] == "RESPONSE"


async def test_the_same_phone_proven_on_both_channels_makes_one_thread(
    api: Api, lena: Customer, telegram: TelegramBotAPI, graph: GraphApi
) -> None:
    telegram_contact, messenger_contact = await she_starts_on_telegram_then_messenger(api, lena)

    await lena.on_messenger(8, "You can call me: 06 12345678")
    await api.patch(f"/api/v1/contacts/{messenger_contact}", {"phone": "06 12345678"})
    assert len(await threads(api)) == 2  # the Telegram contact has no phone yet

    await lena.on_telegram(15, share_phone="31612345678")

    thread = await one_thread(api)
    assert thread["contact"]["id"] == telegram_contact  # the older contact stays, the other joins it
    contact = await api.get(f"/api/v1/contacts/{telegram_contact}")
    assert {(i["channel"], i["external_id"], i["verified"]) for i in contact["identities"]} == {
        ("telegram", str(TG_USER), True),
        ("messenger", f"{PAGE}:{PSID}", True),
        ("phone", PHONE, True),
    }
    merged_away = await api.get(f"/api/v1/contacts/{messenger_contact}")
    assert merged_away["merged_into_id"] == telegram_contact
    assert (await api.get("/api/v1/merge-suggestions"))["items"] == []  # the name suggestion is settled too

    timeline = await api.timeline(thread["id"])
    assert conversation(timeline) == [
        ("telegram", "Hoi, bestelling 4711 is nog niet binnen."),
        ("messenger", "Hi, Lena here again: any news on order 4711?"),
        ("messenger", "You can call me: 06 12345678"),
        ("telegram", f"📇 Lena, {PHONE}"),
    ]
    times = [m["created_at"] for m in timeline if m["kind"] == "text"]
    assert times == sorted(times)
    assert any(m["kind"] == "system" and "same verified phone" in m["text"] for m in timeline)
    assert thread["last_inbound_channel"] == "telegram"

    await assert_replies_follow_her(api, thread["id"], telegram, graph, last="telegram")


async def test_the_agent_merging_the_two_contacts_makes_one_thread(
    api: Api, lena: Customer, telegram: TelegramBotAPI, graph: GraphApi
) -> None:
    telegram_contact, messenger_contact = await she_starts_on_telegram_then_messenger(api, lena)
    await lena.on_telegram(7, "Ik heb het ook via Facebook gevraagd.")
    await lena.on_messenger(9, "Sorry for asking twice!")

    # The agent has the Messenger thread open and merges the Telegram contact into it.
    response = await api.post(f"/api/v1/contacts/{messenger_contact}/merge", {"other_id": telegram_contact})
    assert response.status_code == 201, response.text

    thread = await one_thread(api)
    assert thread["contact"]["id"] == messenger_contact
    assert (await api.get("/api/v1/merge-suggestions"))["items"] == []
    timeline = await api.timeline(thread["id"])
    assert conversation(timeline) == [
        ("telegram", "Hoi, bestelling 4711 is nog niet binnen."),
        ("messenger", "Hi, Lena here again: any news on order 4711?"),
        ("telegram", "Ik heb het ook via Facebook gevraagd."),
        ("messenger", "Sorry for asking twice!"),
    ]
    times = [m["created_at"] for m in timeline if m["kind"] == "text"]
    assert times == sorted(times)
    assert thread["last_inbound_channel"] == "messenger"

    await assert_replies_follow_her(api, thread["id"], telegram, graph, last="messenger")

    # She answers on Telegram: that is where the next default reply goes.
    await lena.on_telegram(19, "Dank je!")
    assert (await one_thread(api))["last_inbound_channel"] == "telegram"
    follow_up = await reply(api, thread["id"], "Graag gedaan!")
    assert follow_up["channel"] == "telegram"
    assert (await wait_for_status(api.writer, follow_up["id"])).delivery_status == "sent"
    assert [c.params["text"] for c in telegram.calls_to("sendMessage")][-1] == "Graag gedaan!"
    assert len(graph.sends) == 1


async def test_a_late_delivery_does_not_take_the_reply_to_a_channel_she_has_left(
    api: Api, lena: Customer, telegram: TelegramBotAPI, graph: GraphApi
) -> None:
    """Platforms redeliver what a webhook missed (our server was restarting, say) minutes later.

    Her Telegram messages written *before* her newest Messenger one, but delivered after it, must
    not make Telegram "the channel she used last": the timeline shows Messenger last, and so must
    the reply's default. Both when the late message lands in a thread of its own before a merge,
    and when it lands in the thread she already has.
    """
    telegram_contact, messenger_contact = await she_starts_on_telegram_then_messenger(api, lena)
    await lena.on_telegram(3, "Het pakket is van PostNL.")  # written at 3, delivered after 5
    response = await api.post(f"/api/v1/contacts/{messenger_contact}/merge", {"other_id": telegram_contact})
    assert response.status_code == 201, response.text
    assert (await one_thread(api))["last_inbound_channel"] == "messenger"

    await lena.on_messenger(9, "Sorry for asking twice!")
    await lena.on_telegram(7, "Ik heb het ook via Facebook gevraagd.")  # written at 7, delivered after 9

    thread = await one_thread(api)
    assert conversation(await api.timeline(thread["id"]))[-2:] == [
        ("telegram", "Ik heb het ook via Facebook gevraagd."),
        ("messenger", "Sorry for asking twice!"),
    ]
    assert thread["last_inbound_channel"] == "messenger"
    await assert_replies_follow_her(api, thread["id"], telegram, graph, last="messenger")
