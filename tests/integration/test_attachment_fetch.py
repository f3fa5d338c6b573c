"""Files customers send on Telegram and Messenger, end to end on both shapes.

A customer's photo or document arrives through the real webhook; the real job queue runs the fetch
job, which asks a local fake of Telegram's Bot API (``getFile``, then its file server) or a local
fake CDN for the bytes; an agent then gets the same bytes from ``GET /api/v1/attachments/{id}``
and sees the file in the console. What is checked is what an agent would notice: the attachment's
status in the JSON API, the bytes and headers served, the console's thread page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app.core import create_app
from app.domain.channels.accounts import do_add_channel_account
from app.domain.channels.attachment_fetch import fetch_attachment
from app.domain.channels.delivery import RetryPolicy
from app.settings import Settings
from integrations.registry import AdapterRegistry
from tests.fakes.delivery import message_events
from tests.fakes.file_host import FileHost
from tests.fakes.telegram_bot_api import TelegramBotAPI
from tests.helpers import Api

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "tg-webhook_secret-0123456789"
APP_SECRET = "test_app_secret"
PAGE = "404217156637689"
CAP = 1_000_000
"""The size cap in these tests (the fixtures' files are below it)."""

PHOTO = bytes(range(256)) * 400  # 102,400 bytes
PDF = b"%PDF-1.4\n" + b"0" * (536_392 - 9)  # the size the docs fixture announces
LARGEST_PHOTO = "AgACAgQAAxkBAAINhGKvijUVSn2i3980bQIIc1fqWGNCAAJpvDEbEmaBUfuA43fR-BnlAQADAgADeQADJAQ"


@pytest.fixture
async def app(settings: Settings, registry: AdapterRegistry | None) -> Litestar:
    return create_app(dataclasses.replace(settings, max_attachment_bytes=CAP), registry=registry)


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramBotAPI]:
    async with TelegramBotAPI() as server:
        yield server


@pytest.fixture
async def cdn() -> AsyncIterator[FileHost]:
    async with FileHost() as server:
        yield server


async def add_bot(api: Api, telegram: TelegramBotAPI) -> str:
    created = await do_add_channel_account(
        api.writer,
        channel="telegram",
        name="Shop bot",
        config={"api_url": telegram.url},
        secrets={"bot_token": TOKEN, "webhook_secret": SECRET},
    )
    return created.account.id


