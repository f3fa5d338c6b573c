"""A customer's files in the console, in Chromium: the photo a Telegram customer sent shows as a
thumbnail loaded from our own copy (under the page's CSP, with the agent's cookie), the PDF as a
download link with its name, type and size. Screenshot: ``tests/e2e/screenshots/thread-attachments.png``.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import httpx
from playwright.async_api import async_playwright, expect

from app.domain.channels.accounts import do_add_channel_account
from app.runtime import standalone_writer
from tests.e2e.conftest import CHROMIUM_ARGS, SCREENSHOTS, ConsoleServer, log_in, watch_errors
from tests.fakes.telegram_bot_api import TelegramBotAPI
from tests.integration.test_attachment_fetch import PDF, SECRET, TOKEN, document_update


def png(width: int, height: int) -> bytes:
    """A real PNG (a colour gradient), so the browser has something to decode and draw."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def test_a_photo_shows_as_a_thumbnail_and_a_pdf_as_a_download(
    console_server: ConsoleServer, chromium: Path
) -> None:
    image = png(320, 240)
    async with TelegramBotAPI() as telegram:
        async with standalone_writer(console_server.settings()) as writer:
            created = await do_add_channel_account(
                writer,
                channel="telegram",
                name="Shop bot",
                config={"api_url": telegram.url},
                secrets={"bot_token": TOKEN, "webhook_secret": SECRET},
            )
        photo = document_update(
            update_id=30001, file_id="BQAC-lamp", name="lamp.png", mime="image/png", size=0
        )
        photo["message"]["caption"] = "The lamp arrived like this"
        pdf = document_update(update_id=30002, size=len(PDF))
        telegram.add_file("BQAC-lamp", image)
        telegram.add_file(pdf["message"]["document"]["file_id"], PDF)
        base = console_server.process.url
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            for update in (photo, pdf):
                response = await http.post(
                    f"/webhooks/telegram/{created.account.id}",
                    content=json.dumps(update).encode(),
                    headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
                )
                assert response.status_code == 200, response.text
        await telegram.wait_for(4)  # two getFile calls, two downloads

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
            )
            try:
                page = await browser.new_page(viewport={"width": 1366, "height": 900})
                errors = watch_errors(page)
                await log_in(page, base)
                await page.get_by_role("link", name="Test Firstname Test Lastname").first.click()
                timeline = page.locator("#timeline")
                thumb = timeline.locator(".attachment img")
                await expect(thumb).to_have_attribute("alt", "lamp.png")
                await expect(thumb).to_be_visible()
                # drawn from our copy: the browser decoded the real image
                await page.wait_for_function(
                    "() => { const i = document.querySelector('.attachment img'); "
                    "return i && i.complete && i.naturalWidth === 320; }"
                )
                link = timeline.get_by_role("link", name="Testfile.pdf")
                await expect(link).to_have_attribute("href", "/api/v1/attachments/2")
                await expect(timeline.locator(".attachment", has_text="Testfile.pdf")).to_contain_text(
                    "application/pdf"
                )
                await page.screenshot(path=str(SCREENSHOTS / "thread-attachments.png"), caret="initial")
                assert errors == []
            finally:
                await browser.close()
