"""The reports page in a real browser: charts drawn, no script or CSP error, a screenshot to look at.

The data: the integration tests' known dataset (March 2026) plus a month of generated traffic up
to today, so the screenshot (``tests/e2e/screenshots/reports-*.png``) shows a page as an admin
would see it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import async_playwright, expect

from app.db.models import BotDecision, Contact, Message, Thread, pk
from app.domain.accounts.actions import do_create_agent
from app.domain.realtime.writer import Transaction, Writer
from app.runtime import standalone_writer
from tests.e2e.conftest import CHROMIUM_ARGS, SCREENSHOTS, ConsoleServer, log_in, watch_errors
from tests.helpers import PASSWORD
from tests.integration.test_reports import seed

CHANNELS = ("webchat", "telegram", "messenger", "email", "webchat", "telegram")


async def a_month(writer: Writer, agent_ids: list[int]) -> None:
    """60 customers over the last 30 days: the bot first, then agents; some switch channels."""
    rng = random.Random(8)
    now = datetime.now(UTC)

    async def work(tx: Transaction) -> None:
        session = tx.session
        for n in range(60):
            contact = Contact(name=f"Customer {n}")
            session.add(contact)
            await session.flush()
            agent = rng.choice(agent_ids)
            thread = Thread(contact_id=pk(contact.id), status="open", assignee_id=agent, last_inbound_at=now)
            session.add(thread)
            await session.flush()
            at = now - timedelta(days=rng.uniform(0.5, 29.5))
            channel = rng.choice(CHANNELS)
            rows = []
            for step in range(rng.randint(2, 6)):
                if step and rng.random() < 0.3:
                    channel = rng.choice(CHANNELS)
                rows.append(("in", channel, "customer", None, at))
                if step == 0:
                    rows.append(("out", channel, "bot", None, at + timedelta(seconds=rng.uniform(2, 20))))
                    session.add(
                        BotDecision(
                            thread_id=pk(thread.id),
                            channel=channel,
                            outcome=rng.choice(("answered", "answered", "handoff", "suggested")),
                            created_at=at,
                        )
                    )
                reply = at + timedelta(minutes=rng.uniform(2, 240))
                rows.append(("out", channel, "agent", agent, reply))
                at = reply + timedelta(hours=rng.uniform(1, 30))
            for direction, ch, author, author_id, moment in rows:
                if moment < now:
                    session.add(
                        Message(
                            thread_id=pk(thread.id), direction=direction, kind="text", channel=ch,
                            author_type=author, author_id=author_id, text="…", created_at=moment,
                            received_at=moment,
                        )
                    )  # fmt: skip
            if rng.random() < 0.6 and at < now:
                change = [{"field": "status", "to": "resolved"}]
                session.add(
                    Message(
                        thread_id=pk(thread.id), direction="out", kind="system", channel="system",
                        author_type="system", text="resolved", created_at=at, received_at=at,
                        meta={"event": "thread-change", "agent_id": agent, "changes": change},
                    )
                )  # fmt: skip

    await writer.run(work)


async def test_an_admin_reads_the_reports(console_server: ConsoleServer, chromium: Path) -> None:
    async with standalone_writer(console_server.settings()) as writer:
        await seed(writer, 1)  # Ada Agent, the admin, is the first agent
        bram = await do_create_agent(writer, email="bram@example.com", name="Bram Bakker", password=PASSWORD)
        await a_month(writer, [1, pk(bram.id)])

    url = console_server.process.url
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 900})
            errors = watch_errors(page)
            await log_in(page, url)
            await page.get_by_role("link", name="Reports").click()
            await expect(page.get_by_role("heading", name="Reports", level=1)).to_be_visible()
            await expect(page.locator("svg[role=img]").first).to_be_visible()
            await page.screenshot(
                caret="initial", path=str(SCREENSHOTS / "reports-month.png"), full_page=True
            )

            await page.get_by_label("From", exact=True).fill("2026-03-01")
            await page.get_by_label("Until", exact=True).fill("2026-03-31")
            await page.get_by_label("Channel", exact=True).select_option("telegram")
            await page.get_by_role("button", name="Show").click()
            await expect(page.locator('[data-figure="conversations"]')).to_have_text("2")
            await expect(page.locator('[data-caption="channel"]').first).to_contain_text(
                "started on Telegram"
            )
            await page.screenshot(
                caret="initial", path=str(SCREENSHOTS / "reports-march.png"), full_page=True
            )
            assert errors == []

            # The period the wrong way round: the error by the field, what was typed kept, no figures.
            await page.get_by_label("From", exact=True).fill("2026-03-31")
            await page.get_by_label("Until", exact=True).fill("2026-03-01")
            await page.get_by_role("button", name="Show").click()
            await expect(page.get_by_role("alert")).to_have_text("The first day must not be after the last.")
            await expect(page.get_by_label("Until", exact=True)).to_have_value("2026-03-01")
            await expect(page.get_by_label("Until", exact=True)).to_have_attribute("aria-invalid", "true")
            await expect(page.get_by_label("Channel", exact=True)).to_have_value("telegram")
            await expect(page.locator("svg[role=img]")).to_have_count(0)
            await page.screenshot(
                caret="initial", path=str(SCREENSHOTS / "reports-refused.png"), full_page=True
            )
            assert [e for e in errors if "status of 422" not in e] == []  # the refusal's own status

            # A period with nothing in it: each chart says so instead of drawing empty axes.
            await page.goto(f"{url}/reports?from=2026-04-20&to=2026-04-21")
            await expect(page.get_by_text("No data in this period.")).to_have_count(4)
            await page.screenshot(
                caret="initial", path=str(SCREENSHOTS / "reports-empty.png"), full_page=True
            )
        finally:
            await browser.close()
