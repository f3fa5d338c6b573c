"""The JSON API as scripts use it: auth, threads, timeline paging, notes, search — and bad input.

Every refusal is a 4xx ``application/problem+json`` with a reason, and leaves nothing half-written.
"""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import PASSWORD, Api


def assert_problem(
    response: httpx.Response, status: int, type_suffix: str | None = None
) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"]
    if type_suffix:
        assert str(body["type"]).endswith("/" + type_suffix), body
    return body  # type: ignore[no-any-return]


async def _counts(api: Api) -> tuple[int, int]:
    threads = await api.get("/api/v1/threads", limit=200)
    contacts = await api.get("/api/v1/contacts", limit=200)
    return len(threads["items"]), len(contacts["items"])


async def test_token_auth(api: Api, client: httpx.AsyncClient) -> None:
    me = await api.get("/api/v1/me")
    assert me["email"] == "admin@example.com" and me["role"] == "admin"
    assert_problem(await client.get("/api/v1/threads"), 401, "unauthenticated")
    assert_problem(await client.get("/api/v1/threads", headers={"Authorization": "Bearer nope"}), 401)
    wrong = await client.post("/api/v1/auth/token", json={"email": "admin@example.com", "password": "wrong"})
    body = assert_problem(wrong, 401, "bad-credentials")
    unknown = await client.post("/api/v1/auth/token", json={"email": "who@example.com", "password": PASSWORD})
    assert unknown.json()["detail"] == body["detail"]  # no hint which emails exist


async def test_login_is_rate_limited(shape: str, settings: object, request: pytest.FixtureRequest) -> None:
    from app.core import create_app
    from app.settings import Settings
    from tests.conftest import running

    assert isinstance(settings, Settings)
    app = create_app(settings.with_overrides(login_rate_limit_per_minute=3))
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
            codes = [
                (
                    await http.post("/api/v1/auth/token", json={"email": "x@example.com", "password": "y"})
                ).status_code
                for _ in range(5)
            ]
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]


async def test_inbox_filters_and_paging(api: Api) -> None:
    channel = await api.add_api_channel()
    for i in range(7):
        await api.inbound(channel, f"message {i}", contact_id=f"c{i}", name=f"Customer {i}")
    page1 = await api.get("/api/v1/threads", limit=3)
    page2 = await api.get("/api/v1/threads", limit=3, cursor=page1["next_cursor"])
    page3 = await api.get("/api/v1/threads", limit=3, cursor=page2["next_cursor"])
    names = [t["contact"]["name"] for p in (page1, page2, page3) for t in p["items"]]
    assert names == [f"Customer {i}" for i in reversed(range(7))]
    assert page3["next_cursor"] is None
    assert all(t["channels"] == ["api"] for t in page1["items"])

    first = page1["items"][0]["id"]
    await api.patch(f"/api/v1/threads/{first}", {"status": "pending", "assignee_id": api.agent_id})
    pending = await api.get("/api/v1/threads", status="pending")
    assert [t["id"] for t in pending["items"]] == [first]
    mine = await api.get("/api/v1/threads", assignee="me")
    assert [t["id"] for t in mine["items"]] == [first]
    assert len((await api.get("/api/v1/threads", assignee="none"))["items"]) == 6
    assert (await api.get("/api/v1/threads", channel="telegram"))["items"] == []
    assert [t["contact"]["name"] for t in (await api.get("/api/v1/threads", q="customer 3"))["items"]] == [
        "Customer 3"
    ]
    unassigned = await api.patch(f"/api/v1/threads/{first}", {"assignee_id": None})
    assert unassigned["thread"]["assignee_id"] is None
    assert_problem(
        await api.client.get("/api/v1/threads?cursor=garbage", headers=api.headers), 422, "invalid-cursor"
    )


async def test_timeline_pages_backwards_and_forwards(api: Api) -> None:
    channel = await api.add_api_channel()
    ids = [(await api.inbound(channel, f"m{i}", contact_id="long"))["message_id"] for i in range(12)]
    thread_id = (await api.get("/api/v1/threads"))["items"][0]["id"]
    newest = await api.get(f"/api/v1/threads/{thread_id}/messages", limit=5)
    assert [m["text"] for m in newest["items"]] == [f"m{i}" for i in range(7, 12)]
    older = await api.get(f"/api/v1/threads/{thread_id}/messages", limit=5, before=newest["next_cursor"])
    assert [m["text"] for m in older["items"]] == [f"m{i}" for i in range(2, 7)]
    after = await api.get(f"/api/v1/threads/{thread_id}/messages", limit=3, after=ids[3])
    assert [m["text"] for m in after["items"]] == ["m4", "m5", "m6"]
    assert after["next_cursor"] == str(ids[6])
    message = newest["items"][0]
    for field in (
        "id",
        "thread_id",
        "direction",
        "kind",
        "channel",
        "author",
        "text",
        "created_at",
        "delivery_status",
        "attachments",
    ):
        assert field in message
    assert message["author"]["type"] == "customer"


