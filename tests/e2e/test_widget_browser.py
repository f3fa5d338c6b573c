"""The chat widget in a real browser, on a customer's site, against a real ``onethread serve``.

Headless Debian ``chromium``: the shop (:class:`tests.fakes.customer_site.CustomerSite`, on
``http://localhost:<port>``, another site than OneThread's ``http://127.0.0.1:<port>``) embeds the
snippet; the visitor chats through the launcher and the iframe while an agent answers in the
console in a second browser context. What is proved is what people notice: the messages arrive
live on both sides and survive a reload; a signed-in customer sees their Telegram messages (and a
wrong signature shows nothing of them); a server restart mid-chat loses nothing and doubles
nothing; customer-controlled text stays text. Screenshots go to ``tests/e2e/screenshots/``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Frame, Page, async_playwright, expect

from app.domain.channels.accounts import do_add_channel_account
from app.runtime import standalone_writer
from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    ConsoleServer,
    log_in,
    serve_console,
    watch_errors,
)
from tests.fakes.customer_site import CustomerSite
from tests.helpers import PASSWORD
from tests.integration.widget_client import WidgetSite
from tests.integration.widget_client import add_site as add_widget_site
from tests.processes import ServerProcess, login

AGENT = "Ada Agent"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
FRAME_PATH = "/widget/v1/frame/"
TELEGRAM_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
BOT_TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
WEBHOOK_SECRET = "tg-webhook_secret-0123456789"


# --- fixtures and helpers ------------------------------------------------------------------------------
# One server and one browser for the module (each test has its own site, visitor and browser
# contexts): starting ``onethread serve`` costs seconds, more on a busy machine.
@pytest.fixture(scope="module")
async def server(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ConsoleServer]:
    async with serve_console(sqlite_template, tmp_path_factory.mktemp("widget-e2e")) as running:
        yield running


@pytest.fixture(scope="module")
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


@asynccontextmanager
async def shop_with_chat(server: ConsoleServer) -> AsyncIterator[tuple[CustomerSite, WidgetSite]]:
    """The customer's website and its webchat account, which allows the site's origin."""
    async with CustomerSite(server.process.url, "") as shop:
        async with standalone_writer(server.settings()) as writer:
            site = await add_widget_site(writer, origins=(shop.origin,))
        shop.site_id = site.id  # the account needs the shop's port, the shop the account's id
        yield shop, site


async def chat_frame(page: Page, within: float = 15) -> Frame:
    """The widget's iframe (inside the loader's closed shadow root: found among the page's frames)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for frame in page.frames:
            if FRAME_PATH in frame.url:
                await expect(frame.locator("#ot-text")).to_be_attached()
                return frame
        await asyncio.sleep(0.05)
    raise AssertionError(f"no widget frame on {page.url} within {within} s")


async def click_launcher(page: Page) -> None:
    """Click the round button in the corner, where a visitor sees it.

    It lives in a closed shadow root (the site's scripts and CSS cannot reach it, nor can
    Playwright's selectors): the mouse goes where it is drawn, 20 px from the corner, 56 px wide.
    """
    size = page.viewport_size
    assert size is not None
    await page.mouse.click(size["width"] - 48, size["height"] - 48)


async def open_launcher(page: Page) -> Frame:
    """Click the launcher and wait for the chat to be shown, its text box focused."""
    frame = await chat_frame(page)
    await click_launcher(page)
    await expect(frame.locator("#ot-text")).to_be_focused()
    return frame


async def visitor_sends(frame: Frame, text: str) -> None:
    await frame.locator("#ot-text").fill(text)
    await frame.locator("#ot-text").press("Enter")


def bubbles(frame: Frame) -> Any:
    """The messages the visitor sees, oldest first (the greeting is not one)."""
    return frame.locator("#ot-list > li.ot-msg:not(.ot-greeting)")


def relevant(errors: list[str]) -> list[str]:
    """Script and console errors, without the shop's missing favicon (not ours)."""
    return [error for error in errors if "favicon.ico" not in error]


