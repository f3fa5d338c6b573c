"""A web chat site's widget settings in the console: admins edit them, the widget reads them."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from html import unescape
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from app.db.models import ChannelAccount, Event
from app.domain.accounts.actions import do_create_agent
from app.domain.channels.accounts import do_add_channel_account
from app.domain.widget.settings import WidgetSettings
from tests.console import csrf_from, login
from tests.helpers import PASSWORD

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def _log_in(client: httpx.AsyncClient, app: Litestar, role: str) -> httpx.AsyncClient:
    await do_create_agent(
        app.state.writer, email=f"{role}@example.com", name=f"Ada {role}", password=PASSWORD, role=role
    )
    assert (await login(client, f"{role}@example.com")).status_code == 303
    return client


@pytest.fixture
async def site(app: Litestar) -> tuple[str, str]:
    """A web chat site as ``channel add webchat`` leaves it: (account id, identity secret)."""
    created = await do_add_channel_account(
        app.state.writer, channel="webchat", name="Shop site", config={"origins": ["https://shop.example"]}
    )
    return created.account.id, created.secrets["signing_secret"]


def _form(token: str, **changes: str) -> dict[str, str]:
    """A complete form as a browser posts it for a shop open on weekdays 09:00-17:30."""
    form = {
        "_csrf_token": token,
        "origins": "https://shop.example\nhttps://www.shop.example/\n",
        "color": "#AA3300",
        "position": "left",
        "language": "nl",
        "greeting_en": "Hi! How can we help?",
        "greeting_nl": "Hoi! Waarmee kunnen we helpen?",
        "prechat_form": "1",
        "hours": "set",
        "timezone": "Europe/Amsterdam",
        "away_en": "We are closed; we answer tomorrow.",
        "away_nl": "We zijn gesloten; morgen antwoorden we.",
    }
    for day in DAYS:
        form[f"{day}_open"], form[f"{day}_close"] = "09:00", "17:30"
        if day not in ("sat", "sun"):
            form[f"{day}_on"] = "1"
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


async def _saved(app: Litestar, account_id: str) -> dict[str, Any]:
    """The account's config as stored (a fresh session: what the next request reads)."""
    async with app.state.writer.sessionmaker() as session:
        account = await session.get(ChannelAccount, uuid.UUID(account_id))
        assert account is not None
        return dict(account.config or {})


async def test_admin_saves_every_setting_and_the_widget_reads_them(
    client: httpx.AsyncClient, app: Litestar, site: tuple[str, str]
) -> None:
    admin = await _log_in(client, app, "admin")
    account_id, secret = site
    listed = await admin.get("/settings/channels")
    assert f'href="/settings/channels/{account_id}/widget"' in listed.text
    page = await admin.get(f"/settings/channels/{account_id}/widget")
    assert page.status_code == 200
    assert "https://shop.example</textarea>" in page.text and 'value="#1f6feb"' in page.text  # defaults
    assert (
        f'&lt;script src="http://testserver.local/widget.js" data-site="{account_id}" async&gt;'
        in page.text.replace("&#34;", '"')
    )
    assert secret not in page.text  # the identity secret only when asked for

    saved = await admin.post(f"/settings/channels/{account_id}/widget", data=_form(csrf_from(page.text)))
    assert saved.status_code == 303, saved.text
    again = await admin.get(saved.headers["location"])
    assert "Widget settings saved." in again.text
    assert 'value="#aa3300"' in again.text and 'value="left" checked' in again.text
    assert "Hoi! Waarmee kunnen we helpen?" in again.text

    config = await _saved(app, account_id)
    assert config["origins"] == ["https://shop.example", "https://www.shop.example"]
    widget = WidgetSettings.from_config(config)
    assert (widget.color, widget.position, widget.language, widget.prechat_form) == (
        "#aa3300",
        "left",
        "nl",
        True,
    )
    assert widget.greeting == {"en": "Hi! How can we help?", "nl": "Hoi! Waarmee kunnen we helpen?"}
    assert widget.away_message["nl"] == "We zijn gesloten; morgen antwoorden we."
    assert widget.hours.timezone == "Europe/Amsterdam"
    assert sorted(widget.hours.days) == ["fri", "mon", "thu", "tue", "wed"]
    assert widget.hours.days["mon"][1].isoformat() == "17:30:00"

    async with app.state.writer.sessionmaker() as session:
        kinds = [e.type for e in (await session.execute(select(Event))).scalars()]
    assert "channel_account.updated" in kinds  # admins' other tabs hear of it

    # "Always open" forgets the days (the zone stays for next time); HTMX gets the same redirect.
    always = await admin.post(
        f"/settings/channels/{account_id}/widget",
        data=_form(csrf_from(again.text), hours="always"),
        headers={"HX-Request": "true"},
    )
    assert always.status_code == 303
    assert WidgetSettings.from_config(await _saved(app, account_id)).hours.always_open


