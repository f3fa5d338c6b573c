"""An open thread page in a real ``onethread serve`` process redraws a customer's photo once the
fetch job has it: the page shows "fetching…", the live socket then replaces the message with its
thumbnail, and the image behind it is the customer's. The server's log never holds the bot token."""

from __future__ import annotations

import json
import re

from app.domain.channels.accounts import do_add_channel_account
from tests.fakes.telegram_bot_api import TelegramBotAPI
from tests.integration.test_attachment_fetch import LARGEST_PHOTO, PHOTO, SECRET, TOKEN, photo_update
from tests.integration.test_console_live import Browser, Site, ada, embedded  # noqa: F401 (fixtures)
from tests.integration.test_realtime_processes import direct_writer

CUSTOMER = "Crax | rats addict"  # the photo fixture's sender


async def test_an_open_thread_shows_the_photo_once_it_is_fetched(embedded: Site, ada: Browser) -> None:  # noqa: F811
    async with TelegramBotAPI() as telegram:
        telegram.add_file(LARGEST_PHOTO, PHOTO)
        # Telegram's first answer is a 502: the job retries after its backoff, by which time the
        # page below is open on the still-pending photo.
        telegram.answer_next(502, body=b'{"ok":false,"error_code":502,"description":"Bad Gateway"}')
        async with direct_writer(embedded.env) as writer:
            created = await do_add_channel_account(
                writer,
                channel="telegram",
                name="Live bot",
                config={"api_url": telegram.url},
                secrets={"bot_token": TOKEN, "webhook_secret": SECRET},
            )
        posted = await ada.http.post(
            f"/webhooks/telegram/{created.account.id}",
            content=json.dumps(photo_update()).encode(),
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        assert posted.status_code == 200, posted.text
        message_id = posted.json()["message_id"]
        threads = (await ada.http.get("/api/v1/threads/")).json()["items"]
        thread_id = next(t["id"] for t in threads if t["contact"]["name"] == CUSTOMER)

        shown = await ada.http.get(f"/threads/{thread_id}")
        assert "fetching…" in shown.text
        page = await ada.socket(await ada.live_url(f"/threads/{thread_id}"))
        try:
            await page.ready()
            updated = await page.until(
                lambda t: f'id="m-{message_id}" hx-swap-oob="outerHTML"' in t and "<img" in t, within=20
            )
        finally:
            await page.close()

        assert "fetching…" not in updated
        found = re.search(r'<img src="([^"]+)" loading="lazy"', updated)
        assert found, updated
        image = await ada.http.get(found.group(1))
        assert image.status_code == 200 and image.content == PHOTO
        assert len(telegram.calls_to("getFile")) == 2
    log = ada.server.log_text()
    assert "fetch attempt 1 failed" in log  # the server did log about this file…
    assert TOKEN.split(":")[1] not in log  # …and never its bot token
