"""A web chat site's widget settings in a real browser against a real ``onethread serve``.

The admin opens the site from the channels page, picks a color and the left side (the preview
follows before saving), saves, and finds both kept after a reload; then asks for the identity
secret. A screenshot goes to ``tests/e2e/screenshots/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import async_playwright, expect

from tests.e2e.conftest import CHROMIUM_ARGS, SCREENSHOTS, ConsoleServer, log_in, watch_errors
from tests.processes import cli_json


async def test_an_admin_changes_the_widget_color_and_it_is_saved(
    console_server: ConsoleServer, chromium: Path
) -> None:
    process, env = console_server.process, console_server.env
    site = await cli_json(
        env, "channel", "add", "webchat", "--name", "Shop site", "--origin", "https://shop.example"
    )

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 1000})
            errors = watch_errors(page)
            await log_in(page, process.url)
            await page.goto(f"{process.url}/settings/channels")
            await page.get_by_role("link", name="Widget settings of Shop site").click()
            await expect(page.get_by_role("heading", name="Widget settings: Shop site")).to_be_visible()
            await expect(page.get_by_label("Allowed origins")).to_have_value("https://shop.example")
            snippet = page.locator("#widget-snippet")
            await expect(snippet).to_have_value(
                f'<script src="{process.url}/widget.js" data-site="{site["id"]}" async></script>'
            )

            launcher = page.locator("[data-preview-color]")
            await expect(launcher).to_have_attribute("fill", "#1f6feb")
            await page.get_by_label("Color").fill("#aa3300")
            await page.get_by_label("Bottom left").check()
            await expect(launcher).to_have_attribute("fill", "#aa3300")  # before saving
            await expect(page.locator("[data-preview-launcher]")).to_have_attribute(
                "transform", "translate(28 124)"
            )
            await page.get_by_role("button", name="Save widget settings").click()
            await expect(page.get_by_role("status")).to_contain_text("Widget settings saved.")

            await page.reload()
            await expect(page.get_by_label("Color")).to_have_value("#aa3300")
            await expect(page.get_by_label("Bottom left")).to_be_checked()
            await expect(launcher).to_have_attribute("fill", "#aa3300")
            await page.screenshot(
                caret="initial", path=str(SCREENSHOTS / "widget-settings.png"), full_page=True
            )

            assert site["identity_secret"] not in await page.content()
            await page.get_by_role("button", name="Show the identity secret").click()
            await expect(page.get_by_label("Identity secret")).to_have_value(site["identity_secret"])
            assert errors == []
        finally:
            await browser.close()
