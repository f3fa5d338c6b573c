"""The contact panel and settings in a real browser against a real ``onethread serve``.

Edit a contact, find another by search, preview and merge, see the merge line, undo it from the
line; switch one's own language to Dutch. Screenshots of the panel (identities from several
channels, a merge suggestion) and of settings go to ``tests/e2e/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Page, async_playwright, expect

from tests.e2e.conftest import CHROMIUM_ARGS, SCREENSHOTS, ConsoleServer, log_in, watch_errors
from tests.helpers import PASSWORD
from tests.processes import ServerProcess, cli_json, create_agent

DUTCH_MONTHS = ("jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec")


async def _customers(process: ServerProcess, env: dict[str, str]) -> dict[str, Any]:
    """Cleo (API, email and phone identities), a second "Cleo Customer" (a same-name suggestion) and
    Dirk (to merge by search). Returns Cleo's thread id and an API token."""
    channel = await cli_json(env, "channel", "add", "api", "--name", "Shop")
    async with httpx.AsyncClient(base_url=process.url, timeout=10) as http:

        async def inbound(contact: dict[str, str], text: str) -> None:
            response = await http.post(
                f"/api/v1/channels/{channel['id']}/inbound",
                json={"external_id": uuid.uuid4().hex, "contact": contact, "text": text},
                headers={"Authorization": f"Bearer {channel['token']}"},
            )
            assert response.status_code == 202, response.text

        await inbound(
            {
                "external_id": "c-1",
                "name": "Cleo Customer",
                "email": "cleo@example.com",
                "phone": "+31612345678",
            },
            "Where is my order #1042?",
        )
        await inbound({"external_id": "d-1", "name": "Dirk Jansen"}, "Dirk here: my parcel is damaged.")
        await inbound({"external_id": "c-2", "name": "Cleo Customer"}, "Hello again, from another account")
        token = (
            await http.post("/api/v1/auth/token", json={"email": "ada@example.com", "password": PASSWORD})
        ).json()["token"]
        threads = (await http.get("/api/v1/threads/", headers={"Authorization": f"Bearer {token}"})).json()
        cleo = next(
            t for t in threads["items"] if t["contact"]["name"] == "Cleo Customer" and t["contact"]["email"]
        )
    return {"thread_id": cleo["id"], "token": token}


def _watch(page: Page) -> tuple[list[str], list[str]]:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    return watch_errors(page), dialogs


