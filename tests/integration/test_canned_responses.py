"""Canned responses managed in settings (admins): create, edit, delete, and the reasons for refusals."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest
from litestar import Litestar

from app.domain.accounts.actions import do_create_agent
from app.domain.canned.queries import list_canned_responses
from tests.console import csrf_from, login
from tests.helpers import PASSWORD


@pytest.fixture
async def admin(client: httpx.AsyncClient, app: Litestar) -> httpx.AsyncClient:
    await do_create_agent(
        app.state.writer, email="admin@example.com", name="Ada Admin", password=PASSWORD, role="admin"
    )
    assert (await login(client, "admin@example.com")).status_code == 303
    return client


async def _shortcuts(app: Litestar) -> list[tuple[str, str, str]]:
    async with app.state.writer.sessionmaker() as session:
        return [(c.shortcut, c.title, c.text) for c in await list_canned_responses(session)]


async def test_create_edit_and_delete_a_canned_response(admin: httpx.AsyncClient, app: Litestar) -> None:
    page = await admin.get("/settings/canned")
    assert page.status_code == 200 and "No canned responses yet." in page.text
    token = csrf_from(page.text)

    created = await admin.post(
        "/settings/canned",
        data={
            "shortcut": "/Thanks",
            "title": "Thank you",
            "text": "Thanks <3, we're on it.",
            "_csrf_token": token,
        },
    )
    assert created.status_code == 303 and created.headers["location"] == "/settings/canned"
    listed = await admin.get("/settings/canned")
    assert "<code>/thanks</code>" in listed.text and "Thanks &lt;3, we&#39;re on it." in listed.text
    canned_id = re.search(r'href="/settings/canned/(\d+)"', listed.text)
    assert canned_id

    edit = await admin.get(f"/settings/canned/{canned_id.group(1)}")
    assert edit.status_code == 200 and 'value="thanks"' in edit.text
    updated = await admin.post(
        f"/settings/canned/{canned_id.group(1)}",
        data={
            "shortcut": "thanks",
            "title": "Thanks!",
            "text": "Thank you for waiting.",
            "_csrf_token": token,
        },
        headers={"HX-Request": "true"},
    )
    assert updated.status_code == 303
    assert await _shortcuts(app) == [("thanks", "Thanks!", "Thank you for waiting.")]

    deleted = await admin.post(f"/settings/canned/{canned_id.group(1)}/delete", data={"_csrf_token": token})
    assert deleted.status_code == 303
    assert await _shortcuts(app) == []


async def test_refusals_come_back_on_the_form_with_the_text_kept(
    admin: httpx.AsyncClient, app: Litestar
) -> None:
    token = csrf_from((await admin.get("/settings/canned")).text)
    first = {"shortcut": "hours", "title": "Opening hours", "text": "9 to 5", "_csrf_token": token}
    assert (await admin.post("/settings/canned", data=first)).status_code == 303
    other = {"shortcut": "later", "title": "Later", "text": "We will get back to you.", "_csrf_token": token}
    assert (await admin.post("/settings/canned", data=other)).status_code == 303

    duplicate = await admin.post(
        "/settings/canned",
        data={"shortcut": "HOURS", "title": "Hours again", "text": "Mon to Fri", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert duplicate.status_code == 409
    assert "/hours is already used by another canned response" in duplicate.text
    assert 'value="Hours again"' in duplicate.text and "Mon to Fri" in unescape(duplicate.text)
    assert 'id="settings-content"' in duplicate.text  # what htmx selects and swaps

    bad = await admin.post(
        "/settings/canned", data={"shortcut": "no spaces", "title": "x", "text": "y", "_csrf_token": token}
    )
    assert bad.status_code == 422 and "a shortcut is 1 to 40 lowercase letters" in bad.text

    listed = (await admin.get("/settings/canned")).text
    ids = re.findall(r'href="/settings/canned/(\d+)"', listed)
    assert len(ids) == 2  # by shortcut: hours, later
    renamed = await admin.post(
        f"/settings/canned/{ids[1]}",
        data={"shortcut": "hours", "title": "Later", "text": "kept text", "_csrf_token": token},
    )
    assert (
        renamed.status_code == 409
        and "/hours is already used" in renamed.text
        and "kept text" in renamed.text
    )
    assert sorted(s for s, _, _ in await _shortcuts(app)) == ["hours", "later"]

    empty = await admin.post(
        f"/settings/canned/{ids[1]}",
        data={"shortcut": "later", "title": "Later", "text": "  ", "_csrf_token": token},
    )
    assert empty.status_code == 422 and "needs a text" in empty.text

    gone = await admin.post("/settings/canned/99999/delete", data={"_csrf_token": token})
    assert gone.status_code == 404