async def test_internal_note_is_in_the_timeline_and_never_queued(api: Api) -> None:
    channel = await api.add_api_channel()
    thread_id = (await api.inbound(channel, "hello", contact_id="n"))["thread_id"]
    note = await api.post(f"/api/v1/threads/{thread_id}/notes", {"text": "VIP, be nice"}, expect=201)
    assert note.json()["kind"] == "note" and note.json()["delivery_status"] is None
    timeline = await api.timeline(thread_id)
    assert [(m["kind"], m["author"]["type"]) for m in timeline] == [("text", "customer"), ("note", "agent")]


async def test_full_text_search_finds_messages_and_contacts(api: Api) -> None:
    channel = await api.add_api_channel()
    await api.inbound(channel, "Mijn pakket is beschadigd aangekomen", contact_id="s1", name="Eva Smit")
    await api.inbound(channel, "Where is my invoice?", contact_id="s2", name="Olaf Berg")
    found = await api.get("/api/v1/search", q="beschadigd")
    assert [m["text"] for m in found["messages"]] == ["Mijn pakket is beschadigd aangekomen"]
    assert (await api.get("/api/v1/search", q="invoice"))["messages"][0]["text"] == "Where is my invoice?"
    by_name = await api.get("/api/v1/search", q="Olaf")
    assert [c["name"] for c in by_name["contacts"]] == ["Olaf Berg"]
    # Query syntax characters in user text are not an error, and not an injection.
    assert (await api.get("/api/v1/search", q='pakket*) ("'))["messages"][0]["text"].startswith("Mijn")
    assert (await api.get("/api/v1/search", q="geen-treffer"))["messages"] == []


async def test_bad_input_is_refused_with_a_reason_and_writes_nothing(api: Api) -> None:
    channel = await api.add_api_channel()
    thread_id = (await api.inbound(channel, "seed", contact_id="seed"))["thread_id"]
    before = await _counts(api)
    auth = {"Authorization": f"Bearer {channel.token}", "Content-Type": "application/json"}
    url = f"/api/v1/channels/{channel.id}/inbound"
    client = api.client

    assert_problem(await client.post(url, content=b"{not json", headers=auth), 422, "invalid-inbound-message")
    wrong_type = await client.post(
        url, json={"external_id": 5, "contact": {"external_id": "x"}, "text": "t"}, headers=auth
    )
    assert "external_id" in assert_problem(wrong_type, 422)["detail"]  # type: ignore[operator]
    no_contact = await client.post(url, json={"external_id": "e", "text": "t"}, headers=auth)
    assert "contact" in assert_problem(no_contact, 422)["detail"]  # type: ignore[operator]
    empty = await client.post(
        url, json={"external_id": "e", "contact": {"external_id": "x"}, "text": "  "}, headers=auth
    )
    assert_problem(empty, 422)
    bad_phone = {"external_id": "e", "contact": {"external_id": "x", "phone": "12"}, "text": "hi"}
    assert "phone" in assert_problem(await client.post(url, json=bad_phone, headers=auth), 422)["detail"]  # type: ignore[operator]
    bad_email = {"external_id": "e", "contact": {"external_id": "x", "email": "not-an-email"}, "text": "hi"}
    assert_problem(await client.post(url, json=bad_email, headers=auth), 422)
    huge = {"external_id": "e", "contact": {"external_id": "x"}, "text": "x" * 1_048_576}
    assert_problem(await client.post(url, json=huge, headers=auth), 413, "body-too-large")
    long_text = {"external_id": "e", "contact": {"external_id": "x"}, "text": "x" * 70_000}
    assert (
        "longer than" in assert_problem(await client.post(url, json=long_text, headers=auth), 422)["detail"]
    )  # type: ignore[operator]
    assert_problem(
        await client.post(url, json=bad_phone, headers={"Authorization": "Bearer wrong"}),
        401,
        "bad-account-token",
    )
    assert_problem(
        await client.post("/api/v1/channels/not-a-uuid/inbound", json=bad_phone, headers=auth), 404
    )
    other = "00000000-0000-4000-8000-000000000000"
    assert_problem(await client.post(f"/api/v1/channels/{other}/inbound", json=bad_phone, headers=auth), 404)

    h = api.headers
    assert_problem(await client.get("/api/v1/threads/99999", headers=h), 404, "thread-not-found")
    assert_problem(await client.get("/api/v1/threads/99999/messages", headers=h), 404)
    assert_problem(await client.get("/api/v1/contacts/99999", headers=h), 404, "contact-not-found")
    assert_problem(
        await client.patch(f"/api/v1/threads/{thread_id}", json={"status": "sleeping"}, headers=h), 400
    )
    assert_problem(
        await client.patch(f"/api/v1/threads/{thread_id}", json={"assignee_id": 999}, headers=h), 422
    )
    assert_problem(await client.post(f"/api/v1/threads/{thread_id}/notes", json={"text": ""}, headers=h), 400)
    assert_problem(await client.post(f"/api/v1/threads/{thread_id}/notes", json={"txt": "x"}, headers=h), 400)
    assert_problem(
        await client.post(
            f"/api/v1/threads/{thread_id}/notes",
            content=b"[",
            headers={**h, "Content-Type": "application/json"},
        ),
        400,
    )
    bad_note = {"phone": "not a number", "text": "x", "direction": "inbound"}
    assert_problem(await client.post("/api/v1/phone-notes", json=bad_note, headers=h), 422, "invalid-phone")
    sideways = {"phone": "+31612345678", "text": "x", "direction": "sideways"}
    assert_problem(await client.post("/api/v1/phone-notes", json=sideways, headers=h), 400)
    forever = {"phone": "+31612345678", "text": "x", "direction": "inbound", "duration_seconds": -5}
    assert_problem(await client.post("/api/v1/phone-notes", json=forever, headers=h), 400)
    ghost = {"phone": "+31612345678", "text": "x", "direction": "inbound", "contact_id": 777}
    assert_problem(await client.post("/api/v1/phone-notes", json=ghost, headers=h), 404)
    assert_problem(await client.patch("/api/v1/contacts/1", json={"email": "nope"}, headers=h), 422)
    assert_problem(await client.get("/api/v1/threads", params={"limit": 100000}, headers=h), 400)

    assert await _counts(api) == before
    assert [m["text"] for m in await api.timeline(thread_id)] == ["seed"]


