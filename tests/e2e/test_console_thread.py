"""The thread page in Chromium against a real ``onethread serve``: a customer on five channels, the
composer (reply, note, canned responses, Enter), phone notes, resolve (``e`` and the button),
snooze with a time, older history on scroll, and the channel picker's reasons.

Customers on channels whose HTTP adapters do not exist yet are seeded with ``do_ingest`` and the
``InboundMessage`` those adapters will build, through a writer on the server's own SQLite file.
Screenshots go to ``tests/e2e/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select
from sqlmodel import col

from app.db.models import Agent
from app.domain.canned.actions import do_create_canned_response
from app.domain.channels.accounts import do_add_channel_account
from app.domain.inbox.actions import do_add_note, do_ingest, do_log_phone_note, do_update_thread
from app.domain.realtime.writer import Writer
from app.runtime import standalone_writer
from integrations.types import ContactClaim, InboundAttachment, InboundMessage, InboundSender
from tests.e2e.conftest import CHROMIUM_ARGS, SCREENSHOTS, ConsoleServer, log_in, watch_errors
from tests.processes import cli_json

ANNA_PHONE = "+31612345678"


Served = ConsoleServer


@pytest.fixture
def served(console_server: ConsoleServer) -> ConsoleServer:
    return console_server


async def _agent(writer: Writer, email: str = "ada@example.com") -> Agent:
    async with writer.sessionmaker() as session:
        return (await session.execute(select(Agent).where(col(Agent.email) == email))).scalar_one()


async def seed_five_channels(writer: Writer, *, subject: str = "Re: Order #1042", **fields: str) -> int:
    """Anna writes on web chat, Telegram, Messenger and email (linked by her verified email and
    phone), then calls; an agent leaves a note and takes the thread. Returns the thread id.

    ``fields`` override what is shown (``name``, ``text``, ``html``, ``filename``) for the XSS test.
    """
    accounts = {}
    for channel in ("webchat", "telegram", "messenger", "email"):
        created = await do_add_channel_account(writer, channel=channel, name=f"Shop {channel}")
        accounts[channel] = created.account.id
    name = fields.get("name", "Anna de Vries")
    email, phone = ContactClaim("email", "anna@example.nl", True), ContactClaim("phone", ANNA_PHONE, True)
    start = datetime.now(UTC) - timedelta(hours=6)
    texts = {
        "webchat": "Hi! When will my order #1042 arrive?",
        "telegram": "Still nothing here, can you check the parcel?",
        "messenger": "Following up on Messenger: any news?",
        "email": (
            "Here is a photo of the label.\n\n"
            "On Mon, 30 Nov 2026 at 09:12, Shop <help@shop.example> wrote:\n"
            "> Could you send us a photo of the label?\n> Thanks, the shop\n"
        ),
    }
    senders = {
        "webchat": InboundSender("webchat", "visitor-anna", name, (email, phone)),
        "telegram": InboundSender("telegram", "tg-5550101", name, (phone,)),
        "messenger": InboundSender("messenger", "page-1:psid-7788", name, (email,)),
        "email": InboundSender("email", "anna@example.nl", name, (email,)),
    }
    thread_id = 0
    for hour, channel in enumerate(("webchat", "telegram", "messenger", "email")):
        extra: dict[str, object] = {}
        if channel == "email":
            extra = {
                "subject": subject,
                "html": fields.get(
                    "html",
                    "<p>Here is a photo of the <b>label</b>.</p>"
                    '<p><img src="https://images.example/label.jpg" alt="photo of the label"></p>',
                ),
                "attachments": (
                    InboundAttachment(
                        fields.get("filename", "label.jpg"),
                        "image/jpeg",
                        183_211,
                        url="https://files.example/label.jpg",
                    ),
                ),
            }
        result = await do_ingest(
            writer,
            InboundMessage(
                channel=channel,
                account_id=accounts[channel],
                external_id=uuid.uuid4().hex,
                sender=senders[channel],
                text=fields.get("text", texts[channel]) if channel != "email" else texts[channel],
                sent_at=start + timedelta(hours=hour),
                **extra,  # type: ignore[arg-type]
            ),
        )
        thread_id = result.thread_id
    agent = await _agent(writer)
    await do_log_phone_note(
        writer,
        agent=agent,
        phone=ANNA_PHONE,
        direction="inbound",
        duration_seconds=245,
        text=fields.get("phone_text", "Anna called about the parcel; promised an update today."),
    )
    await do_add_note(
        writer,
        agent=agent,
        thread_id=thread_id,
        text=fields.get("note", "Carrier says: delivered to a neighbour."),
    )
    await do_update_thread(writer, agent=agent, thread_id=thread_id, assignee_id=agent.id)
    return thread_id


# A tiny PNG for the remote images an email refers to (the test machine has no network).
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a1d3b1a50000000049454e44ae426082"
)


async def logged_in_page(browser: Browser, served: Served) -> tuple[Page, list[str]]:
    """A logged-in page that records script errors and console errors (CSP violations among them).

    Screenshots are taken with ``caret="initial"``: hiding the caret makes Playwright put a
    ``style`` attribute on every input, which htmx's settling then copies, tripping the CSP.
    """
    page = await browser.new_page(viewport={"width": 1366, "height": 900})
    await page.route(
        "https://images.example/**",
        lambda route: route.fulfill(status=200, content_type="image/png", body=PIXEL),
    )
    errors = watch_errors(page)
    await log_in(page, served.process.url)
    return page, errors


async def test_a_customer_on_five_channels(served: Served, chromium: Path) -> None:
    async with standalone_writer(served.settings()) as writer:
        thread_id = await seed_five_channels(writer)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page, errors = await logged_in_page(browser, served)
            await page.goto(f"{served.process.url}/threads/{thread_id}")
            timeline = page.locator("#timeline")
            await expect(page.get_by_role("heading", name="Anna de Vries")).to_be_visible()
            for badge in ("Web chat", "Telegram", "Messenger", "Email", "Phone"):
                await expect(timeline.locator(".msg-head .badge", has_text=badge).first).to_be_visible()
            for switch in ("Telegram", "Messenger", "Email"):
                await expect(timeline).to_contain_text(f"Customer continued on {switch}")
            await expect(timeline).to_contain_text("Phone call, incoming · +31612345678 · 4 min 05 s")
            await expect(timeline.locator(".msg--note")).to_contain_text("delivered to a neighbour")
            await expect(timeline).to_contain_text("Ada Agent assigned the conversation to Ada Agent")
            # The newest entry is in view: the page opens at the bottom of the timeline.
            await expect(timeline.locator("> li").last).to_be_in_viewport()

            # Email: HTML shown sanitized, the remote image only after "Show images".
            email = timeline.locator(".msg", has=page.locator(".subject"))
            await expect(email.locator(".subject")).to_have_text("Subject: Re: Order #1042")
            await expect(email.locator("img")).not_to_have_attribute(
                "src", "https://images.example/label.jpg"
            )
            await expect(email.get_by_role("link", name="label.jpg")).to_have_attribute(
                "href", "https://files.example/label.jpg"
            )
            await email.get_by_role("link", name="Show images").click()
            await expect(timeline.locator('img[src="https://images.example/label.jpg"]')).to_have_count(1)

            # The picker: none of these channels can send yet, and each says why.
            reasons = page.locator("#channel-reasons")
            await expect(reasons).to_contain_text("this Telegram channel has no bot token")
            await expect(reasons).to_contain_text(
                "this email channel has no SMTP server, so replies cannot be sent"
            )
            await expect(page.locator('#composer-channel option[value="telegram"]')).to_be_disabled()
            # Tall enough to show the whole five-channel timeline at once.
            await page.set_viewport_size({"width": 1366, "height": 1500})
            await page.screenshot(path=str(SCREENSHOTS / "thread-five-channels.png"), caret="initial")
            await page.set_viewport_size({"width": 1366, "height": 900})

            # An internal note, sent with Enter; Shift+Enter is a new line.
            await page.get_by_label("Internal note").check()
            box = page.get_by_label("Message")
            await box.fill("Asked the carrier")
            await box.press("Shift+Enter")
            await box.type("for a photo of the doorstep.")
            await box.press("Enter")
            await expect(timeline.locator(".msg--note").last).to_contain_text(
                "Asked the carrier\nfor a photo of the doorstep."
            )
            await expect(page.get_by_label("Message")).to_have_value("")

            # A phone note through the form.
            await page.get_by_text("Log a phone call").click()
            call = page.locator("#phone-note-form")
            await expect(call.get_by_label("Phone number")).to_have_value(ANNA_PHONE)
            await call.get_by_label("Outgoing (we rang)").check()
            await call.get_by_label("min", exact=True).fill("3")
            await call.get_by_label("s", exact=True).fill("20")
            await call.get_by_label("What was said").fill("Told Anna the parcel is with the neighbour.")
            await call.get_by_role("button", name="Log call").click()
            await expect(timeline.locator(".msg--phone").last).to_contain_text(
                "Phone call, outgoing · +31612345678 · 3 min 20 s"
            )
            await expect(timeline.locator(".msg--phone").last).to_contain_text("with the neighbour")

            # Resolve with the keyboard, reopen and resolve with the buttons.
            await page.locator(".timeline-scroller").focus()
            await page.keyboard.press("e")
            await expect(page.locator("#thread-status")).to_have_text("Resolved")
            await expect(timeline).to_contain_text("Ada Agent set the status to Resolved")
            await page.get_by_role("button", name="Reopen").click()
            await expect(page.locator("#thread-status")).to_have_text("Open")
            await page.get_by_role("button", name="Resolve").click()
            await expect(page.locator("#thread-status")).to_have_text("Resolved")

            # Snooze until a time (read in the agent's zone, UTC here).
            until = (datetime.now(UTC) + timedelta(days=1)).replace(
                hour=8, minute=15, second=0, microsecond=0
            )
            await page.locator("summary", has_text="Snooze").click()
            await page.get_by_label("Snooze until").fill(until.strftime("%Y-%m-%dT%H:%M"))
            await page.locator(".snooze form").get_by_role("button", name="Snooze").click()
            await expect(page.locator("#thread-status")).to_have_text("Snoozed")
            await expect(page.locator(".snoozed-until")).to_contain_text("8:15")
            await expect(timeline).to_contain_text("snoozed the conversation until")
            await page.screenshot(path=str(SCREENSHOTS / "thread-after-actions.png"), caret="initial")
            assert errors == [], "\n".join(errors)
        finally:
            await browser.close()


async def test_reply_with_a_canned_response_and_older_history_on_scroll(
    served: Served,
    chromium: Path,
) -> None:
    channel = await cli_json(
        served.env, "channel", "add", "api", "--name", "Shop", "--callback-url", "http://127.0.0.1:9/hook"
    )
    async with httpx.AsyncClient(base_url=served.process.url, timeout=10) as http:
        response = await http.post(
            f"/api/v1/channels/{channel['id']}/inbound",
            json={
                "external_id": "first",
                "contact": {"external_id": "c-1", "name": "Cleo"},
                "text": "message 0",
            },
            headers={"Authorization": f"Bearer {channel['token']}"},
        )
        assert response.status_code == 202, response.text
        thread_id = response.json()["thread_id"]
    async with standalone_writer(served.settings()) as writer:
        agent = await _agent(writer)
        for i in range(1, 131):
            await do_add_note(writer, agent=agent, thread_id=thread_id, text=f"note {i}")
        await do_create_canned_response(
            writer, agent=agent, shortcut="thanks", title="Thank you", text="Thanks for your patience!"
        )
        await do_create_canned_response(
            writer, agent=agent, shortcut="refund", title="Refund started", text="We started your refund."
        )

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page, errors = await logged_in_page(browser, served)
            await page.goto(f"{served.process.url}/threads/{thread_id}")
            timeline = page.locator("#timeline")
            await expect(timeline.get_by_text("note 130", exact=True)).to_be_in_viewport()
            await expect(timeline.locator("> li.msg")).to_have_count(50)

            # Scrolling to the top fetches older pages until the beginning.
            scroller = page.locator(".timeline-scroller")
            for expected in (100, 131):
                await scroller.evaluate("el => { el.scrollTop = -el.scrollHeight; }")
                await expect(timeline.locator("> li.msg")).to_have_count(expected)
            await expect(timeline.get_by_text("message 0", exact=True)).to_be_attached()
            await expect(timeline.locator("#older-history")).to_have_count(0)

            # A reply with a canned response: "/th" offers it, Enter inserts, Enter sends.
            box = page.get_by_label("Message")
            await box.fill("Hi Cleo! ")
            await box.press("End")
            await box.type("/th")
            listbox = page.get_by_role("listbox", name="Canned responses")
            await expect(listbox).to_be_visible()
            await expect(listbox.get_by_role("option")).to_have_count(1)
            await expect(listbox.get_by_role("option")).to_contain_text("/thanks · Thank you")
            await box.press("Enter")
            await expect(box).to_have_value("Hi Cleo! Thanks for your patience!")
            await expect(listbox).to_be_hidden()
            await box.press("Enter")
            reply = timeline.locator(".msg--out.msg--text").last
            await expect(reply).to_contain_text("Hi Cleo! Thanks for your patience!")
            await expect(reply.locator(".delivery")).to_be_visible()
            await expect(reply).to_be_in_viewport()
            await page.screenshot(path=str(SCREENSHOTS / "thread-reply.png"), caret="initial")
            assert errors == [], "\n".join(errors)
        finally:
            await browser.close()
