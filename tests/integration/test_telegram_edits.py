"""A customer edits a Telegram (or Messenger) message: the stored message changes, on both shapes,
through the real webhook routes.

What an agent sees: one entry with the new text, marked "edited" (the edit time as its tooltip) and
the earlier text behind a toggle, however often Telegram redelivers the edit; an edit of a message
sent before the bot was connected arrives as a message of its own, marked edited.
"""

from __future__ import annotations

import asyncio
import html
import json
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlmodel import col

from app.db.models import Event
from app.domain.accounts.actions import do_create_agent
from app.domain.channels.accounts import do_add_channel_account
from tests.console import http_client, login
from tests.helpers import PASSWORD, Api
from tests.integration.test_messenger_webhook import PAGE, add_page
from tests.integration.test_messenger_webhook import post as messenger_post
from tests.integration.test_telegram_webhook import SECRET, TOKEN, Bot, text_update, threads

USER = 555000111


@pytest.fixture
async def bot(api: Api) -> Bot:
    created = await do_add_channel_account(
        api.writer,
        channel="telegram",
        name="Shop bot",
        secrets={"bot_token": TOKEN, "webhook_secret": SECRET},
    )
    return Bot(created.account.id, api.client)


def edit_update(
    update_id: int, message_id: int, text: str, *, edit_date: int, user_id: int = USER
) -> dict[str, Any]:
    update = text_update(update_id, text, user_id=user_id)
    edited = update.pop("message")
    edited.update(message_id=message_id, edit_date=edit_date)
    update["edited_message"] = edited
    return update


async def only_thread_timeline(api: Api) -> list[dict[str, Any]]:
    [thread] = await threads(api)
    return await api.timeline(thread["id"])


async def test_an_edit_changes_the_stored_message_and_keeps_the_earlier_text(api: Api, bot: Bot) -> None:
    await bot.post(text_update(501, "first"))
    stored = (await bot.post(text_update(502, "see you at 10"))).json()["message_id"]
    answer = await bot.post(edit_update(503, 502, "see you at 11", edit_date=1_764_000_060))
    assert answer.status_code == 200
    assert answer.json() == {"ok": True, "message_id": stored, "duplicate": False, "edited": True}

    timeline = await only_thread_timeline(api)
    assert [m["text"] for m in timeline] == ["first", "see you at 11"]
    edited = timeline[-1]
    assert edited["id"] == stored
    assert edited["meta"]["edited"] is True
    assert edited["meta"]["edited_at"].startswith("2025-11-24T16:01:00")
    assert [h["text"] for h in edited["meta"]["edit_history"]] == ["see you at 10"]
    assert "edited" not in timeline[0]["meta"]
    [thread] = await threads(api)
    assert thread["last_message_preview"] == "see you at 11"


async def test_a_retried_edit_changes_nothing_even_concurrently(api: Api, bot: Bot) -> None:
    await bot.post(text_update(601, "draft"))
    edit = edit_update(602, 601, "final", edit_date=1_764_000_100)
    answers = await asyncio.gather(*(bot.post(edit) for _ in range(8)))
    assert all(a.status_code == 200 for a in answers)
    assert sorted(a.json()["edited"] for a in answers) == [False] * 7 + [True]
    assert sum(a.json()["duplicate"] for a in answers) == 7
    [message] = await only_thread_timeline(api)
    assert message["text"] == "final"
    assert [h["text"] for h in message["meta"]["edit_history"]] == ["draft"]


async def test_edits_stack_and_a_late_older_edit_is_not_applied(api: Api, bot: Bot) -> None:
    await bot.post(text_update(701, "v1"))
    await bot.post(edit_update(702, 701, "v2", edit_date=1_764_000_100))
    await bot.post(edit_update(704, 701, "v4", edit_date=1_764_000_300))
    late = await bot.post(edit_update(703, 701, "v3", edit_date=1_764_000_200))
    assert late.json()["edited"] is False
    [message] = await only_thread_timeline(api)
    assert message["text"] == "v4"
    assert [h["text"] for h in message["meta"]["edit_history"]] == ["v1", "v2"]


