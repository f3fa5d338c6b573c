"""The live console in a real browser: what an agent sees change without reloading.

Headless Debian ``chromium`` (Playwright with ``executable_path``) against a real ``onethread
serve`` (embedded shape). A customer writes through the custom channel's inbound API while the
agent watches: the thread jumps to the top of the inbox, marked unread, and the open thread grows
by the new message, with no reload. The keyboard works (j / k / Enter, "/"), and two agents on one
thread see each other viewing and typing. Screenshots go to ``tests/e2e/screenshots/``.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.e2e.conftest import CHROMIUM_ARGS, SCREENSHOTS, ConsoleServer, log_in, watch_errors
from tests.helpers import PASSWORD
from tests.processes import ServerProcess, cli_json, create_agent


@pytest.fixture
async def server(console_server: ConsoleServer) -> tuple[ServerProcess, dict[str, Any]]:
    """The console server with a second agent (Bo) and an API channel customers write through."""
    await create_agent(console_server.env, "bo@example.com", PASSWORD, name="Bo Agent")
    channel = await cli_json(console_server.env, "channel", "add", "api", "--name", "Shop")
    return console_server.process, channel


async def customer_writes(
    process: ServerProcess, channel: dict[str, Any], contact: str, name: str, text: str
) -> None:
    async with httpx.AsyncClient(base_url=process.url, timeout=10) as http:
        response = await http.post(
            f"/api/v1/channels/{channel['id']}/inbound",
            json={
                "external_id": uuid.uuid4().hex,
                "contact": {"external_id": contact, "name": name},
                "text": text,
            },
            headers={"Authorization": f"Bearer {channel['token']}"},
        )
    assert response.status_code == 202, response.text


async def live(page: Page) -> None:
    """Wait until the page's socket is open (its status says so)."""
    await expect(page.locator('#live .live-status[data-state="open"]')).to_have_count(1)


