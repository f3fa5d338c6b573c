"""Customer-controlled text never runs in the console: an XSS corpus through every field it shows.

The payloads go in where customers (and agents quoting them) can put them: the contact's name and
message text through the custom channel's HTTP inbound, and — for channels whose adapters do not
exist yet — email subject, email HTML, attachment names and links through ``do_ingest``, plus an
internal note and a phone note through the actions. A real ``onethread serve`` renders the inbox
and the thread in Chromium; every payload tries to set ``window.pwned``, change ``document.title``
or open a dialog, and the test proves none of that happened (and the CSP never had to step in).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from playwright.async_api import async_playwright, expect

from app.domain.inbox.actions import do_add_note, do_log_phone_note
from app.runtime import standalone_writer
from tests.e2e.conftest import CHROMIUM_ARGS, SCREENSHOTS
from tests.e2e.test_console_thread import (  # noqa: F401
    ANNA_PHONE,
    Served,
    _agent,
    logged_in_page,
    seed_five_channels,
    served,
)
from tests.processes import cli_json

SHORT = "\"'><script>window.pwned=1</script><img src=x onerror=window.pwned=1><svg onload=window.pwned=1>"
CORPUS = "\n".join(
    [
        "<script>window.pwned=1;document.title='pwned'</script>",
        "<img src=x onerror=\"window.pwned=1;alert('img')\">",
        '<a href="javascript:window.pwned=1">click me</a>',
        "<a href=\"JaVaScRiPt:alert('caps')\">caps</a>",
        '<svg onload="window.pwned=1"><circle r="5"></circle></svg>',
        "<svg><script>window.pwned=1</script></svg>",
        '<iframe srcdoc="<script>parent.pwned=1</script>"></iframe>',
        '<iframe src="javascript:parent.pwned=1"></iframe>',
        '"><img src=x onerror=alert(1)>',
        "'><svg/onload=alert('quote')>",
        '<body onload="window.pwned=1">',
        '<details open ontoggle="window.pwned=1">toggle</details>',
        '<input autofocus onfocus="window.pwned=1">',
        "<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')></style></mglyph></table></mtext></math>",
        "<style>@import 'https://evil.example/x.css';</style>",
        '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
        "{{7*7}} ${alert(1)} <%= 7*7 %>",
    ]
)
EMAIL_HTML = (
    "<p>Hello from the <b>customer</b></p>"
    + CORPUS
    + '<p><a href="javascript:window.pwned=1" id="bait">open the invoice</a></p>'
    + '<img src="https://images.example/track.png" onerror="window.pwned=1" alt="tracker">'
)


async def test_no_payload_runs_anywhere_in_the_console(served: Served, chromium: Path) -> None:  # noqa: F811
    channel = await cli_json(served.env, "channel", "add", "api", "--name", "Shop")
    async with httpx.AsyncClient(base_url=served.process.url, timeout=10) as http:
        for text in (CORPUS, SHORT):
            response = await http.post(
                f"/api/v1/channels/{channel['id']}/inbound",
                json={
                    "external_id": uuid.uuid4().hex,
                    "contact": {"external_id": "x-1", "name": SHORT},
                    "text": text,
                },
                headers={"Authorization": f"Bearer {channel['token']}"},
            )
            assert response.status_code == 202, response.text
        api_thread = response.json()["thread_id"]
    async with standalone_writer(served.settings()) as writer:
        thread_id = await seed_five_channels(
            writer,
            subject=SHORT,
            name=SHORT[:200],
            text=CORPUS,
            html=EMAIL_HTML,
            filename=SHORT + ".pdf",
            note=CORPUS,
            phone_text=CORPUS,
        )
        agent = await _agent(writer)
        await do_add_note(writer, agent=agent, thread_id=api_thread, text=CORPUS)
        await do_log_phone_note(writer, agent=agent, phone="+31687654321", direction="outbound", text=SHORT)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page, errors = await logged_in_page(browser, served)
            dialogs: list[str] = []

            async def dismiss(dialog: object) -> None:
                dialogs.append(getattr(dialog, "message", ""))
                await dialog.dismiss()  # type: ignore[attr-defined]

            page.on("dialog", dismiss)

            async def assert_untouched(where: str) -> None:
                await page.wait_for_timeout(300)  # onload/onerror/ontoggle handlers would have fired
                assert await page.evaluate("typeof window.pwned") == "undefined", where
                assert await page.title() != "pwned", where  # the name itself may say "pwned"
                assert dialogs == [], (where, dialogs)
                # Nothing was even attempted: the CSP never had to block an inline handler or script.
                assert [e for e in errors if "Content Security Policy" in e] == [], (where, errors)

            await page.goto(f"{served.process.url}/")
            await expect(page.locator(".thread-row").first).to_be_visible()
            await expect(page.locator(".thread-row", has_text="window.pwned=1").first).to_be_visible()
            await assert_untouched("inbox")
            await page.screenshot(path=str(SCREENSHOTS / "xss-inbox.png"), full_page=True, caret="initial")

            for thread in (thread_id, api_thread):
                await page.goto(f"{served.process.url}/threads/{thread}")
                timeline = page.locator("#timeline")
                await expect(timeline).to_contain_text(
                    "<script>window.pwned=1;document.title='pwned'</script>"
                )
                await assert_untouched(f"thread {thread}")
                for details in await timeline.locator("details.quoted").all():
                    await details.locator("summary").click()
                await assert_untouched(f"thread {thread}, quotes open")

            # The email: sanitized HTML, the bait link defused, then images shown on request.
            await page.goto(f"{served.process.url}/threads/{thread_id}")
            email = page.locator(".email-html")
            await expect(email).to_contain_text("Hello from the customer")
            assert (
                await email.locator("script, svg, iframe, style, input, math, [onerror], [onload]").count()
                == 0
            )
            bait = email.get_by_text("open the invoice")
            assert await bait.get_attribute("href") is None
            await bait.click()
            await assert_untouched("email bait clicked")
            await page.get_by_role("link", name="Show images").click()
            await expect(email.locator('img[src="https://images.example/track.png"]')).to_have_count(1)
            await assert_untouched("email images shown")
            attachment = page.locator(".attachments li").first
            await expect(attachment).to_contain_text(SHORT + ".pdf")
            await page.screenshot(path=str(SCREENSHOTS / "xss-thread.png"), caret="initial")
            assert await page.locator("#timeline a[href^='javascript:' i]").count() == 0
        finally:
            await browser.close()