async def test_each_bad_field_comes_back_with_its_reason_and_nothing_is_saved(
    client: httpx.AsyncClient, app: Litestar, site: tuple[str, str]
) -> None:
    admin = await _log_in(client, app, "admin")
    account_id, _ = site
    token = csrf_from((await admin.get(f"/settings/channels/{account_id}/widget")).text)
    before = await _saved(app, account_id)
    refusals = {
        "origins": ({"origins": "shop.example"}, "shop.example is not an origin"),
        "origin with a path": (
            {"origins": "https://shop.example/cart"},
            "https://shop.example/cart is not an origin",
        ),
        "no origin": ({"origins": "\n  \n"}, "add at least one origin"),
        "color": ({"color": "red"}, "the color must be #rrggbb"),
        "position": ({"position": "top"}, "the position must be right or left"),
        "language": ({"language": "fr"}, "the language must be auto, en or nl"),
        "greeting": ({"greeting_nl": "x" * 501}, "at most 500 characters"),
        "time zone": ({"timezone": "Mars/Olympus"}, "Mars/Olympus is not a time zone"),
        "closing before opening": (
            {"tue_open": "18:00"},
            "Tuesday: the closing time must be after the opening time",
        ),
        "missing time": ({"wed_close": ""}, "Wednesday: give an opening and a closing time (HH:MM)"),
        "no open day": ({f"{d}_on": None for d in DAYS}, "open on at least one day"),
    }
    for case, (changes, reason) in refusals.items():
        data = _form(token, **changes)  # type: ignore[arg-type]
        refused = await admin.post(f"/settings/channels/{account_id}/widget", data=data)
        assert refused.status_code == 422, case
        text = unescape(refused.text)
        assert reason in text, case
        assert "Nothing was saved" in text and 'aria-invalid="true"' in refused.text, case
        assert "Hi! How can we help?" in text, case  # what was typed is kept
    assert await _saved(app, account_id) == before

    # Two wrong fields: both reasons at once, each beside its own field.
    both = await admin.post(
        f"/settings/channels/{account_id}/widget", data=_form(token, color="blue", timezone="Nowhere")
    )
    assert both.status_code == 422
    assert 'id="error-color"' in both.text and 'id="error-timezone"' in both.text
    assert 'aria-describedby="error-color"' in both.text

    # The reasons are in the admin's language.
    dutch = await admin.post(
        f"/settings/channels/{account_id}/widget",
        data=_form(token, color="blue"),
        headers={"Accept-Language": "nl"},
    )
    assert dutch.status_code == 422 and "Er is niets opgeslagen" in unescape(dutch.text)


async def test_the_identity_secret_is_shown_only_when_an_admin_asks(
    client: httpx.AsyncClient, app: Litestar, site: tuple[str, str]
) -> None:
    admin = await _log_in(client, app, "admin")
    account_id, secret = site
    page = await admin.get(f"/settings/channels/{account_id}/widget")
    assert secret not in page.text and "hexdigest()" in page.text  # how to compute user_hash
    shown = await admin.post(
        f"/settings/channels/{account_id}/widget/identity-secret", data={"_csrf_token": csrf_from(page.text)}
    )
    assert shown.status_code == 200 and f'value="{secret}"' in shown.text
    assert shown.headers["cache-control"] == "no-store"
    assert secret not in (await admin.get(f"/settings/channels/{account_id}/widget")).text
    forged = await admin.post(f"/settings/channels/{account_id}/widget/identity-secret")
    assert forged.status_code == 403 and secret not in forged.text  # no CSRF token, no secret


async def test_only_admins_and_only_web_chat_sites(
    client: httpx.AsyncClient, app: Litestar, site: tuple[str, str]
) -> None:
    account_id, secret = site
    agent = await _log_in(client, app, "agent")
    token = csrf_from((await agent.get("/settings/preferences")).text)
    assert (await agent.get(f"/settings/channels/{account_id}/widget")).status_code == 403
    refused = await agent.post(f"/settings/channels/{account_id}/widget", data=_form(token))
    assert refused.status_code == 403 and "Admins only" in refused.text
    peek = await agent.post(
        f"/settings/channels/{account_id}/widget/identity-secret", data={"_csrf_token": token}
    )
    assert peek.status_code == 403 and secret not in peek.text
    assert (await _saved(app, account_id)) == {"origins": ["https://shop.example"]}

    async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver.local") as admin:
        await _log_in(admin, app, "admin")
        api = await do_add_channel_account(app.state.writer, channel="api", name="Orders")
        for path in (f"/settings/channels/{api.account.id}/widget", "/settings/channels/not-a-uuid/widget"):
            missing = await admin.get(path)
            assert missing.status_code == 404 and "no such web chat site" in missing.text, path


async def test_saved_origins_apply_at_once_and_the_pages_code_signs_a_customer_in(
    client: httpx.AsyncClient, app: Litestar, site: tuple[str, str]
) -> None:
    """What the admin does here is what the widget sees next: a new origin may open sessions right
    away (the account cache is dropped), and the user_hash the page's example computes with the
    revealed secret makes the visitor that customer, verified."""
    admin = await _log_in(client, app, "admin")
    account_id, _ = site

    async def open_session(origin: str, **body: str) -> httpx.Response:
        return await client.post(
            "/widget/v1/sessions", json={"site": account_id, **body}, headers={"Origin": origin}
        )

    assert (await open_session("https://www.shop.example")).status_code == 403  # and now cached
    page = await admin.get(f"/settings/channels/{account_id}/widget")
    saved = await admin.post(f"/settings/channels/{account_id}/widget", data=_form(csrf_from(page.text)))
    assert saved.status_code == 303
    assert (await open_session("https://www.shop.example")).status_code == 200

    shown = unescape(
        (
            await admin.post(
                f"/settings/channels/{account_id}/widget/identity-secret",
                data={"_csrf_token": csrf_from(page.text)},
            )
        ).text
    )
    secret = re.search(r'id="widget-identity-secret"[^>]* value="([^"]+)"', shown)
    example = re.search(r"^user_hash = (.+)$", shown, re.MULTILINE)
    assert secret and example, "no secret or no Python example on the page"
    namespace = {"IDENTITY_SECRET": secret.group(1), "user_id": "42", "hmac": hmac, "hashlib": hashlib}
    user_hash = eval(example.group(1), namespace)  # the page's own example, run as a site would
    signed_in = await open_session("https://shop.example", user_id="42", user_hash=user_hash)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["verified"] is True
