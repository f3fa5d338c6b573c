"""What a customer's site and its visitors' browsers load for the chat widget, on both shapes.

The loader script, the public config (CORS limited to the account's origins), and the frame page
with its CSP: only the account's origins may embed it, and it runs only our own scripts.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app.domain.channels.accounts import do_add_channel_account, do_set_channel_account_enabled
from app.domain.widget.settings import DAYS

SHOP = "https://shop.example"


async def add_site(app: Litestar, name: str = "Shop support", **config: Any) -> str:
    defaults: dict[str, Any] = {
        "origins": [SHOP, "https://www.shop.example"],
        "color": "#0a7d38",
        "position": "left",
        "greeting": {"en": "Hi! How can we help?", "nl": "Hoi! Waarmee kunnen we helpen?"},
    }
    created = await do_add_channel_account(
        app.state.writer, channel="webchat", name=name, config={**defaults, **config}
    )
    return created.account.id


def closed_now() -> dict[str, Any]:
    """Business hours that are closed at this moment: only tomorrow, 09:00-17:00 UTC."""
    tomorrow = DAYS[(datetime.now(UTC) + timedelta(days=1)).weekday()]
    return {"timezone": "UTC", "days": {tomorrow: ["09:00", "17:00"]}}


def frame_config(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="ot-config">(.*?)</script>', page, re.S)
    assert match, "the frame carries its config"
    return json.loads(match.group(1))  # type: ignore[no-any-return]


async def test_the_loader_script_is_served_as_javascript_and_cached_briefly(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/widget.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["cache-control"] == "public, max-age=300"
    assert "data-site" in answer.text and "onethread:ready" in answer.text


async def test_the_config_describes_the_site_to_an_allowed_origin(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    site = await add_site(app)
    answer = await client.get("/widget/v1/config", params={"site": site}, headers={"Origin": SHOP})
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == SHOP
    assert "Origin" in answer.headers["vary"]
    config = answer.json()
    assert config["site"] == site
    assert config["name"] == "Shop support"
    assert (config["color"], config["position"], config["language"]) == ("#0a7d38", "left", "auto")
    assert config["greeting"] == "Hi! How can we help?"
    assert config["open"] is True and config["next_open_at"] is None
    assert config["prechat_form"] is False
    assert config["telegram_url"] is None
    assert config["max_attachment_bytes"] > 0
    assert config["accept"] == "image/jpeg,image/png,image/gif,image/webp,application/pdf"
    assert config["strings"]["open"] == "Open chat"


async def test_the_config_speaks_the_visitors_language_unless_the_site_fixes_one(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    auto = await add_site(app)
    dutch = (await client.get("/widget/v1/config", params={"site": auto, "lang": "nl-BE"})).json()
    assert dutch["lang"] == "nl"
    assert dutch["greeting"] == "Hoi! Waarmee kunnen we helpen?"
    assert dutch["strings"]["open"] == "Chat openen"

    fixed = await add_site(app, name="English only", language="en")
    english = (await client.get("/widget/v1/config", params={"site": fixed, "lang": "nl"})).json()
    assert (english["lang"], english["language"]) == ("en", "en")
    assert english["greeting"] == "Hi! How can we help?"


async def test_another_origin_is_refused_with_a_reason_it_can_read(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    site = await add_site(app)
    answer = await client.get(
        "/widget/v1/config", params={"site": site}, headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith("/origin-not-allowed")
    # The refused page may read why (the loader logs it), and nothing else: no config in the body.
    assert answer.headers["access-control-allow-origin"] == "https://evil.example"
    assert "https://evil.example" in answer.json()["detail"] and "color" not in answer.text


async def test_a_preflight_from_an_allowed_origin_is_answered(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    site = await add_site(app)
    answer = await client.options(
        f"/widget/v1/config?site={site}",
        headers={"Origin": SHOP, "Access-Control-Request-Method": "GET"},
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == SHOP
    assert "GET" in answer.headers["access-control-allow-methods"]


@pytest.mark.parametrize("site", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
async def test_an_unknown_site_is_not_found(client: httpx.AsyncClient, site: str) -> None:
    answer = await client.get("/widget/v1/config", params={"site": site}, headers={"Origin": SHOP})
    assert answer.status_code == 404
    assert answer.json()["type"].endswith("/site-not-found")
    frame = await client.get(f"/widget/v1/frame/{site}", headers={"Accept": "text/html"})
    assert frame.status_code == 404
    assert frame.headers["content-type"].startswith("text/html")
    assert "This chat is not available." in frame.text


async def test_a_disabled_site_or_another_channels_account_is_no_widget(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    site = await add_site(app)
    await do_set_channel_account_enabled(app.state.writer, account_id=site, enabled=False)
    assert (await client.get("/widget/v1/config", params={"site": site})).status_code == 404
    assert (await client.get(f"/widget/v1/frame/{site}")).status_code == 404

    mailbox = await do_add_channel_account(
        app.state.writer, channel="email", name="Mail", config={"address": "help@shop.example"}
    )
    assert (await client.get("/widget/v1/config", params={"site": mailbox.account.id})).status_code == 404


async def test_continue_on_telegram_links_the_first_telegram_bot_with_a_username(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    writer = app.state.writer
    await do_add_channel_account(writer, channel="telegram", name="A nameless bot", config={})
    await do_add_channel_account(writer, channel="telegram", name="Shop bot", config={"username": "shop_bot"})
    site = await add_site(app)
    config = (await client.get("/widget/v1/config", params={"site": site})).json()
    assert config["telegram_url"] == "https://t.me/shop_bot"
    frame = await client.get(f"/widget/v1/frame/{site}")
    assert 'href="https://t.me/shop_bot"' in frame.text
    assert "Continue on Telegram" in frame.text


async def test_outside_business_hours_the_site_is_away_and_says_when_it_is_back(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    site = await add_site(
        app,
        business_hours=closed_now(),
        away_message={"en": "We answer within a day.", "nl": "We antwoorden binnen een dag."},
    )
    config = (await client.get("/widget/v1/config", params={"site": site, "lang": "nl"})).json()
    assert config["open"] is False
    assert config["away_message"] == "We antwoorden binnen een dag."
    next_open = datetime.fromisoformat(config["next_open_at"])
    assert datetime.now(UTC) < next_open < datetime.now(UTC) + timedelta(days=2)

    page = (await client.get(f"/widget/v1/frame/{site}", params={"lang": "nl"})).text
    assert "We zijn er nu niet" in page
    assert "We antwoorden binnen een dag." in page
    assert "Afwezig" in page


async def test_the_frame_may_be_embedded_only_by_the_sites_origins(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    site = await add_site(app)
    answer = await client.get(f"/widget/v1/frame/{site}", params={"lang": "en"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    policy = dict(
        part.strip().split(" ", 1)
        for part in answer.headers["content-security-policy"].split(";")
        if part.strip()
    )
    assert policy["frame-ancestors"] == f"{SHOP} https://www.shop.example 'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["connect-src"] == "'self' ws://testserver.local"
    assert policy["img-src"] == "'self' data: blob:"
    assert policy["base-uri"] == "'none'" and policy["form-action"] == "'none'"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "x-frame-options" not in answer.headers


async def test_the_frame_runs_only_our_own_files_and_they_are_served(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    site = await add_site(app)
    page = (await client.get(f"/widget/v1/frame/{site}")).text
    assert "style=" not in page and "onclick" not in page.lower()
    scripts = re.findall(r"<script([^>]*)>", page)
    assert all('src="/static/' in attrs or 'type="application/json"' in attrs for attrs in scripts)
    assets = re.findall(r'(?:src|href)="(/static/widget/[^"]+)"', page)
    assert {a.split("?")[0] for a in assets} == {"/static/widget/frame.css", "/static/widget/frame.js"}
    for asset in assets:
        assert (await client.get(unescape(asset))).status_code == 200


async def test_the_frame_speaks_dutch_and_carries_what_its_script_needs(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    site = await add_site(app, prechat_form=True)
    page = (await client.get(f"/widget/v1/frame/{site}", params={"lang": "nl"})).text
    assert '<html lang="nl">' in page
    assert "Schrijf een bericht…" in page and "Chat sluiten" in page
    assert "Voor we beginnen: hoe kunnen we je bereiken?" in page
    config = frame_config(page)
    assert config["site"] == site
    assert config["origins"] == [SHOP, "https://www.shop.example"]
    assert config["greeting"] == "Hoi! Waarmee kunnen we helpen?"
    assert config["prechat_form"] is True
    assert config["strings"]["sending"] == "Versturen…"
    assert config["strings"]["in_other"] == "Je schreef ons %(how)s · %(date)s"


async def test_an_admins_odd_account_name_cannot_break_out_of_the_page(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    site = await add_site(app, name='Shop </script><script>alert("x")</script> & co')
    page = (await client.get(f"/widget/v1/frame/{site}")).text
    assert "<script>alert" not in page
    assert page.count("</script>") == 2  # the config block's and frame.js's own
    assert frame_config(page)["name"] == 'Shop </script><script>alert("x")</script> & co'
