"""The bot's reply buttons in the chat widget, in a real browser against a real ``onethread serve``.

Headless Debian ``chromium`` on the customer's site (see ``test_widget_browser``). The visitor asks
something; the bot's replies with buttons are stored the way the bot's turn stores them (the real
``do_send_reply`` and ``meta["buttons"]``, through a writer on the server's database). What a
visitor notices is checked: only the newest reply's buttons are there to press, under it, with
their words as text; pressing one (with the keyboard) sends those words as the visitor's message,
which the agent finds stored with the button's payload, and the buttons are gone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

from app.core import default_registry
from app.runtime import standalone_writer
from tests.bot_replies import store_bot_reply
from tests.e2e.conftest import ADMIN_EMAIL, CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, ConsoleServer, serve_console
from tests.e2e.test_widget_browser import (
    DESKTOP,
    agent_api,
    bubbles,
    new_page,
    open_launcher,
    relevant,
    shop_with_chat,
    visitor_sends,
    wait_for_animations,
)

BUTTONS = [
    {"label": "Levertijd", "payload": "bot:rule:delivery-time"},
    {"label": "Retourneren", "payload": "bot:rule:returns"},
    {"label": "Praat met <b>een</b> mens", "payload": "bot:person"},
]


@pytest.fixture
async def server(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    async with serve_console(sqlite_template, tmp_path) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is required for the browser tests (apt-get install chromium)")
    SCREENSHOTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def test_a_visitor_presses_the_newest_replys_button_and_its_payload_is_stored(
    server: ConsoleServer, browser: Browser
) -> None:
    async with shop_with_chat(server) as (shop, _):
        visitor, page, errors = await new_page(browser, DESKTOP)
        api = await agent_api(server.process)
        try:
            await page.goto(shop.url)
            frame = await open_launcher(page)
            await visitor_sends(frame, "Hoe lang duurt het?")
            await expect(bubbles(frame).last).to_contain_text("Sent")
            [thread] = (await api.get("/threads")).json()["items"]

            async with standalone_writer(server.settings()) as writer:
                for text, buttons in (
                    ("Hielp dit antwoord?", [{"label": "Nee", "payload": "bot:not_helpful:1"}]),
                    ("Bedoel je levertijd of retourneren?", BUTTONS),
                ):
                    await store_bot_reply(
                        writer,
                        default_registry(),
                        None,
                        agent_email=ADMIN_EMAIL,
                        thread_id=thread["id"],
                        text=text,
                        buttons=buttons,
                    )
            await page.reload()
            frame = await open_launcher(page)

            shown = bubbles(frame)
            await expect(shown).to_have_count(3)
            await expect(shown.nth(1).locator(".ot-choice")).to_have_count(0)  # an older question
            choices = shown.last.locator(".ot-choice")
            await expect(choices).to_have_text([b["label"] for b in BUTTONS])  # markup stays text
            await expect(shown.last.locator(".ot-choices b")).to_have_count(0)
            await wait_for_animations(frame)
            await page.screenshot(caret="initial", path=str(SCREENSHOTS / "widget-buttons.png"))

            # A keyboard user: the button takes focus and Enter presses it.
            await choices.nth(1).focus()
            await page.keyboard.press("Enter")

            await expect(shown).to_have_count(4)
            await expect(shown.last.locator(".ot-text")).to_have_text("Retourneren")
            await expect(shown.last).to_contain_text("Sent")
            await expect(frame.locator(".ot-choice")).to_have_count(0)  # answered: nothing left to press
            await expect(frame.locator("#ot-text")).to_be_focused()
            await wait_for_animations(frame)
            await page.screenshot(caret="initial", path=str(SCREENSHOTS / "widget-buttons-pressed.png"))

            timeline = (await api.get(f"/threads/{thread['id']}/messages")).json()["items"]
            pressed = [m for m in timeline if m["direction"] == "in"][-1]
            assert (pressed["text"], pressed["meta"]["button_payload"]) == ("Retourneren", "bot:rule:returns")
            assert relevant(errors) == []
        finally:
            await api.aclose()
            await visitor.close()