async def post_update(api: Api, account: str, update: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post(
        f"/webhooks/telegram/{account}",
        content=json.dumps(update).encode(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "message_id" in body, body
    return body


def photo_update() -> dict[str, Any]:
    update: dict[str, Any] = json.loads(
        (FIXTURES / "telegram" / "update_message_photo_with_caption__teloxide_wrapped.json").read_text()
    )
    return update


def document_update(
    *,
    update_id: int = 10000,
    file_id: str | None = None,
    name: str | None = None,
    mime: str | None = None,
    size: int | None = None,
) -> dict[str, Any]:
    """Telegram's documented document update, completed with what today's Bot API always sends
    (``is_bot``, ``file_unique_id``), so python-telegram-bot reads it."""
    update: dict[str, Any] = json.loads(
        (FIXTURES / "telegram" / "update_message_document__telegram_docs.json").read_text()
    )
    update["update_id"] = update_id
    message = update["message"]
    message["from"]["is_bot"] = False
    document = message["document"]
    document["file_unique_id"] = "AgADbXXXXXXXXXX"
    if file_id is not None:
        document["file_id"] = file_id
    if name is not None:
        document["file_name"] = name
    if mime is not None:
        document["mime_type"] = mime
    if size is None:
        document.pop("file_size")
    elif size:
        document["file_size"] = size
    return update


async def message_of(api: Api, message_id: int) -> dict[str, Any]:
    for thread in (await api.get("/api/v1/threads"))["items"]:
        for message in await api.timeline(thread["id"]):
            if message["id"] == message_id:
                return message
    raise AssertionError(f"message {message_id} is not in any thread")


async def settled(api: Api, message_id: int, within: float = 10.0) -> dict[str, Any]:
    """The message once none of its attachments is still being fetched (polled through the API)."""
    async with asyncio.timeout(within):
        while True:
            message = await message_of(api, message_id)
            if all(a["status"] != "pending" for a in message["attachments"]):
                return message
            await asyncio.sleep(0.03)


async def download(api: Api, attachment: dict[str, Any]) -> httpx.Response:
    assert attachment["download_url"], attachment
    return await api.client.get(attachment["download_url"], headers=api.headers)


def thread_id_of(message: dict[str, Any]) -> int:
    return int(message["thread_id"])


# ------------------------------------------------------------------------------------------------
# Telegram
# ------------------------------------------------------------------------------------------------
async def test_a_telegram_photo_is_fetched_and_served_as_the_same_bytes(
    api: Api, telegram: TelegramBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account = await add_bot(api, telegram)
    telegram.add_file(LARGEST_PHOTO, PHOTO, name="file_0.jpg")

    ack = await post_update(api, account, photo_update())
    message = await settled(api, ack["message_id"])

    [attachment] = message["attachments"]
    assert attachment["status"] == "stored", attachment
    assert attachment["size"] == len(PHOTO)
    [call] = telegram.calls_to("getFile")
    assert call.params["file_id"] == LARGEST_PHOTO  # the largest rendition, not a thumbnail
    response = await download(api, attachment)
    assert response.status_code == 200
    assert response.content == PHOTO
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["content-disposition"].startswith("inline;")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"
    # open consoles hear of it: the message's update event carries the stored attachment
    updates = [e for e in await message_events(api.writer, message["id"]) if e.type == "message.updated"]
    assert [e.data["message"]["attachments"][0]["status"] for e in updates] == ["stored"]
    # the bot token is in the URLs of getFile and of the download, and in no log line
    assert telegram.downloads and TOKEN in telegram.downloads[0]
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text


async def test_a_telegram_document_is_fetched_with_its_name_and_type(
    api: Api, telegram: TelegramBotAPI
) -> None:
    account = await add_bot(api, telegram)
    update = document_update(size=len(PDF))
    telegram.add_file(update["message"]["document"]["file_id"], PDF, name="Testfile.pdf")

    ack = await post_update(api, account, update)
    message = await settled(api, ack["message_id"])

    [attachment] = message["attachments"]
    assert (attachment["status"], attachment["filename"]) == ("stored", "Testfile.pdf")
    assert attachment["download_url"] == f"/api/v1/attachments/{attachment['id']}"
    response = await download(api, attachment)
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Testfile.pdf\"; filename*=UTF-8''Testfile.pdf"
    )


async def test_a_file_announced_over_the_cap_is_too_large_and_never_downloaded(
    api: Api, telegram: TelegramBotAPI, agent_client: httpx.AsyncClient
) -> None:
    account = await add_bot(api, telegram)
    update = document_update(size=CAP + 1)
    telegram.add_file(update["message"]["document"]["file_id"], b"x" * 10)

    ack = await post_update(api, account, update)
    message = await settled(api, ack["message_id"])

    [attachment] = message["attachments"]
    assert attachment["status"] == "too_large"
    assert attachment["download_url"] is None
    assert telegram.calls_to("getFile") == [] and telegram.downloads == []
    response = await api.client.get(f"/api/v1/attachments/{attachment['id']}", headers=api.headers)
    assert response.status_code == 404
    page = await agent_client.get(f"/threads/{thread_id_of(message)}")
    assert "Testfile.pdf" in page.text and "too large to keep a copy" in page.text


async def test_a_file_found_over_the_cap_is_too_large_and_not_kept(
    api: Api, telegram: TelegramBotAPI
) -> None:
    account = await add_bot(api, telegram)
    # Telegram said nothing about sizes: not in the update, not from getFile; the download runs over
    silent = document_update(update_id=20001, file_id="BQAC-silent", size=None)
    telegram.add_file("BQAC-silent", b"y" * (CAP + 100), announce_size=False)
    # getFile refuses: Telegram's 20 MB limit for bots
    refused = document_update(update_id=20002, file_id="BQAC-huge", size=None)
    telegram.add_file("BQAC-huge", b"", too_big=True)

    first = await settled(api, (await post_update(api, account, silent))["message_id"])
    second = await settled(api, (await post_update(api, account, refused))["message_id"])

    assert [a["status"] for a in first["attachments"] + second["attachments"]] == ["too_large", "too_large"]
    assert len(telegram.downloads) == 1  # the silent one was cut off; the refused one never asked for
    assert not any((api.app.state.settings.files_dir / "sha256").glob("*/*"))


async def test_a_get_file_5xx_is_retried_and_then_stored(api: Api, telegram: TelegramBotAPI) -> None:
    account = await add_bot(api, telegram)
    update = document_update(size=len(PDF))
    telegram.add_file(update["message"]["document"]["file_id"], PDF)
    telegram.answer_next(502, body=b'{"ok":false,"error_code":502,"description":"Bad Gateway"}')

    ack = await post_update(api, account, update)
    message = await settled(api, ack["message_id"])

    assert message["attachments"][0]["status"] == "stored"
    assert len(telegram.calls_to("getFile")) == 2
    assert (await download(api, message["attachments"][0])).content == PDF


async def test_a_permanent_failure_is_shown_with_its_reason(
    api: Api, telegram: TelegramBotAPI, agent_client: httpx.AsyncClient
) -> None:
    account = await add_bot(api, telegram)  # the file is not registered: getFile says invalid file_id

    ack = await post_update(api, account, document_update(size=1000))
    message = await settled(api, ack["message_id"])

    [attachment] = message["attachments"]
    assert attachment["status"] == "failed"
    assert attachment["error"] == "Telegram refused the file: Invalid file_id"
    assert len(telegram.calls_to("getFile")) == 1  # a 400 is not retried
    page = await agent_client.get(f"/threads/{thread_id_of(message)}")
    assert page.status_code == 200
    assert "Testfile.pdf" in page.text
    assert "Invalid file_id" in page.text


async def test_a_rerun_of_the_job_for_a_stored_file_does_nothing(api: Api, telegram: TelegramBotAPI) -> None:
    account = await add_bot(api, telegram)
    telegram.add_file(LARGEST_PHOTO, PHOTO)
    message = await settled(api, (await post_update(api, account, photo_update()))["message_id"])
    calls = len(telegram.requests)
    jobs = api.app.state.jobs

    outcome = await fetch_attachment(
        api.writer,
        jobs.files,
        jobs.fetchers,
        message["attachments"][0]["id"],
        limit=CAP,
        policy=RetryPolicy(),
        pause=lambda _: asyncio.sleep(0, True),
    )

    assert outcome is None
    assert len(telegram.requests) == calls
    assert (await message_of(api, message["id"]))["attachments"] == message["attachments"]


async def test_an_html_file_is_served_as_a_download_that_cannot_run_script(
    api: Api, telegram: TelegramBotAPI
) -> None:
    account = await add_bot(api, telegram)
    html = b"<html><script>fetch('/api/v1/threads').then(r => r.text()).then(alert)</script></html>"
    update = document_update(file_id="BQAC-html", name="factuur März.html", mime="text/html", size=len(html))
    telegram.add_file("BQAC-html", html)

    message = await settled(api, (await post_update(api, account, update))["message_id"])
    response = await download(api, message["attachments"][0])

    assert response.content == html
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''factuur%20M%C3%A4rz.html" in disposition
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "sandbox"


async def test_anonymous_callers_get_401(api: Api, telegram: TelegramBotAPI) -> None:
    account = await add_bot(api, telegram)
    telegram.add_file(LARGEST_PHOTO, PHOTO)
    message = await settled(api, (await post_update(api, account, photo_update()))["message_id"])
    url = message["attachments"][0]["download_url"]

    response = await api.client.get(url)

    assert response.status_code == 401
    assert PHOTO[:64] not in response.content
    missing = await api.client.get("/api/v1/attachments/999999", headers=api.headers)
    assert missing.status_code == 404


async def test_the_console_shows_a_thumbnail_and_a_download_link(
    api: Api, telegram: TelegramBotAPI, agent_client: httpx.AsyncClient
) -> None:
    account = await add_bot(api, telegram)
    telegram.add_file(LARGEST_PHOTO, PHOTO)
    update = document_update(size=len(PDF))
    telegram.add_file(update["message"]["document"]["file_id"], PDF)
    photo = await settled(api, (await post_update(api, account, photo_update()))["message_id"])
    document = await settled(api, (await post_update(api, account, update))["message_id"])

    # two customers (the fixtures' senders differ): two threads
    photo_page = await agent_client.get(f"/threads/{thread_id_of(photo)}")
    document_page = await agent_client.get(f"/threads/{thread_id_of(document)}")

    image_url = photo["attachments"][0]["download_url"]
    assert f'<img src="{image_url}"' in photo_page.text
    assert 'loading="lazy"' in photo_page.text
    assert "img-src 'self'" in photo_page.headers["content-security-policy"]
    file_url = document["attachments"][0]["download_url"]
    assert f'href="{file_url}"' in document_page.text
    assert "Testfile.pdf" in document_page.text
    assert "application/pdf" in document_page.text
    # the console's cookie is enough to load the image the page shows
    image = await agent_client.get(image_url)
    assert image.status_code == 200 and image.content == PHOTO


async def test_the_console_says_a_file_is_being_fetched(
    api: Api, telegram: TelegramBotAPI, agent_client: httpx.AsyncClient
) -> None:
    account = await add_bot(api, telegram)
    telegram.add_file(LARGEST_PHOTO, PHOTO)
    telegram.latency = 1.0  # getFile takes its time: the page is drawn while the file is pending

    ack = await post_update(api, account, photo_update())
    message = await message_of(api, ack["message_id"])
    page = await agent_client.get(f"/threads/{thread_id_of(message)}")

    assert message["attachments"][0]["status"] == "pending"
    assert "fetching…" in page.text
    telegram.latency = 0.0
    assert (await settled(api, ack["message_id"]))["attachments"][0]["status"] == "stored"


async def test_the_download_route_and_the_attachment_fields_are_documented(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert "get" in schema["paths"]["/api/v1/attachments/{attachment_id}"]
    [attachment_out] = [v for k, v in schema["components"]["schemas"].items() if k.endswith("AttachmentOut")]
    assert {"status", "download_url", "error"} <= set(attachment_out["properties"])


# ------------------------------------------------------------------------------------------------
# Messenger
# ------------------------------------------------------------------------------------------------
async def add_page(api: Api) -> str:
    created = await do_add_channel_account(
        api.writer,
        channel="messenger",
        name="Shop page",
        # the local CDN stands in for Meta's file hosts
        config={"page_id": PAGE, "file_hosts": ["127.0.0.1"]},
        # no page token: Meta's file URLs are signed and need none (and no profile lookup runs)
        secrets={"app_secret": APP_SECRET, "verify_token": "vt"},
    )
    return created.account.id


async def post_messenger(api: Api, account: str, event: dict[str, Any]) -> None:
    body = json.dumps({"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [event]}]}).encode()
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = await api.client.post(
        f"/webhooks/messenger/{account}",
        content=body,
        headers={"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text


async def only_message(api: Api) -> dict[str, Any]:
    [thread] = (await api.get("/api/v1/threads"))["items"]
    [message] = [m for m in await api.timeline(thread["id"]) if m["kind"] == "text"]
    return message


async def test_a_messenger_image_is_fetched_from_its_url(api: Api, cdn: FileHost) -> None:
    account = await add_page(api)
    event = json.loads(
        (FIXTURES / "facebook" / "messaging_event_message_image_attachment__bottender.json").read_text()
    )
    url = cdn.add("17887258_1429713783754592_1626047672_o.jpg", PHOTO, content_type="image/jpeg")
    event["message"]["attachments"][0]["payload"]["url"] = url
    # a link the customer shared comes along: it stays a link, nothing to fetch
    event["message"]["attachments"].append(
        {"type": "fallback", "title": "Our shop", "payload": {"url": "https://shop.example/p/42"}}
    )
    cdn.answer_next(503)  # the CDN hiccups once

    await post_messenger(api, account, event)
    message = await settled(api, (await only_message(api))["id"])

    image, link = message["attachments"]
    assert image["status"] == "stored", image
    assert (await download(api, image)).content == PHOTO
    assert cdn.downloads == ["/cdn/17887258_1429713783754592_1626047672_o.jpg"] * 2
    assert (link["status"], link["url"], link["download_url"]) == (
        "stored",
        "https://shop.example/p/42",
        None,
    )


async def test_a_messenger_file_gone_from_the_cdn_fails_with_the_status(api: Api, cdn: FileHost) -> None:
    account = await add_page(api)
    event = json.loads(
        (FIXTURES / "facebook" / "messaging_event_message_image_attachment__bottender.json").read_text()
    )
    event["message"]["attachments"][0]["payload"]["url"] = f"{cdn.url}/expired.jpg?oe=58ECF78B"

    await post_messenger(api, account, event)
    message = await settled(api, (await only_message(api))["id"])

    [image] = message["attachments"]
    assert image["status"] == "failed"
    assert "404" in image["error"]
    assert len(cdn.requests) == 1


async def test_a_messenger_url_to_another_host_is_never_fetched(api: Api, cdn: FileHost) -> None:
    """A forged webhook (a leaked app secret) must not turn our fetcher against internal addresses:
    only the page's file hosts are fetched from, redirects included."""
    account = await add_page(api)
    event = json.loads(
        (FIXTURES / "facebook" / "messaging_event_message_image_attachment__bottender.json").read_text()
    )
    internal = cdn.url.replace("127.0.0.1", "localhost")
    event["message"]["attachments"][0]["payload"]["url"] = f"{internal}/admin/secrets.jpg"
    second = json.loads(json.dumps(event))
    second["message"]["mid"] += "-redirect"
    second["message"]["attachments"][0]["payload"]["url"] = cdn.redirect(
        "to-internal.jpg", f"{internal}/x.jpg"
    )

    await post_messenger(api, account, event)
    await post_messenger(api, account, second)
    [thread] = (await api.get("/api/v1/threads"))["items"]
    messages = [m for m in await api.timeline(thread["id"]) if m["kind"] == "text"]
    for message in messages:
        [image] = (await settled(api, message["id"]))["attachments"]
        assert image["status"] == "failed" and "do not fetch from" in image["error"], image
    assert [path for path in cdn.downloads if "secrets" in path or "x.jpg" in path] == []