async def test_an_edit_of_an_unknown_message_is_stored_as_new_once(api: Api, bot: Bot) -> None:
    first = await bot.post(edit_update(801, 42, "edited before we knew it", edit_date=1_764_000_100))
    assert first.json()["duplicate"] is False
    again = await bot.post(edit_update(801, 42, "edited before we knew it", edit_date=1_764_000_100))
    assert again.json()["message_id"] == first.json()["message_id"] and again.json()["duplicate"] is True
    # a later edit of the same Telegram message updates that entry
    await bot.post(edit_update(802, 42, "and again", edit_date=1_764_000_200))
    [message] = await only_thread_timeline(api)
    assert message["text"] == "and again" and message["meta"]["edited"] is True
    assert [h["text"] for h in message["meta"]["edit_history"]] == ["edited before we knew it"]


async def test_another_customers_message_with_the_same_number_is_not_touched(api: Api, bot: Bot) -> None:
    # Telegram numbers messages per chat: two customers both have a message 900.
    await bot.post(text_update(900, "mine", user_id=111))
    await bot.post(text_update(100_900, "theirs", user_id=222))
    await bot.post(edit_update(901, 900, "mine, edited", edit_date=1_764_000_100, user_id=111))
    texts = sorted([m["text"] for t in await threads(api) for m in await api.timeline(t["id"])])
    assert texts == ["mine, edited", "theirs"]


async def test_the_console_marks_the_edit_and_shows_the_earlier_text(
    api: Api, bot: Bot, app: Litestar
) -> None:
    await bot.post(text_update(1001, "the parcel is at home"))
    await bot.post(edit_update(1002, 1001, "the parcel is at work", edit_date=1_764_000_060))
    [thread] = await threads(api)
    await do_create_agent(app.state.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
    async with http_client(app) as browser:
        assert (await login(browser)).status_code == 303
        page = (await browser.get(f"/threads/{thread['id']}")).text
    entry = page[page.index('class="msg-edited"') - 200 :]
    assert 'datetime="2025-11-24T16:01:00' in entry and ">edited<" in entry
    earlier = entry[entry.index('<details class="msg-earlier"') :]
    earlier = earlier[: earlier.index("</details>")]
    assert "the parcel is at home" in html.unescape(earlier)


async def test_an_open_thread_gets_the_edit_as_a_replacement(api: Api, bot: Bot) -> None:
    """The ``message.updated`` event that the console's live socket turns into the redrawn entry."""
    await bot.post(text_update(1101, "before"))
    [thread] = await threads(api)
    cursor = max(e.id or 0 for e in await _events(api))
    answer = await bot.post(edit_update(1102, 1101, "after", edit_date=1_764_000_060))
    updates = [e for e in await _events(api) if (e.id or 0) > cursor and e.type == "message.updated"]
    assert [(e.thread_id, e.data["message"]["id"], e.data["message"]["text"]) for e in updates] == [
        (thread["id"], answer.json()["message_id"], "after")
    ]


async def _events(api: Api) -> list[Event]:
    async with api.writer.sessionmaker() as session:
        return list((await session.execute(select(Event).order_by(col(Event.id)))).scalars())


# -- Messenger's message_edits, the same way ---------------------------------------------------------
def messenger_event(
    psid: str, item: dict[str, Any], *, key: str = "message", at: int = 1_764_000_000_000
) -> bytes:
    event = {"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": at, key: item}
    return json.dumps({"object": "page", "entry": [{"id": PAGE, "time": at, "messaging": [event]}]}).encode()


async def test_a_messenger_edit_changes_the_stored_message_once(api: Api) -> None:
    account = await add_page(api)
    first = messenger_event("2001", {"mid": "m_abc", "text": "my order is 4711"})
    assert (await messenger_post(api.client, account, first)).status_code == 200
    edit = messenger_event(
        "2001",
        {"mid": "m_abc", "text": "my order is 4712", "num_edit": 1},
        key="message_edit",
        at=1_764_000_060_000,
    )
    for _ in range(3):  # Meta retries: the edit applies once
        assert (await messenger_post(api.client, account, edit)).status_code == 200
    # another customer cannot edit it
    foreign = messenger_event(
        "2002", {"mid": "m_abc", "text": "hijacked", "num_edit": 2}, key="message_edit", at=1_764_000_090_000
    )
    await messenger_post(api.client, account, foreign)
    stored = {m["text"]: m for t in await threads(api) for m in await api.timeline(t["id"])}
    assert set(stored) == {"my order is 4712", "hijacked"}  # the stranger's "edit" is a message of theirs
    message = stored["my order is 4712"]
    assert message["meta"]["edited"] is True
    assert [h["text"] for h in message["meta"]["edit_history"]] == ["my order is 4711"]
