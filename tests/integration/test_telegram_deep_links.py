"""``/start <token>``: a customer follows the link an agent gave them and continues on Telegram.

On both shapes, through the real webhook route and the console: the link the contact page shows
carries a token naming the contact; the Telegram user who opens it lands in that contact's thread
(merged, undoably, when they were already a customer of their own); a token that is invalid or
expired leaves an ordinary first message.
"""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar

from app.domain.accounts.actions import do_create_agent
from app.domain.channels.accounts import do_add_channel_account
from app.domain.channels.deep_links import read_contact_token, sign_contact_token
from tests.conftest import SECRET as APP_SECRET
from tests.console import http_client, login
from tests.helpers import PASSWORD, Api
from tests.integration.test_telegram_webhook import SECRET, TOKEN, Bot, text_update, threads


@pytest.fixture
async def bot(api: Api) -> Bot:
    created = await do_add_channel_account(
        api.writer,
        channel="telegram",
        name="Shop bot",
        config={"username": "shop_bot"},
        secrets={"bot_token": TOKEN, "webhook_secret": SECRET},
    )
    return Bot(created.account.id, api.client)


async def known_customer(api: Api) -> dict[str, Any]:
    """A customer who wrote through the order system: the thread the agent already has."""
    channel = await api.add_api_channel()
    await api.inbound(channel, "where is my order?", contact_id="c-77", name="Mara Lind")
    [thread] = await threads(api)
    return thread


async def test_a_new_telegram_user_with_the_link_lands_in_the_customers_thread(api: Api, bot: Bot) -> None:
    thread = await known_customer(api)
    contact_id = thread["contact"]["id"]
    token = sign_contact_token(APP_SECRET, contact_id)
    answer = await bot.post(text_update(2001, f"/start {token}", user_id=900_001))
    assert answer.status_code == 200 and answer.json()["duplicate"] is False

    [only] = await threads(api)  # no second customer
    assert only["id"] == thread["id"]
    timeline = await api.timeline(thread["id"])
    assert sorted((m["channel"], m["text"]) for m in timeline) == [
        ("api", "where is my order?"),
        ("telegram", "/start"),  # the token is a credential: kept out of the timeline
    ]
    contact = await api.get(f"/api/v1/contacts/{contact_id}")
    assert ("telegram", "900001", True) in {
        (i["channel"], i["external_id"], i["verified"]) for i in contact["identities"]
    }
    # and the conversation goes on there
    await bot.post(text_update(2002, "it's me, on Telegram now", user_id=900_001))
    assert "it's me, on Telegram now" in [m["text"] for m in await api.timeline(thread["id"])]
    assert len(await threads(api)) == 1


async def test_a_telegram_user_who_is_a_customer_already_is_merged_undoably(api: Api, bot: Bot) -> None:
    await bot.post(text_update(3001, "hello from Telegram", user_id=900_002))
    [thread] = await threads(api)
    telegram_contact = thread["contact"]["id"]
    known = await known_customer_among_two(api)
    token = sign_contact_token(APP_SECRET, known["contact"]["id"])
    await bot.post(text_update(3002, f"/start {token}", user_id=900_002))

    [merged] = [t for t in await threads(api) if t["status"] != "merged"]
    assert merged["id"] == known["id"]
    timeline = await api.timeline(known["id"])
    texts = sorted(m["text"] for m in timeline if m["kind"] != "system")
    assert texts == sorted(["hello from Telegram", "where is my order?", "/start"])
    [line] = [m for m in timeline if m["kind"] == "system"]
    assert line["meta"]["reason"] == "Telegram deep link"
    await api.post(f"/api/v1/merges/{line['meta']['merge_id']}/undo", {}, expect=200)
    contact = await api.get(f"/api/v1/contacts/{telegram_contact}")
    assert "telegram" in {i["channel"] for i in contact["identities"]}

    # Telegram redelivering the /start after the undo does not merge them again.
    again = await bot.post(text_update(3002, f"/start {token}", user_id=900_002))
    assert again.json()["duplicate"] is True
    assert len([t for t in await threads(api) if t["status"] != "merged"]) == 2


async def test_a_start_redelivered_concurrently_merges_once(api: Api, bot: Bot) -> None:
    await bot.post(text_update(3101, "hello from Telegram", user_id=900_005))
    known = await known_customer_among_two(api)
    start = text_update(
        3102, f"/start {sign_contact_token(APP_SECRET, known['contact']['id'])}", user_id=900_005
    )
    answers = await asyncio.gather(*(bot.post(start) for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert sum(not a.json()["duplicate"] for a in answers) == 1
    [live] = [t for t in await threads(api) if t["status"] != "merged"]
    timeline = await api.timeline(live["id"])
    assert len([m for m in timeline if m["kind"] == "system"]) == 1  # one merge line
    assert len([m for m in timeline if m["text"] == "/start"]) == 1


async def known_customer_among_two(api: Api) -> dict[str, Any]:
    channel = await api.add_api_channel()
    await api.inbound(channel, "where is my order?", contact_id="c-78", name="Mara Lind")
    return next(t for t in await threads(api) if t["contact"]["name"] == "Mara Lind")


@pytest.mark.parametrize("payload", ["tampered", "expired", "campaign"])
async def test_an_invalid_or_expired_token_is_an_ordinary_first_message(
    api: Api, bot: Bot, payload: str
) -> None:
    known = await known_customer(api)
    contact_id = known["contact"]["id"]
    token = {
        "tampered": sign_contact_token(APP_SECRET, contact_id)[:-3] + "xyz",
        "expired": sign_contact_token(
            APP_SECRET, contact_id, now=datetime.now(UTC) - timedelta(days=31), ttl=timedelta(days=30)
        ),
        "campaign": "order-4711_ref-web",
    }[payload]
    await bot.post(text_update(4001, f"/start {token}", user_id=900_003))
    newcomer = next(t for t in await threads(api) if t["id"] != known["id"])
    assert [m["text"] for m in await api.timeline(newcomer["id"])] == [f"/start {token}"]
    assert [m["text"] for m in await api.timeline(known["id"])] == ["where is my order?"]


async def test_the_contact_page_shows_a_continue_on_telegram_link(api: Api, bot: Bot, app: Litestar) -> None:
    known = await known_customer(api)
    await do_add_channel_account(
        api.writer, channel="telegram", name="No username yet", secrets={"bot_token": "7000002:AAA"}
    )
    await do_create_agent(app.state.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
    async with http_client(app) as browser:
        assert (await login(browser)).status_code == 303
        page = (await browser.get(f"/contacts/{known['contact']['id']}")).text
        # the thread page's panel loads the same links after it
        thread_page = (await browser.get(f"/threads/{known['id']}")).text
        assert f'hx-get="/contacts/{known["contact"]["id"]}/continue-links"' in thread_page
        loaded = (await browser.get(f"/contacts/{known['contact']['id']}/continue-links")).text
    assert "Continue on Telegram" in page and "Copy link" in page
    links = set(re.findall(r'href="(https://t\.me/[^"]+)"', page))
    [link] = links  # one per bot that knows its username
    match = re.fullmatch(r"https://t\.me/shop_bot\?start=([A-Za-z0-9_-]{1,64})", html.unescape(link))
    assert match, link
    assert read_contact_token(APP_SECRET, match.group(1)) == known["contact"]["id"]
    assert "https://t.me/shop_bot?start=" in loaded and "Copy link" in loaded
    # the link works: following it puts a new Telegram user into this customer's thread
    await bot.post(text_update(5001, f"/start {match.group(1)}", user_id=900_004))
    assert len(await threads(api)) == 1
