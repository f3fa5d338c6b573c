"""Settings over HTTP: own preferences for everyone; agents and channel accounts for admins only."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from app.db.models import Agent
from app.domain.accounts.actions import do_create_agent
from tests.console import csrf_from, login
from tests.helpers import PASSWORD, Api

ADMIN_PAGES = ("/settings/agents", "/settings/channels", "/settings/canned", "/settings/canned/1")


async def _console(client: httpx.AsyncClient, app: Litestar, *, role: str) -> httpx.AsyncClient:
    await do_create_agent(
        app.state.writer,
        email=f"{role}@example.com",
        name=f"Ada {role.title()}",
        password=PASSWORD,
        role=role,
    )
    assert (await login(client, f"{role}@example.com")).status_code == 303
    return client


@pytest.fixture
async def admin(client: httpx.AsyncClient, app: Litestar) -> httpx.AsyncClient:
    return await _console(client, app, role="admin")


@pytest.fixture
async def agent(client: httpx.AsyncClient, app: Litestar) -> httpx.AsyncClient:
    return await _console(client, app, role="agent")


async def _token(client: httpx.AsyncClient, path: str = "/settings/preferences") -> str:
    return csrf_from((await client.get(path)).text)


async def _add_form(client: httpx.AsyncClient) -> dict[str, str]:
    """The hidden fields of a freshly loaded "Add an account" form: CSRF token and one-time nonce."""
    page = (await client.get("/settings/channels")).text
    nonce = re.search(r'name="nonce" value="([^"]+)"', page)
    assert nonce, "no nonce in the add form"
    return {"_csrf_token": csrf_from(page), "nonce": unescape(nonce.group(1))}


async def test_an_agent_sets_language_and_time_zone(agent: httpx.AsyncClient) -> None:
    assert (await agent.get("/settings")).headers["location"] == "/settings/preferences"
    page = await agent.get("/settings/preferences")
    assert page.status_code == 200 and '<html lang="en">' in page.text
    token = csrf_from(page.text)

    saved = await agent.post(
        "/settings/preferences", data={"language": "nl", "timezone": "Europe/Amsterdam", "_csrf_token": token}
    )
    assert saved.status_code == 303
    page = await agent.get(saved.headers["location"])
    assert '<html lang="nl">' in page.text
    assert 'value="Europe/Amsterdam"' in page.text and '<option value="nl" lang="nl" selected>' in page.text

    browser = await agent.post(
        "/settings/preferences", data={"language": "", "timezone": "UTC", "_csrf_token": token}
    )
    assert browser.status_code == 303
    dutch_browser = await agent.get("/settings/preferences", headers={"Accept-Language": "nl-BE,nl;q=0.9"})
    assert '<html lang="nl">' in dutch_browser.text
    assert (
        '<html lang="en">'
        in (await agent.get("/settings/preferences", headers={"Accept-Language": "fr"})).text
    )


async def test_invalid_preferences_come_back_with_the_reason(agent: httpx.AsyncClient) -> None:
    token = await _token(agent)
    bad_zone = await agent.post(
        "/settings/preferences", data={"language": "nl", "timezone": "Mars/Olympus", "_csrf_token": token}
    )
    assert bad_zone.status_code == 422
    assert "Mars/Olympus is not a time zone" in bad_zone.text
    assert 'value="Mars/Olympus"' in bad_zone.text  # what was typed is kept
    bad_language = await agent.post(
        "/settings/preferences", data={"language": "xx", "timezone": "UTC", "_csrf_token": token}
    )
    assert bad_language.status_code == 422 and "language must be one of en, nl" in bad_language.text
    page = await agent.get("/settings/preferences")
    assert '<html lang="en">' in page.text and 'value="UTC"' in page.text  # nothing was saved


async def test_agents_get_a_clear_403_page_on_every_admin_route(agent: httpx.AsyncClient) -> None:
    nav = (await agent.get("/settings/preferences")).text
    assert "/settings/agents" not in nav and "/settings/channels" not in nav and "/settings/canned" not in nav
    for path in ADMIN_PAGES:
        page = await agent.get(path)
        assert page.status_code == 403, path
        assert "Admins only" in page.text and "<html" in page.text
    token = await _token(agent)
    posts = {
        "/settings/agents/1/active": {"active": "0"},
        "/settings/channels": {"channel": "api", "name": "Sneaky"},
        "/settings/canned": {"shortcut": "x", "title": "x", "text": "x"},
        "/settings/canned/1/delete": {},
    }
    for path, data in posts.items():
        refused = await agent.post(path, data={**data, "_csrf_token": token})
        assert refused.status_code == 403, path
    # A missing CSRF token stays Litestar's own refusal, not the admins-only page.
    forged = await agent.post("/settings/canned", data={"shortcut": "x", "title": "x", "text": "x"})
    assert forged.status_code == 403 and "Admins only" not in forged.text


async def test_admin_sees_every_section_and_deactivates_an_agent_never_themselves(
    admin: httpx.AsyncClient, app: Litestar
) -> None:
    colleague = await do_create_agent(
        app.state.writer, email="bo@example.com", name="Bo Colleague", password=PASSWORD
    )
    page = await admin.get("/settings/agents")
    assert page.status_code == 200
    for path in ("/settings/agents", "/settings/channels", "/settings/canned"):
        assert f'href="{path}"' in page.text
    assert "Bo Colleague" in page.text and "bo@example.com" in page.text
    assert 'onethread agent create --email EMAIL --name "NAME" --password PASSWORD' in unescape(page.text)
    token = csrf_from(page.text)

    # Bo is logged in elsewhere; deactivating ends that session at the next request.
    async with httpx.AsyncClient(transport=admin._transport, base_url="http://testserver.local") as bo:
        assert (await login(bo, "bo@example.com")).status_code == 303
        off = await admin.post(
            f"/settings/agents/{colleague.id}/active", data={"active": "0", "_csrf_token": token}
        )
        assert off.status_code == 303
        assert (await bo.get("/")).status_code == 303
        assert (await login(bo, "bo@example.com")).status_code == 400
    listed = (await admin.get("/settings/agents")).text
    assert "Deactivated" in listed and "Reactivate Bo Colleague" in listed

    on = await admin.post(
        f"/settings/agents/{colleague.id}/active",
        data={"active": "1"},
        headers={"HX-Request": "true", "X-CSRFToken": token},
    )
    assert on.status_code == 303  # htmx follows it and swaps #settings-content of the page it gets
    assert "Deactivate Bo Colleague" in (await admin.get(on.headers["location"])).text

    assert "That is you" in listed
    async with app.state.writer.sessionmaker() as session:
        own_id = (
            await session.execute(select(Agent.id).where(Agent.email == "admin@example.com"))
        ).scalar_one()
    assert f"/settings/agents/{own_id}/active" not in listed  # no button for yourself
    self_off = await admin.post(
        f"/settings/agents/{own_id}/active", data={"active": "0", "_csrf_token": token}
    )
    assert self_off.status_code == 409 and "you cannot deactivate yourself" in self_off.text
    assert (await admin.get("/")).status_code == 200


async def test_admin_adds_accounts_sees_secrets_once_and_disabling_refuses_inbound(
    admin: httpx.AsyncClient, app: Litestar
) -> None:
    form = await _add_form(admin)
    token = form["_csrf_token"]
    created = await admin.post(
        "/settings/channels", data={"channel": "api", "name": "Order system", "callback_url": "", **form}
    )
    assert created.status_code == 201, created.text
    text = unescape(created.text)
    assert "Copy these secrets now: they are not shown again." in text
    inbound_token = re.search(r"Inbound token</dt><dd><code>(ot_in_[^<]+)</code>", text)
    assert inbound_token
    inbound_url = re.search(
        r"<code>(http://testserver\.local/api/v1/channels/([0-9a-f-]{36})/inbound)</code>", text
    )
    assert inbound_url
    account_id = inbound_url.group(2)
    listed = unescape((await admin.get("/settings/channels")).text)
    assert inbound_url.group(1) in listed and inbound_token.group(1) not in listed  # once only

    webchat = await admin.post(
        "/settings/channels",
        data={
            "channel": "webchat",
            "name": "Shop site",
            "origin": "https://shop.example/",
            **await _add_form(admin),
        },
    )
    assert webchat.status_code == 201
    snippet = unescape(webchat.text)
    assert re.search(
        r'&lt;script src="http://testserver\.local/widget\.js" data-site="[0-9a-f-]{36}" async&gt;&lt;/script&gt;',
        webchat.text.replace("&#34;", '"'),
    ), "no escaped embed snippet"
    assert "Identity secret" in snippet and "https://shop.example" in snippet

    refused = await admin.post(
        "/settings/channels",
        data={"channel": "webchat", "name": "No origin", "origin": "shop.example", **await _add_form(admin)},
    )
    assert refused.status_code == 422 and "the origin must look like https://shop.example" in refused.text
    assert 'value="No origin"' in refused.text

    body = {"external_id": "m-1", "contact": {"external_id": "c-1"}, "text": "hello"}
    headers = {"Authorization": f"Bearer {inbound_token.group(1)}"}
    inbound = f"/api/v1/channels/{account_id}/inbound"
    assert (await admin.post(inbound, json=body, headers=headers)).status_code == 202  # cached now

    off = await admin.post(
        f"/settings/channels/{account_id}/enabled", data={"active": "0", "_csrf_token": token}
    )
    assert off.status_code == 303
    assert "Enable Order system" in (await admin.get("/settings/channels")).text
    assert (
        await admin.post(inbound, json={**body, "external_id": "m-2"}, headers=headers)
    ).status_code == 404

    on = await admin.post(
        f"/settings/channels/{account_id}/enabled", data={"active": "1", "_csrf_token": token}
    )
    assert on.status_code == 303
    assert (
        await admin.post(inbound, json={**body, "external_id": "m-3"}, headers=headers)
    ).status_code == 202

    missing = await admin.post(
        "/settings/channels/not-an-id/enabled", data={"active": "0", "_csrf_token": token}
    )
    assert missing.status_code == 404 and "no such channel account" in missing.text


async def test_reloading_the_secrets_page_creates_no_second_account(admin: httpx.AsyncClient) -> None:
    form = {"channel": "api", "name": "Order system", "callback_url": "", **await _add_form(admin)}
    created = await admin.post("/settings/channels", data=form)
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"  # the secrets stay out of every cache
    first_token = re.search(r"ot_in_[A-Za-z0-9_-]+", created.text)
    assert first_token

    reloaded = await admin.post("/settings/channels", data=form)  # the browser's reload re-posts
    assert reloaded.status_code == 409
    assert "this account was already created; its secrets were shown once" in unescape(reloaded.text)
    assert "ot_in_" not in reloaded.text and "Copy these secrets now" not in reloaded.text
    listed = (await admin.get("/settings/channels")).text
    assert listed.count("<strong>Order system</strong>") == 1

    # A form this session was never given is refused too (and creates nothing), the text kept.
    forged = await admin.post(
        "/settings/channels",
        data={**form, "name": "Second system", "nonce": "made-up"},
    )
    assert forged.status_code == 422 and 'value="Second system"' in forged.text
    assert "this form has expired" in forged.text
    fresh = await admin.post("/settings/channels", data={**form, **await _add_form(admin), "name": "Second"})
    assert fresh.status_code == 201  # a freshly loaded form adds the next account


async def test_console_pages_are_not_cached_but_static_assets_are(admin: httpx.AsyncClient) -> None:
    for path in ("/settings/channels", "/settings/preferences", "/"):
        page = await admin.get(path)
        assert page.status_code == 200, path
        assert page.headers["cache-control"] == "no-store", path
    stylesheet = re.search(r'href="(/static/console\.css\?v=[^"]+)"', (await admin.get("/")).text)
    assert stylesheet
    asset = await admin.get(unescape(stylesheet.group(1)))
    assert asset.status_code == 200
    assert (
        "max-age=31536000" in asset.headers["cache-control"]
        and "no-store" not in asset.headers["cache-control"]
    )


async def test_settings_need_a_session(client: httpx.AsyncClient) -> None:
    for path in ("/settings", "/settings/preferences", *ADMIN_PAGES):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path


async def test_api_tokens_of_a_deactivated_agent_stop_working(
    admin: httpx.AsyncClient, app: Litestar
) -> None:
    api = await Api.login(admin, app, email="script@example.com", role="agent")
    assert (await admin.get("/api/v1/threads/", headers=api.headers)).status_code == 200
    token = await _token(admin, "/settings/agents")
    await admin.post(f"/settings/agents/{api.agent_id}/active", data={"active": "0", "_csrf_token": token})
    assert (await admin.get("/api/v1/threads/", headers=api.headers)).status_code == 401