async def test_inbox_and_thread_update_live_and_the_keyboard_works(
    server: tuple[ServerProcess, dict[str, Any]], chromium: Path
) -> None:
    process, channel = server
    await customer_writes(process, channel, "c-anna", "Anna Andersen", "Is the blue jacket in stock?")
    await customer_writes(process, channel, "c-bram", "Bram Bakker", "My parcel never arrived.")
    await customer_writes(process, channel, "c-cleo", "Cleo Costa", "Can I change my address?")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 800})
            errors = watch_errors(page)
            await log_in(page, process.url, "ada@example.com")
            rows = page.locator("#thread-list .thread-row")
            await expect(rows).to_have_count(3)
            await expect(rows.first).to_contain_text("Cleo Costa")
            await expect(page.locator("#thread-list .thread-row--unread")).to_have_count(3)
            await live(page)
            await page.evaluate("window.notReloaded = true")

            # Anna writes again: her thread jumps to the top, unread, with the new preview.
            await customer_writes(process, channel, "c-anna", "Anna Andersen", "Also: do you ship to Norway?")
            await expect(rows.first).to_contain_text("Anna Andersen")
            await expect(rows.first).to_contain_text("Also: do you ship to Norway?")
            await expect(rows.first).to_have_class(re.compile("thread-row--unread"))
            await expect(rows).to_have_count(3)
            # A new customer appears at the top too.
            await customer_writes(process, channel, "c-dina", "Dina Dekker", "Hello from a new customer")
            await expect(rows.first).to_contain_text("Dina Dekker")
            await expect(rows).to_have_count(4)
            assert await page.evaluate("window.notReloaded") is True
            await page.screenshot(caret="initial", path=str(SCREENSHOTS / "inbox-live.png"), full_page=True)

            # j / k move a visible selection; Enter opens the selected thread.
            await page.keyboard.press("j")
            await expect(rows.nth(0)).to_have_class(re.compile("is-selected"))
            await page.keyboard.press("j")
            await page.keyboard.press("j")
            await page.keyboard.press("k")
            await expect(rows.nth(1)).to_have_class(re.compile("is-selected"))
            await expect(rows.nth(1).locator(".thread-link")).to_be_focused()
            await expect(rows.nth(1)).to_contain_text("Anna Andersen")
            await page.screenshot(
                caret="initial", path=str(SCREENSHOTS / "inbox-selection.png"), full_page=True
            )
            # "/" focuses the search box; j typed there is text, not a move.
            await page.keyboard.press("/")
            await expect(page.locator("#inbox-q")).to_be_focused()
            await page.keyboard.type("bra")
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_contain_text("Bram Bakker")
            await expect(page).to_have_url(re.compile(r"\?q=bra"))
            await page.locator("#inbox-q").fill("")
            await expect(rows).to_have_count(4)
            await page.locator("#inbox-q").blur()
            # The selection stayed on Anna's thread through the filter changes.
            await page.keyboard.press("k")
            await expect(rows.nth(0)).to_have_class(re.compile("is-selected"))
            await page.keyboard.press("j")
            await expect(rows.nth(1).locator(".thread-link")).to_be_focused()
            await expect(rows.nth(1)).to_contain_text("Anna Andersen")
            await page.keyboard.press("Enter")
            await expect(page.get_by_role("heading", name="Anna Andersen")).to_be_visible()

            # The open thread grows by what the customer writes, once, without a reload.
            await live(page)
            await page.evaluate("window.notReloaded = true")
            timeline = page.locator("#timeline > li")
            before = await timeline.count()
            await customer_writes(process, channel, "c-anna", "Anna Andersen", "Sorry, one more: gift wrap?")
            await expect(timeline.last).to_contain_text("Sorry, one more: gift wrap?")
            await expect(timeline).to_have_count(before + 1)
            # The agent's own note comes back on the composer's response and on the socket: shown once.
            await page.get_by_label("Internal note").check()
            await page.get_by_label("Message").fill("Checking with the warehouse.")
            await page.get_by_role("button", name="Send").click()
            await expect(timeline.last).to_contain_text("Checking with the warehouse.")
            await page.wait_for_timeout(700)
            await expect(timeline).to_have_count(before + 2)
            assert await page.evaluate("window.notReloaded") is True

            # "/" from another page goes to the top bar's search, which opens the inbox filtered.
            await page.locator("#timeline").click()
            await page.keyboard.press("/")
            await expect(page.locator("#topbar-q")).to_be_focused()
            await page.keyboard.type("Cleo")
            await page.keyboard.press("Enter")
            await expect(page.locator("#thread-list .thread-row")).to_have_count(1)
            await expect(page.locator("#inbox-q")).to_have_value("Cleo")
            # Anna's thread was read while it was open: no unread mark now.
            await page.goto(f"{process.url}/?q=Anna")
            await expect(page.locator("#thread-list .thread-row")).not_to_have_class(re.compile("unread"))
            assert errors == []
        finally:
            await browser.close()


async def test_two_agents_on_one_thread_see_viewing_and_typing(
    server: tuple[ServerProcess, dict[str, Any]], chromium: Path
) -> None:
    process, channel = server
    await customer_writes(process, channel, "c-pia", "Pia Park", "Is anyone there?")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            ada_context, bo_context = await browser.new_context(), await browser.new_context()
            ada, bo = await ada_context.new_page(), await bo_context.new_page()
            errors = watch_errors(ada) + watch_errors(bo)
            await log_in(ada, process.url, "ada@example.com")
            await log_in(bo, process.url, "bo@example.com")
            await ada.get_by_role("link", name="Pia Park").click()
            await live(ada)
            await bo.get_by_role("link", name="Pia Park").click()
            await live(bo)

            await expect(ada.locator("#presence")).to_contain_text("Bo Agent is viewing")
            await expect(bo.locator("#presence")).to_contain_text("Ada Agent is viewing")
            await bo.get_by_label("Message").press_sequentially("Hi Pia, ", delay=50)
            await expect(ada.locator("#presence")).to_contain_text("Bo Agent is typing…")
            await ada.screenshot(
                caret="initial", path=str(SCREENSHOTS / "thread-collision.png"), full_page=True
            )
            # Bo stops typing: after a few seconds the notice is back to viewing.
            await expect(ada.locator("#presence")).to_contain_text("Bo Agent is viewing", timeout=12_000)
            # Bo leaves: the notice goes.
            await bo.close()
            await expect(ada.locator("#presence")).not_to_contain_text("Bo Agent", timeout=10_000)
            assert errors == []
        finally:
            await browser.close()