async def agent_api(process: ServerProcess) -> httpx.AsyncClient:
    token = await login(process, "ada@example.com", PASSWORD)
    return httpx.AsyncClient(
        base_url=f"{process.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


async def telegram_sends(process: ServerProcess, account_id: str, update: dict[str, Any]) -> None:
    """Deliver ``update`` to the bot's webhook as Telegram does (with the secret token header)."""
    async with httpx.AsyncClient(base_url=process.url, timeout=10) as http:
        response = await http.post(
            f"/webhooks/telegram/{account_id}",
            content=json.dumps(update).encode(),
            headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
        )
    assert response.status_code == 200, response.text


def telegram_fixture(name: str) -> dict[str, Any]:
    return dict(json.loads((TELEGRAM_FIXTURES / name).read_text()))


async def wait_for_animations(frame: Frame) -> None:
    """Let the bubbles' fade-in finish, so a screenshot shows them as a person sees them.

    (Not ``wait_for_function``: it evaluates a string, which the frame's CSP refuses.)
    """
    await frame.evaluate("() => Promise.all(document.getAnimations().map((a) => a.finished))")


async def new_page(browser: Browser, viewport: dict[str, int]) -> tuple[BrowserContext, Page, list[str]]:
    """A browser context of its own (another device, another person), a page, and its errors."""
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    return context, page, watch_errors(page)


# --- 1: a conversation, live on both sides, kept over a reload ------------------------------------------
async def test_a_visitor_and_an_agent_chat_live_and_the_conversation_survives_a_reload(
    server: ConsoleServer, browser: Browser
) -> None:
    async with shop_with_chat(server) as (shop, _):
        visitor, page, page_errors = await new_page(browser, DESKTOP)
        agent, console, console_errors = await new_page(browser, {"width": 1200, "height": 800})
        try:
            await page.goto(shop.url)
            frame = await chat_frame(page)
            await page.screenshot(caret="initial", path=str(SCREENSHOTS / "widget-closed.png"))
            frame = await open_launcher(page)
            await log_in(console, server.process.url)

            await visitor_sends(frame, "Hi! Do you have these socks in size 44?")
            await expect(bubbles(frame).last).to_contain_text("Sent")

            # The new conversation arrives in the agent's inbox; the agent opens it and watches.
            row = console.locator("#thread-list .thread-row").first
            await expect(row).to_contain_text("Hi! Do you have these socks in size 44?")
            await row.locator(".thread-link").click()
            timeline = console.locator("#timeline > li")
            await expect(timeline.last).to_contain_text("Hi! Do you have these socks in size 44?")
            await expect(console.locator('#live .live-status[data-state="open"]')).to_have_count(1)
            await console.evaluate("window.notReloaded = true")

            await visitor_sends(frame, "And do they come in green?")
            await expect(timeline.last).to_contain_text("And do they come in green?")

            await console.get_by_label("Message").fill("Yes, size 44 in green is in stock.")
            await console.get_by_role("button", name="Send").click()
            answer = bubbles(frame).last
            await expect(answer.locator(".ot-text")).to_have_text("Yes, size 44 in green is in stock.")
            await expect(answer.locator(".ot-author")).to_have_text(AGENT)
            assert await console.evaluate("window.notReloaded") is True
            await wait_for_animations(frame)
            await page.screenshot(caret="initial", path=str(SCREENSHOTS / "widget-open-desktop.png"))

            # A reload of the shop's page: the same conversation, in order, nothing lost or doubled.
            await page.reload()
            frame = await open_launcher(page)
            await expect(bubbles(frame).locator(".ot-text")).to_have_text(
                [
                    "Hi! Do you have these socks in size 44?",
                    "And do they come in green?",
                    "Yes, size 44 in green is in stock.",
                ]
            )
            await expect(bubbles(frame).last.locator(".ot-author")).to_have_text(AGENT)

            await page.set_viewport_size(PHONE)
            await wait_for_animations(frame)
            await page.screenshot(caret="initial", path=str(SCREENSHOTS / "widget-open-phone.png"))
            assert relevant(page_errors) == []
            assert console_errors == []
        finally:
            await visitor.close()
            await agent.close()


# --- 2: a signed-in customer sees what they wrote on Telegram ----------------------------------------
async def test_a_signed_in_customer_sees_their_telegram_messages_and_a_wrong_hash_shows_none(
    server: ConsoleServer, browser: Browser
) -> None:
    process = server.process
    async with shop_with_chat(server) as (shop, site):
        async with standalone_writer(server.settings()) as writer:
            bot = await do_add_channel_account(
                writer,
                channel="telegram",
                name="Shop bot",
                config={"username": "shop_bot"},  # what `channel add telegram` learns from getMe
                secrets={"bot_token": BOT_TOKEN, "webhook_secret": WEBHOOK_SECRET},
            )
        bot_id = bot.account.id
        # Before the shop had a chat, Waffle wrote to the shop's bot.
        first = telegram_fixture("update_message_text_private__teloxide.json")
        await telegram_sends(process, bot_id, first)
        signed_in = f"{shop.url}/account?" + urlencode(
            {"user": "42", "hash": site.hash("42"), "name": "Waffle"}
        )

        contexts: list[BrowserContext] = []
        try:
            # Signed in on the shop, Waffle writes in the chat once…
            laptop, page, errors = await new_page(browser, DESKTOP)
            contexts.append(laptop)
            await page.goto(signed_in)
            frame = await open_launcher(page)
            await visitor_sends(frame, "Hi, I wrote to your bot before.")
            await expect(bubbles(frame).last).to_contain_text("Sent")
            # …and on the next page view follows "Continue on Telegram": the link names them, and
            # Telegram sends the bot "/start <token>" from Waffle's account.
            await page.reload()
            frame = await open_launcher(page)
            link = frame.get_by_role("link", name="Continue on Telegram")
            await expect(link).to_have_attribute(
                "href", re.compile(r"^https://t\.me/shop_bot\?start=[\w-]+$")
            )
            deep_link = await link.get_attribute("href")
            assert deep_link is not None
            start = telegram_fixture("update_message_start_deeplink_payload__composed_from_spec.json")
            start["update_id"] = first["update_id"] + 1
            start["message"].update(
                {
                    "from": first["message"]["from"],
                    "chat": first["message"]["chat"],
                    "date": int(time.time()),
                    "text": "/start " + deep_link.split("start=", 1)[1],
                }
            )
            await telegram_sends(process, bot_id, start)
            assert relevant(errors) == []

            # On another device, signed in: the whole conversation, the Telegram part labelled.
            phone, page, errors = await new_page(browser, PHONE)
            contexts.append(phone)
            await page.goto(signed_in)
            frame = await open_launcher(page)
            # (Telegram dates are whole seconds: "/start" may sort just before the chat message.)
            await expect(bubbles(frame)).to_have_count(3)
            oldest = bubbles(frame).first
            await expect(oldest.locator(".ot-text")).to_have_text("hello there")
            await expect(oldest.locator(".ot-channel")).to_contain_text("You wrote us on Telegram")
            await expect(bubbles(frame).filter(has_text="Hi, I wrote to your bot before.")).to_have_count(1)
            assert relevant(errors) == []

            # A wrong signature: the page is refused as Waffle (the widget warns the shop's developer
            # in the console) and the chat shows nothing of theirs.
            stranger, page, _ = await new_page(browser, DESKTOP)
            contexts.append(stranger)
            async with page.expect_console_message(lambda m: "user_hash was refused" in m.text):
                await page.goto(f"{shop.url}/account?" + urlencode({"user": "42", "hash": "0" * 64}))
            frame = await open_launcher(page)
            await visitor_sends(frame, "Who am I?")
            await expect(bubbles(frame).last).to_contain_text("Sent")
            await expect(bubbles(frame).locator(".ot-text")).to_have_text(["Who am I?"])
            assert "hello there" not in await frame.content()
        finally:
            for context in contexts:
                await context.close()


# --- 3: the server restarts mid-chat -----------------------------------------------------------------
async def test_a_server_restart_mid_chat_loses_and_doubles_nothing(
    server: ConsoleServer, browser: Browser
) -> None:
    async with shop_with_chat(server) as (shop, _):
        visitor, page, _errors = await new_page(browser, DESKTOP)
        try:
            await page.goto(shop.url)
            frame = await open_launcher(page)
            await visitor_sends(frame, "Is my parcel on its way?")
            await expect(bubbles(frame).last).to_contain_text("Sent")
            await page.evaluate("window.notReloaded = true")
            async with await agent_api(server.process) as agent:
                [thread] = [
                    t
                    for t in (await agent.get("/threads", params={"limit": 100})).json()["items"]
                    if t["last_message_preview"] == "Is my parcel on its way?"
                ]

            # The server goes away: the widget says so, and what the visitor sends now waits.
            server.process.stop()
            banner = frame.locator("#ot-conn")
            await expect(banner).to_have_text("Connection lost. Reconnecting…")
            await visitor_sends(frame, "Hello? Anyone there?")
            waiting = bubbles(frame).filter(has_text="Hello? Anyone there?")
            await expect(waiting).to_contain_text("Waiting for the connection…")

            # Back on the same address; an agent answers at once.
            server.process = await server.group.restart(server.process, ready_within=60)
            async with await agent_api(server.process) as agent:
                answer = await agent.post(
                    f"/threads/{thread['id']}/messages", json={"text": "Yes, it arrives tomorrow."}
                )
                assert answer.status_code == 202, answer.text

                # Without a reload or a click: the answer arrives (the widget polls every 3 s until its
                # socket is back), the banner goes, and the waiting message goes by itself (it backed
                # off while the server was away: up to 30 s).
                await expect(bubbles(frame).filter(has_text="Yes, it arrives tomorrow.")).to_have_count(
                    1, timeout=15_000
                )
                await expect(banner).to_be_hidden()
                await expect(waiting).to_contain_text("Sent", timeout=45_000)
                # Each once; the answer and the message that waited may be stored in either order.
                await expect(bubbles(frame)).to_have_count(3)
                await expect(bubbles(frame).first.locator(".ot-text")).to_have_text(
                    "Is my parcel on its way?"
                )
                await expect(waiting).to_have_count(1)
                assert await page.evaluate("window.notReloaded") is True

                timeline = (await agent.get(f"/threads/{thread['id']}/messages")).json()["items"]
                assert [m["text"] for m in timeline if m["direction"] == "in"] == [
                    "Is my parcel on its way?",
                    "Hello? Anyone there?",
                ]
                assert [m["text"] for m in timeline if m["direction"] == "out"] == [
                    "Yes, it arrives tomorrow."
                ]
        finally:
            await visitor.close()
            if not server.process.running:  # failed while it was down: the next tests need it
                server.process = await server.group.restart(server.process, ready_within=60)


# --- 4: what customers type stays text ----------------------------------------------------------------
NAME = "<img src=x onerror=\"window.pwned=1;alert('name')\">Eve"
TEXT = "<script>window.pwned=1;alert('script')</script><img src=x onerror=\"window.pwned=1;alert('img')\">"
REPLY = "<b>bold?</b><img src=x onerror=\"window.pwned=1;alert('reply')\">"


async def test_markup_from_the_visitor_and_the_agent_is_shown_as_text_everywhere(
    server: ConsoleServer, browser: Browser
) -> None:
    async with shop_with_chat(server) as (shop, site):
        visitor, page, errors = await new_page(browser, DESKTOP)
        agent, console, console_errors = await new_page(browser, {"width": 1200, "height": 800})
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        console.on("dialog", lambda dialog: dialogs.append(dialog.message))
        try:
            await page.goto(
                f"{shop.url}/account?" + urlencode({"user": "7", "hash": site.hash("7"), "name": NAME})
            )
            frame = await open_launcher(page)
            await visitor_sends(frame, TEXT)
            mine = bubbles(frame).last
            await expect(mine).to_contain_text("Sent")
            await expect(mine.locator(".ot-text")).to_have_text(TEXT)

            await log_in(console, server.process.url)
            row = console.locator("#thread-list .thread-row").first
            await expect(row).to_contain_text(NAME)
            await row.locator(".thread-link").click()
            await expect(console.get_by_role("heading", name=NAME)).to_be_visible()
            timeline = console.locator("#timeline > li")
            await expect(timeline.last).to_contain_text(TEXT)
            await console.get_by_label("Message").fill(REPLY)
            await console.get_by_role("button", name="Send").click()
            await expect(timeline.last).to_contain_text(REPLY)
            await expect(bubbles(frame).last.locator(".ot-text")).to_have_text(REPLY)

            injected = "img[src='x'], #timeline b, #ot-list b, #timeline script, #ot-list script"
            for where in (frame, console):
                await expect(where.locator(injected)).to_have_count(0)
                assert await where.evaluate("window.pwned") is None
            assert await page.evaluate("window.pwned") is None
            assert dialogs == []
            assert relevant(errors) == []
            assert console_errors == []
        finally:
            await visitor.close()
            await agent.close()