async def test_reply_on_a_channel_that_cannot_deliver_is_409_with_the_reason(api: Api) -> None:
    channel = await api.add_api_channel()  # no callback URL: replies cannot go anywhere
    thread_id = (await api.inbound(channel, "help", contact_id="r"))["thread_id"]
    no_callback = await api.post(f"/api/v1/threads/{thread_id}/messages", {"text": "hi"})
    assert "callback URL" in assert_problem(no_callback, 409, "channel-unavailable")["detail"]  # type: ignore[operator]
    never_used = await api.post(
        f"/api/v1/threads/{thread_id}/messages", {"text": "hi", "channel": "telegram"}
    )
    assert_problem(never_used, 409, "channel-unavailable")
    assert [m["text"] for m in await api.timeline(thread_id)] == ["help"]


async def test_openapi_document_describes_the_api(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    for path in (
        "/api/v1/auth/token",
        "/api/v1/threads",
        "/api/v1/threads/{thread_id}",
        "/api/v1/threads/{thread_id}/messages",
        "/api/v1/threads/{thread_id}/notes",
        "/api/v1/phone-notes",
        "/api/v1/contacts",
        "/api/v1/contacts/{contact_id}",
        "/api/v1/contacts/{contact_id}/merge",
        "/api/v1/merges/{merge_id}/undo",
        "/api/v1/merge-suggestions",
        "/api/v1/search",
        "/api/v1/channels/{account_id}/inbound",
    ):
        assert path in paths, path
    assert set(paths["/api/v1/threads/{thread_id}"]) >= {"get", "patch"}
    reply = paths["/api/v1/threads/{thread_id}/messages"]["post"]
    props = reply["requestBody"]["content"]["application/json"]["schema"]
    assert props  # the reply body is documented


async def test_values_the_database_cannot_store_are_422_not_500(api: Api) -> None:
    channel = await api.add_api_channel()
    thread_id = (await api.inbound(channel, "seed", contact_id="v"))["thread_id"]
    auth = {"Authorization": f"Bearer {channel.token}"}
    url = f"/api/v1/channels/{channel.id}/inbound"
    client, h = api.client, api.headers

    nul = {"external_id": "n", "contact": {"external_id": "v"}, "text": "nul \x00 byte"}
    assert "NUL" in assert_problem(await client.post(url, json=nul, headers=auth), 422)["detail"]  # type: ignore[operator]
    ancient = {
        "external_id": "o",
        "contact": {"external_id": "v"},
        "text": "x",
        "sent_at": "0001-01-01T00:00:00+14:00",
    }
    assert "sent_at" in assert_problem(await client.post(url, json=ancient, headers=auth), 422)["detail"]  # type: ignore[operator]
    assert_problem(
        await client.post(f"/api/v1/threads/{thread_id}/notes", json={"text": "a\x00b"}, headers=h), 400
    )
    for path in ("/api/v1/threads/3000000000", "/api/v1/contacts/9223372036854775807"):
        assert (await client.get(path, headers=h)).status_code in (404, 422)
    assert (await client.get("/api/v1/search", params={"q": "x\x00y"}, headers=h)).status_code in (200, 422)
    login = await client.post("/api/v1/auth/token", json={"email": "a\x00@example.com", "password": "x"})
    assert login.status_code == 400  # refused by validation, before any lookup
    assert_problem(
        await client.get("/api/v1/threads", params={"status": "nope"}, headers=h), 422, "invalid-filter"
    )
    assert [m["text"] for m in await api.timeline(thread_id)] == ["seed"]
