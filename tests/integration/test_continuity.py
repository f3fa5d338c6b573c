"""One thread per customer: the continuity rules, as an agent sees them through the API."""

from __future__ import annotations

import asyncio

from tests.helpers import Api


async def test_phone_note_then_custom_channel_with_same_phone_is_one_thread(api: Api) -> None:
    """The issue's continuity proof: a call, then a message carrying the same number."""
    note = await api.post(
        "/api/v1/phone-notes",
        {
            "phone": "06 1234 5678",
            "text": "Called about a refund",
            "direction": "inbound",
            "duration_seconds": 95,
        },
        expect=201,
    )
    note_body = note.json()
    assert note_body["kind"] == "phone"
    assert note_body["meta"] == {"phone": "+31612345678", "call_direction": "inbound", "duration_seconds": 95}

    channel = await api.add_api_channel("SMS gateway")
    later = await api.inbound(
        channel, "Did the refund go through?", contact_id="sms-77", phone="+31 6 12345678"
    )

    assert later["thread_id"] == note_body["thread_id"]
    contacts = await api.get("/api/v1/contacts")
    assert len(contacts["items"]) == 1
    contact = contacts["items"][0]
    assert {(i["channel"], i["external_id"]) for i in contact["identities"]} == {
        ("phone", "+31612345678"),
        ("api", f"{channel.id}:sms-77"),
    }
    timeline = await api.timeline(later["thread_id"])
    assert [(m["channel"], m["kind"], m["text"]) for m in timeline] == [
        ("phone", "phone", "Called about a refund"),
        ("api", "text", "Did the refund go through?"),
    ]


async def test_same_identity_same_contact_and_new_identity_new_contact(api: Api) -> None:
    channel = await api.add_api_channel()
    a1 = await api.inbound(channel, "hi", contact_id="a")
    a2 = await api.inbound(channel, "again", contact_id="a")
    b = await api.inbound(channel, "hello", contact_id="b")
    assert a1["contact_id"] == a2["contact_id"] != b["contact_id"]
    assert a1["thread_id"] == a2["thread_id"] != b["thread_id"]


async def test_ids_of_two_sources_do_not_collide(api: Api) -> None:
    shop = await api.add_api_channel("Shop")
    sms = await api.add_api_channel("SMS")
    first = await api.inbound(shop, "from the shop", contact_id="42")
    second = await api.inbound(sms, "from sms", contact_id="42")
    assert first["contact_id"] != second["contact_id"]


async def test_verified_email_links_a_new_identity_to_the_known_customer(api: Api) -> None:
    shop = await api.add_api_channel("Shop")
    sms = await api.add_api_channel("SMS")
    first = await api.inbound(shop, "order question", contact_id="u1", email="Mia@Example.com")
    second = await api.inbound(sms, "also me", contact_id="p9", email="mia@example.com")
    assert second["contact_id"] == first["contact_id"]
    contact = await api.get(f"/api/v1/contacts/{first['contact_id']}")
    assert contact["email"] == "mia@example.com"


async def test_same_name_only_suggests_a_merge(api: Api) -> None:
    channel = await api.add_api_channel()
    one = await api.inbound(channel, "hi", contact_id="x1", name="Jan de Boer")
    two = await api.inbound(channel, "hoi", contact_id="x2", name="jan de boer")
    assert one["contact_id"] != two["contact_id"]
    suggestions = (await api.get("/api/v1/merge-suggestions"))["items"]
    assert len(suggestions) == 1
    assert "same name" in suggestions[0]["reason"]
    assert {suggestions[0]["contact"]["id"], suggestions[0]["other_contact"]["id"]} == {
        one["contact_id"],
        two["contact_id"],
    }
    dismissed = await api.client.post(
        f"/api/v1/merge-suggestions/{suggestions[0]['id']}/dismiss", headers=api.headers
    )
    assert dismissed.status_code == 204
    assert (await api.get("/api/v1/merge-suggestions"))["items"] == []


async def test_merge_suggestions_are_a_cursor_paginated_list_newest_first(api: Api) -> None:
    channel = await api.add_api_channel()
    for number, name in enumerate(["Ann Smit", "Bas Visser", "Cor Mulder"]):
        await api.inbound(channel, "hi", contact_id=f"a{number}", name=name)
        await api.inbound(channel, "hoi", contact_id=f"b{number}", name=name)
    first = await api.get("/api/v1/merge-suggestions?limit=2")
    assert [s["contact"]["name"] for s in first["items"]] == ["Cor Mulder", "Bas Visser"]
    assert first["next_cursor"] is not None
    rest = await api.get(f"/api/v1/merge-suggestions?limit=2&cursor={first['next_cursor']}")
    assert [s["contact"]["name"] for s in rest["items"]] == ["Ann Smit"] and rest["next_cursor"] is None


async def test_verified_claims_on_two_known_contacts_merge_them_undoably(api: Api) -> None:
    """A customer known by email on one source and by phone on another proves both on a third."""
    shop = await api.add_api_channel("Shop")
    sms = await api.add_api_channel("SMS")
    crm = await api.add_api_channel("CRM")
    by_email = await api.inbound(shop, "mail person", contact_id="e", email="kim@example.org")
    by_phone = await api.inbound(sms, "phone person", contact_id="p", phone="+31687654321")
    assert by_email["contact_id"] != by_phone["contact_id"]
    both = await api.inbound(crm, "it's me", contact_id="c", email="kim@example.org", phone="+31687654321")
    live = await api.get("/api/v1/threads")
    assert len(live["items"]) == 1
    thread_id = live["items"][0]["id"]
    assert both["thread_id"] == thread_id
    texts = [m["text"] for m in await api.timeline(thread_id) if m["kind"] != "system"]
    assert texts == ["mail person", "phone person", "it's me"]


async def test_resolved_thread_reopens_with_a_new_episode(api: Api) -> None:
    channel = await api.add_api_channel()
    first = await api.inbound(channel, "question", contact_id="r")
    await api.patch(f"/api/v1/threads/{first['thread_id']}", {"status": "resolved"})
    again = await api.inbound(channel, "one more thing", contact_id="r")
    assert again["thread_id"] == first["thread_id"]
    detail = await api.get(f"/api/v1/threads/{first['thread_id']}")
    assert detail["thread"]["status"] == "open"
    assert detail["thread"]["episode"] == 2
    timeline = await api.timeline(first["thread_id"])
    assert [m["kind"] for m in timeline] == ["text", "system", "system", "text"]
    assert "reopened" in timeline[2]["text"]


async def test_ten_concurrent_retries_store_one_message(api: Api) -> None:
    channel = await api.add_api_channel()
    results = await asyncio.gather(
        *(api.inbound(channel, "only once", contact_id="dup", external_id="ext-1") for _ in range(10))
    )
    assert len({r["message_id"] for r in results}) == 1
    assert sum(not r["duplicate"] for r in results) == 1
    timeline = await api.timeline(results[0]["thread_id"])
    assert [m["text"] for m in timeline] == ["only once"]
    contacts = await api.get("/api/v1/contacts")
    assert len(contacts["items"]) == 1


async def test_concurrent_first_messages_of_a_new_customer_make_one_contact(api: Api) -> None:
    channel = await api.add_api_channel()
    results = await asyncio.gather(
        *(api.inbound(channel, f"message {i}", contact_id="fresh", name="New Person") for i in range(8))
    )
    assert len({r["contact_id"] for r in results}) == 1
    assert len({r["thread_id"] for r in results}) == 1
    assert len(await api.timeline(results[0]["thread_id"])) == 8
