"""What an agent's browser gets when the console cannot serve a request: pages and form messages
in the agent's language, never a JSON document, and nothing typed lost."""

from __future__ import annotations

import httpx
from litestar import Litestar
from sqlalchemy import func, select

from app.db.models import Message
from tests.console import csrf_from
from tests.integration.test_console_thread import _account, ingest

HTML = {"Accept": "text/html,application/xhtml+xml"}


async def test_a_missing_thread_or_contact_is_a_page_with_a_way_back(agent_client: httpx.AsyncClient) -> None:
    for path in ("/threads/999999", "/contacts/999999"):
        page = await agent_client.get(path, headers=HTML)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "does not exist" in page.text and 'href="/"' in page.text


async def test_an_unknown_address_is_a_page_for_browsers_and_a_problem_for_programs(
    agent_client: httpx.AsyncClient,
) -> None:
    page = await agent_client.get("/no-such-page", headers=HTML)
    assert page.status_code == 404 and "<h1" in page.text and "Back to the inbox" in page.text
    program = await agent_client.get("/no-such-page", headers={"Accept": "application/json"})
    assert program.status_code == 404 and program.json()["type"].endswith("/not-found")
    api = await agent_client.get("/api/v1/no-such-thing", headers=HTML)
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/problem+json")


async def test_the_not_found_page_speaks_the_browsers_language(agent_client: httpx.AsyncClient) -> None:
    page = await agent_client.get("/threads/999999", headers={**HTML, "Accept-Language": "nl-NL,nl;q=0.9"})
    assert page.status_code == 404
    assert '<html lang="nl">' in page.text and "Terug naar de inbox" in page.text


async def test_an_over_long_reply_is_refused_on_the_form_and_nothing_is_stored(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    thread_id = await ingest(
        app.state.writer, await _account(app.state.writer, "telegram"), "telegram", "tg-1", "Hi"
    )
    page = await agent_client.get(f"/threads/{thread_id}")
    headers = {"HX-Request": "true", "X-CSRFToken": csrf_from(page.text)}
    too_long = "x" * 70_000
    answer = await agent_client.post(
        f"/threads/{thread_id}/compose", data={"mode": "note", "text": too_long}, headers=headers
    )
    assert answer.status_code == 422
    assert answer.headers["HX-Retarget"] == "closest form" and answer.headers["HX-Reswap"] == "afterbegin"
    assert 'class="alert form-problem"' in answer.text
    assert "text is too long: at most 65,536 characters" in answer.text
    async with app.state.writer.sessionmaker() as session:
        notes = await session.scalar(select(func.count()).select_from(Message).where(Message.kind == "note"))
    assert notes == 0


async def test_without_javascript_the_refusal_is_a_page_that_says_why(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    thread_id = await ingest(
        app.state.writer, await _account(app.state.writer, "telegram"), "telegram", "tg-1", "Hi"
    )
    page = await agent_client.get(f"/threads/{thread_id}")
    answer = await agent_client.post(
        f"/threads/{thread_id}/compose",
        data={"mode": "note", "text": "x" * 70_000, "_csrf_token": csrf_from(page.text)},
    )
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("text/html")
    assert "at most 65,536 characters" in answer.text and "Back button" in answer.text
