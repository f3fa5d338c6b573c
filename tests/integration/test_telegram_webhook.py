"""Telegram's webhook, end to end through HTTP on both shapes: every fixture, and bad input.

What Telegram (or someone pretending to be it) would see: 200 for anything Telegram may send, 403
without the account's secret, 400 for a body that is not JSON; and what an agent would see: the
customer's message in their one thread, once, however often Telegram retries it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.channels.accounts import do_add_channel_account, do_set_channel_account_enabled
from tests.fakes.telegram_bot_api import TelegramBotAPI
from tests.helpers import Api

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "tg-webhook_secret-0123456789"
LOGGER = "app.domain.channels.telegram_webhook"

# fixture → (the message an agent sees, the customer's name), or None when nothing is stored
EXPECTED: dict[str, tuple[str, str] | None] = {
    "update_message_text_private__teloxide.json": ("hello there", "Waffle"),
    "update_message_text_private_minimal__teloxide.json": ("4", "Hirrolot"),
    "update_message_photo_with_caption__teloxide_wrapped.json": ("www.example.com", "Crax | rats addict"),
    "update_message_contact_own_phone__composed_from_spec.json": (
        "📇 Test Firstname Test Lastname, +31612345678",
        "Test Firstname Test Lastname",
    ),
    "update_message_start_deeplink_payload__composed_from_spec.json": (
        "/start order-4711_ref-web",
        "Test Firstname Test Lastname",
    ),
    # a press on the bot's inline button: the button's label, as the customer's message
    "update_callback_query_inline_keyboard__telegram-bot-php.json": ("Task Alerts", "Shahrad Elahi"),
    # acknowledged and ignored: a supergroup
    "update_message_command_in_supergroup_reply__teloxide.json": None,
    # unreadable (Telegram's stale docs samples, a bare Message): acknowledged, logged, dropped
    "update_message_text_start__telegram_docs.json": None,
    "update_edited_message__telegram_docs.json": None,
    "update_message_document__telegram_docs.json": None,
    "update_message_reply__telegram_docs.json": None,
    "update_callback_query_inline_message__telegram_docs.json": None,
    "message_object_photo_with_caption__teloxide.json": None,
}


@dataclass
class Bot:
    """A Telegram account and a way to post to its webhook as Telegram does."""

    account_id: str
    client: httpx.AsyncClient

    async def post(
        self, body: bytes | dict[str, Any], *, secret: str | None = SECRET, account_id: str | None = None
    ) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return await self.client.post(
            f"/webhooks/telegram/{account_id or self.account_id}", content=content, headers=headers
        )


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramBotAPI]:
    """The bot's Bot API (a button press is answered there), never Telegram's own in a test."""
    async with TelegramBotAPI() as server:
        yield server


@pytest.fixture
async def bot(api: Api, telegram: TelegramBotAPI) -> Bot:
    created = await do_add_channel_account(
        api.writer,
        channel="telegram",
        name="Shop bot",
        config={"api_url": telegram.url},
        secrets={"bot_token": TOKEN, "webhook_secret": SECRET},
    )
    return Bot(created.account.id, api.client)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def text_update(
    update_id: int, text: str, *, user_id: int = 555000111, chat_type: str = "private"
) -> dict[str, Any]:
    chat: dict[str, Any] = {"id": user_id, "type": chat_type, "first_name": "Lena"}
    if chat_type != "private":
        chat = {"id": -1009990001, "type": chat_type, "title": "Customers"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 100_000,
            "from": {"id": user_id, "is_bot": False, "first_name": "Lena", "last_name": "Lind"},
            "chat": chat,
            "date": 1_764_000_000,
            "text": text,
        },
    }


async def threads(api: Api) -> list[dict[str, Any]]:
    return (await api.get("/api/v1/threads", limit=200))["items"]  # type: ignore[no-any-return]


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == LOGGER]


def assert_problem(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["detail"] and str(body["type"]).endswith("/" + slug), body


# -------------------------------------------------------------------------------------------------
async def test_every_fixture(api: Api, bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    assert {p.name for p in FIXTURES.glob("*.json")} == set(EXPECTED)
    for name, expected in EXPECTED.items():
        before = await threads(api)
        with caplog.at_level(logging.INFO, logger=LOGGER):
            caplog.clear()
            response = await bot.post(fixture_bytes(name))
        assert response.status_code == 200, (name, response.text)
        after = await threads(api)
        if expected is None:
            assert after == before, name
            assert response.json()["ignored"], name
            assert len(ours(caplog)) == 1, name  # the log line saying what was dropped and why
            continue
        text, sender = expected
        body = response.json()
        assert body["duplicate"] is False, name
        thread = next(t for t in after if t["contact"]["name"] == sender)
        timeline = await api.timeline(thread["id"])
        stored = next(m for m in timeline if m["id"] == body["message_id"])
        assert (stored["text"], stored["channel"], stored["direction"]) == (text, "telegram", "in"), name
        assert stored["author"]["name"] == sender


async def test_unreadable_update_is_logged_by_update_id_only(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        response = await bot.post(fixture_bytes("update_message_text_start__telegram_docs.json"))
    assert response.status_code == 200 and response.json() == {"ok": True, "ignored": "unreadable update"}
    [record] = ours(caplog)
    assert record.levelno == logging.WARNING
    line = record.getMessage()
    assert "update 10000 could not be read" in line
    assert "Test Firstname" not in line and "/start" not in line and SECRET not in line


async def test_photo_keeps_the_file_for_later(api: Api, bot: Bot) -> None:
    response = await bot.post(fixture_bytes("update_message_photo_with_caption__teloxide_wrapped.json"))
    thread = (await threads(api))[0]
    [message] = await api.timeline(thread["id"])
    assert message["id"] == response.json()["message_id"]
    assert [(a["filename"], a["content_type"], a["size"]) for a in message["attachments"]] == [
        ("photo.jpg", "image/jpeg", 162061)
    ]
    assert message["meta"]["telegram"]["files"][0]["file_unique_id"] == "AQADabwxGxJmgVF-"


async def test_own_contact_gives_the_customer_a_verified_phone(api: Api, bot: Bot) -> None:
    await bot.post(fixture_bytes("update_message_contact_own_phone__composed_from_spec.json"))
    [thread] = await threads(api)
    contact = await api.get(f"/api/v1/contacts/{thread['contact']['id']}")
    assert contact["phone"] == "+31612345678"
    identities = {(i["channel"], i["external_id"], i["verified"]) for i in contact["identities"]}
    assert ("telegram", "1111111", True) in identities
    assert any(channel == "phone" and verified for channel, _, verified in identities), identities


async def test_a_customers_messages_share_one_thread_and_edits_are_marked(api: Api, bot: Bot) -> None:
    await bot.post(text_update(501, "first"))
    await bot.post(text_update(502, "second"))
    edit = text_update(503, "second, corrected")
    edit["edited_message"] = edit.pop("message")
    edit["edited_message"].update(message_id=502 % 100_000, edit_date=1_764_000_060)
    assert (await bot.post(edit)).status_code == 200
    [thread] = await threads(api)
    timeline = await api.timeline(thread["id"])
    assert [m["text"] for m in timeline] == ["first", "second, corrected"]  # the edit replaced the text
    assert timeline[-1]["meta"]["edited"] is True and "edited" not in timeline[0]["meta"]


async def test_wrong_or_missing_secret_is_refused(api: Api, bot: Bot) -> None:
    other = await do_add_channel_account(
        api.writer, channel="telegram", name="Other bot", secrets={"webhook_secret": "other-secret"}
    )
    body = fixture_bytes("update_message_text_private__teloxide.json")
    for secret in (None, "", "wrong", SECRET + "x", SECRET[:-1], "other-secret", SECRET.upper()):
        assert_problem(await bot.post(body, secret=secret), 403, "bad-webhook-secret")
    # the right secret of one bot does not open another bot's webhook
    assert_problem(await bot.post(body, account_id=other.account.id), 403, "bad-webhook-secret")
    assert await threads(api) == []


async def test_account_must_be_an_enabled_telegram_account(api: Api, bot: Bot) -> None:
    body = fixture_bytes("update_message_text_private__teloxide.json")
    custom = await do_add_channel_account(api.writer, channel="api", name="Orders")
    for account_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000", custom.account.id):
        assert_problem(await bot.post(body, account_id=account_id), 404, "account-not-found")
    await do_set_channel_account_enabled(api.writer, account_id=bot.account_id, enabled=False)
    assert_problem(await bot.post(body), 404, "account-not-found")
    assert await threads(api) == []


@pytest.mark.parametrize("body", [b'{"update_id": 892252934, "message": {"message_id"', b"", b"[]"])
async def test_a_body_that_is_not_a_json_object_is_a_400(api: Api, bot: Bot, body: bytes) -> None:
    assert_problem(await bot.post(body), 400, "invalid-webhook-body")
    assert await threads(api) == []


async def test_the_wrong_secret_is_refused_before_the_body_is_read(bot: Bot) -> None:
    assert_problem(await bot.post(b"{not json", secret="wrong"), 403, "bad-webhook-secret")


async def test_twenty_concurrent_retries_store_one_message(api: Api, bot: Bot) -> None:
    body = fixture_bytes("update_message_text_private__teloxide.json")
    responses = await asyncio.gather(*(bot.post(body) for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    answers = [r.json() for r in responses]
    assert len({a["message_id"] for a in answers}) == 1
    assert sum(not a["duplicate"] for a in answers) == 1
    [thread] = await threads(api)
    assert [m["text"] for m in await api.timeline(thread["id"])] == ["hello there"]


async def test_a_10000_character_text_is_stored_whole(api: Api, bot: Bot) -> None:
    text = "".join(f"{i % 10}" for i in range(9_990)) + " — the end"
    assert len(text) == 10_000
    await bot.post(text_update(700, text))
    [thread] = await threads(api)
    [message] = await api.timeline(thread["id"])
    assert message["text"] == text


async def test_a_nul_character_never_breaks_the_database(api: Api, bot: Bot) -> None:
    response = await bot.post(text_update(701, "before\x00after"))
    assert response.status_code == 200, response.text
    [thread] = await threads(api)
    assert [m["text"] for m in await api.timeline(thread["id"])] == ["before\ufffdafter"]


async def test_a_group_chat_update_is_acknowledged_and_ignored(
    api: Api, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        response = await bot.post(text_update(702, "hi all", chat_type="group"))
    assert response.status_code == 200 and response.json() == {"ok": True, "ignored": "group chat"}
    assert await threads(api) == []
    assert any("update 702 ignored (group chat)" in r.getMessage() for r in ours(caplog))


async def test_the_webhook_is_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert "post" in paths["/webhooks/telegram/{account_id}"]


async def test_unexpected_shapes_with_a_valid_secret_never_500(api: Api, bot: Bot) -> None:
    huge = 10**20  # beyond any 64-bit column: ids must travel as text, not as numbers
    update = text_update(huge, "big numbers", user_id=huge)
    update["message"]["message_id"] = huge
    bodies: list[bytes | dict[str, Any]] = [
        update,
        {"update_id": 9, "message": {"message_id": 1}},
        {"update_id": "nine", "message": update["message"]},
        {"update_id": 10, "message": {**update["message"], "date": 10**20}},
        {"update_id": 11, "message": {**update["message"], "from": "someone"}},
        b"[" * 100_000,
    ]
    codes = [(await bot.post(body)).status_code for body in bodies]
    assert codes == [200, 200, 200, 200, 200, 400]
    [thread] = await threads(api)
    [message] = await api.timeline(thread["id"])
    assert message["text"] == "big numbers"
    contact = await api.get(f"/api/v1/contacts/{thread['contact']['id']}")
    assert ("telegram", str(huge)) in {(i["channel"], i["external_id"]) for i in contact["identities"]}