async def test_edit_merge_by_search_undo_and_dutch(console_server: ConsoleServer, chromium: Path) -> None:
    process, env = console_server.process, console_server.env
    setup = await _customers(process, env)
    thread_url = f"{process.url}/threads/{setup['thread_id']}"

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 1000})
            errors, dialogs = _watch(page)
            await log_in(page, process.url)

            await page.goto(thread_url)
            panel = page.locator("#contact-panel")
            await expect(panel.locator(".cp-identities li")).to_have_count(3)  # API, email, phone
            await expect(panel).to_contain_text("cleo@example.com")
            # Suggestions arrive after the page (hx-trigger="load"), with their reason.
            await expect(panel.locator(".cp-suggestion")).to_contain_text("Why: same name “Cleo Customer”")

            # Edit: labels and an attribute; the panel is swapped in place (no navigation).
            await panel.get_by_text("Edit contact").click()
            await panel.get_by_role("textbox", name="Labels").fill("vip, late delivery")
            await panel.get_by_role("textbox", name="Attributes").fill("order: 1042")
            await panel.get_by_role("button", name="Save contact").click()
            await expect(panel.locator(".cp-notice")).to_have_text("Contact saved.")
            await expect(panel.locator(".cp-label")).to_have_text(["vip", "late delivery"])
            await expect(panel.locator(".cp-attributes")).to_contain_text("1042")
            await expect(page).to_have_url(thread_url)
            await panel.screenshot(caret="initial", path=str(SCREENSHOTS / "contact-panel.png"))

            # Merge: search as you type, preview, confirm.
            await panel.get_by_label("Find the other contact").press_sequentially("Dirk", delay=40)
            found = panel.locator(".cp-candidates").get_by_role("link", name="Dirk Jansen")
            await expect(found).to_be_visible()
            await found.click()
            preview = panel.locator("#cp-merge-preview")
            await expect(preview).to_contain_text("Merge Dirk Jansen into Cleo Customer?")
            await expect(preview).to_contain_text("the other thread's 1 message moves into it")
            await expect(page).to_have_url(thread_url)  # searched and previewed in place, by htmx
            await panel.screenshot(caret="initial", path=str(SCREENSHOTS / "contact-merge-preview.png"))
            await preview.get_by_role("button", name="Merge").click()

            line = page.locator(
                "#timeline .msg--system", has_text="Dirk Jansen was merged into Cleo Customer"
            )
            await expect(line).to_be_visible()
            await expect(page.locator("#timeline")).to_contain_text("Dirk here: my parcel is damaged.")
            await expect(page.locator("#contact-panel .cp-identities li")).to_have_count(4)
            await page.screenshot(
                caret="initial", path=str(SCREENSHOTS / "thread-after-merge.png"), full_page=True
            )

            # Undo from the line: both customers come apart again.
            await line.get_by_role("button", name="Undo merge").click()
            await expect(page.locator("#timeline")).not_to_contain_text("Dirk here: my parcel is damaged.")
            await expect(page.locator("#timeline .msg--system", has_text="was merged into")).to_have_count(0)
            await expect(page.locator("#contact-panel .cp-identities li")).to_have_count(3)

            # Settings: the admin sees every section; Dutch is kept and sets <html lang>.
            await page.get_by_role("link", name="Settings").click()
            await expect(page.get_by_role("heading", name="Your preferences")).to_be_visible()
            nav = page.get_by_role("navigation", name="Settings")
            for section in ("Preferences", "Agents", "Channel accounts", "Canned responses"):
                await expect(nav.get_by_role("link", name=section)).to_be_visible()
            await page.get_by_role("link", name="Channel accounts").click()
            await expect(page.locator(".settings-account")).to_contain_text("/api/v1/channels/")
            await page.screenshot(
                caret="initial", path=str(SCREENSHOTS / "settings-channels.png"), full_page=True
            )
            await page.get_by_role("link", name="Preferences").click()
            await page.get_by_label("Language").select_option("nl")
            await page.get_by_label("Time zone").fill("Europe/Amsterdam")
            await page.get_by_role("button", name="Save preferences").click()
            await expect(page.locator("html")).to_have_attribute("lang", "nl")
            await page.reload()
            await expect(page.locator("html")).to_have_attribute("lang", "nl")
            await expect(page.locator("#pref-language")).to_have_value("nl")
            await expect(page.locator("#pref-timezone")).to_have_value("Europe/Amsterdam")
            await page.screenshot(
                caret="initial", path=str(SCREENSHOTS / "settings-preferences.png"), full_page=True
            )

            # The whole console now speaks Dutch: the top bar, the inbox, the thread and its times.
            await expect(page.get_by_role("heading", name="Je voorkeuren")).to_be_visible()
            await expect(page.get_by_role("button", name="Uitloggen")).to_be_visible()
            await page.get_by_role("link", name="Inbox").click()
            await expect(page.get_by_role("button", name="Filteren")).to_be_attached()
            await page.locator(".thread-row a").first.click()
            await expect(page.get_by_role("button", name="Versturen")).to_be_visible()
            await expect(page.get_by_label("Antwoordkanaal")).to_be_visible()
            # Times read in Dutch and in the agent's zone: "1 dec 2026, 03:11" for 02:11 UTC in winter.
            first_time = page.locator("#timeline .msg-head time").first
            at = datetime.fromisoformat(str(await first_time.get_attribute("datetime")))
            local = at.astimezone(ZoneInfo("Europe/Amsterdam"))
            dutch_month = DUTCH_MONTHS[local.month - 1]
            await expect(first_time).to_contain_text(f"{local.day} {dutch_month} {local.year}, {local:%H:%M}")
            await page.screenshot(caret="initial", path=str(SCREENSHOTS / "thread-dutch.png"), full_page=True)

            assert dialogs == []
            assert errors == []
        finally:
            await browser.close()


async def test_an_agent_is_refused_admin_settings(console_server: ConsoleServer, chromium: Path) -> None:
    process, env = console_server.process, console_server.env
    await create_agent(env, "bo@example.com", PASSWORD, name="Bo Agent")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 700})
            await page.goto(f"{process.url}/login?next=/settings")
            await page.get_by_label("Email").fill("bo@example.com")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            nav = page.get_by_role("navigation", name="Settings")
            await expect(nav.get_by_role("link", name="Preferences")).to_be_visible()
            await expect(nav.get_by_role("link")).to_have_count(1)
            response = await page.goto(f"{process.url}/settings/channels")
            assert response is not None and response.status == 403
            await expect(page.get_by_role("heading", name="Admins only")).to_be_visible()
            assert re.search(r"/settings/channels$", page.url)
        finally:
            await browser.close()
