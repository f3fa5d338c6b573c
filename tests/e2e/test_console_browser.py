"""The console in a real browser against a real ``onethread serve``: log in, open a thread, add a note.

Headless Debian ``chromium`` driven by Python Playwright (``executable_path``; Playwright's own
browser downloads are never used). The server runs the embedded shape on a SQLite copy, so this
test needs no PostgreSQL or Redis of its own. A screenshot of the thread is saved under
``tests/e2e/screenshots/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
from playwright.async_api import async_playwright, expect

from tests.e2e.conftest import CHROMIUM_ARGS, SCREENSHOTS, ConsoleServer, watch_errors
from tests.helpers import PASSWORD
from tests.processes import cli_json

XSS = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"


async def test_log_in_open_a_thread_and_add_a_note(console_server: ConsoleServer, chromium: Path) -> None:
    process, env = console_server.process, console_server.env
    channel = await cli_json(env, "channel", "add", "api", "--name", "Shop")
    async with httpx.AsyncClient(base_url=process.url, timeout=10) as http:
        for text, contact in (("Where is my order #1042?", "c-1"), (XSS, "c-1")):
            response = await http.post(
                f"/api/v1/channels/{channel['id']}/inbound",
                json={
                    "external_id": uuid.uuid4().hex,
                    "contact": {"external_id": contact, "name": "Cleo Customer"},
                    "text": text,
                },
                headers={"Authorization": f"Bearer {channel['token']}"},
            )
            assert response.status_code == 202, response.text

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            errors = watch_errors(page)
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: dialogs.append(dialog.message))

            await page.goto(f"{process.url}/")
            await expect(page).to_have_url(f"{process.url}/login")
            await page.get_by_label("Email").fill("ada@example.com")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
            await page.screenshot(caret="initial", path=str(SCREENSHOTS / "inbox.png"), full_page=True)

            await page.get_by_role("link", name="Cleo Customer").click()
            await expect(page.get_by_role("heading", name="Cleo Customer")).to_be_visible()
            await expect(page.locator("#timeline")).to_contain_text("Where is my order #1042?")
            await expect(page.locator("#timeline")).to_contain_text("<script>document.title='pwned'</script>")

            await page.get_by_label("Internal note").check()
            await page.get_by_label("Message").fill("Called the warehouse: ships tomorrow.")
            await page.get_by_role("button", name="Send").click()
            note = page.locator("#timeline .msg--note")
            await expect(note).to_contain_text("Called the warehouse: ships tomorrow.")
            await expect(page.get_by_label("Message")).to_have_value("")  # the composer was reset
            # HTMX swapped the note in: no full-page post and redirect (that would add #m-<id>).
            await expect(page).to_have_url(re.compile(r"/threads/\d+$"))

            # A reply the channel cannot deliver (no callback URL): the reason shows on the form,
            # the text is kept, nothing is added to the timeline.
            await page.get_by_label("Reply to customer").check()
            await page.get_by_label("Message").fill("It ships tomorrow.")
            await page.get_by_role("button", name="Send").click()
            await expect(page.locator("#composer-error")).to_contain_text("no callback URL")
            await expect(page.get_by_label("Message")).to_have_value("It ships tomorrow.")
            await expect(page.locator("#timeline > li")).to_have_count(3)

            await page.screenshot(
                caret="initial", path=str(SCREENSHOTS / "thread-with-note.png"), full_page=True
            )
            assert await page.title() != "pwned"
            assert dialogs == []
            # The refused reply's 409 is the only console error a browser may log.
            assert [e for e in errors if "409" not in e] == []
            assert await page.locator("#timeline img").count() == 0
        finally:
            await browser.close()
