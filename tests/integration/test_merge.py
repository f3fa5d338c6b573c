"""Merging customers and undoing it: nothing lost, nothing duplicated, undo is exact."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api


async def _snapshot(api: Api, contact_ids: list[int]) -> dict[int, Any]:
    """What an agent can see of each contact: fields, identities and the whole timeline."""
    out = {}
    for contact_id in contact_ids:
        contact = await api.get(f"/api/v1/contacts/{contact_id}")
        timeline = await api.timeline(contact["thread_id"])
        detail = await api.get(f"/api/v1/threads/{contact['thread_id']}")
        out[contact_id] = {
            "contact": {k: contact[k] for k in ("name", "email", "phone", "attributes", "merged_into_id")},
            "identities": sorted(
                (i["channel"], i["external_id"], i["verified"]) for i in contact["identities"]
            ),
            "timeline": [(m["id"], m["text"]) for m in timeline],
            "thread": {
                k: detail["thread"][k] for k in ("status", "assignee_id", "episode", "last_message_preview")
            },
        }
    return out


async def test_merge_interleaves_timelines_and_undo_restores_everything(api: Api) -> None:
    shop = await api.add_api_channel("Shop")
    sms = await api.add_api_channel("SMS")
    a1 = await api.inbound(shop, "A: first", contact_id="a", name="Lena")
    b1 = await api.inbound(sms, "B: second", contact_id="b", phone="+31611112222")
    a2 = await api.inbound(shop, "A: third", contact_id="a")
    b2 = await api.inbound(sms, "B: fourth", contact_id="b")
    await api.patch(f"/api/v1/threads/{b1['thread_id']}", {"status": "pending"})
    a, b = a1["contact_id"], b1["contact_id"]
    before = await _snapshot(api, [a, b])

    merged = await api.post(f"/api/v1/contacts/{a}/merge", {"other_id": b}, expect=201)
    merge = merged.json()
    assert merge["primary_contact_id"] == a and merge["other_contact_id"] == b

    timeline = await api.timeline(a1["thread_id"])
    texts = [m["text"] for m in timeline if m["kind"] != "system"]
    assert texts == ["A: first", "B: second", "A: third", "B: fourth"]
    assert len({m["id"] for m in timeline}) == len(timeline)
    assert any(m["kind"] == "system" and "merged" in m["text"] for m in timeline)
    contact = await api.get(f"/api/v1/contacts/{a}")
    assert contact["phone"] == "+31611112222"
    assert {i["channel"] for i in contact["identities"]} == {"api", "phone"}
    inbox = await api.get("/api/v1/threads")
    assert [t["id"] for t in inbox["items"]] == [a1["thread_id"]]
    merged_away = await api.get(f"/api/v1/contacts/{b}")
    assert merged_away["merged_into_id"] == a
    # The customer writes again on the merged-in identity: it lands in the merged thread.
    b3 = await api.inbound(sms, "B: after merge", contact_id="b")
    assert b3["thread_id"] == a1["thread_id"]

    undone = await api.post(f"/api/v1/merges/{merge['id']}/undo", {}, expect=200)
    assert undone.json()["undone_at"] is not None
    after = await _snapshot(api, [a, b])
    # Exactly as before, except that B's newest message went back to B with its identity.
    b_timeline = after[b]["timeline"]
    assert b_timeline[-1][1] == "B: after merge"
    after[b]["timeline"] = b_timeline[:-1]
    after[b]["thread"]["last_message_preview"] = before[b]["thread"]["last_message_preview"]
    assert after == before
    assert {a2["thread_id"], b2["thread_id"]} == {a1["thread_id"], b1["thread_id"]}


async def test_merge_and_undo_refusals(api: Api) -> None:
    channel = await api.add_api_channel()
    a = (await api.inbound(channel, "a", contact_id="a"))["contact_id"]
    b = (await api.inbound(channel, "b", contact_id="b"))["contact_id"]

    self_merge = await api.post(f"/api/v1/contacts/{a}/merge", {"other_id": a}, expect=409)
    assert self_merge.headers["content-type"].startswith("application/problem+json")
    assert self_merge.json()["type"].endswith("/merge-self")

    missing = await api.post(f"/api/v1/contacts/{a}/merge", {"other_id": 99999}, expect=404)
    assert missing.json()["type"].endswith("/contact-not-found")

    merge = (await api.post(f"/api/v1/contacts/{a}/merge", {"other_id": b}, expect=201)).json()
    again = await api.post(f"/api/v1/contacts/{a}/merge", {"other_id": b}, expect=409)
    assert "already merged" in again.json()["detail"]

    await api.post(f"/api/v1/merges/{merge['id']}/undo", {}, expect=200)
    twice = await api.post(f"/api/v1/merges/{merge['id']}/undo", {}, expect=409)
    assert twice.json()["type"].endswith("/merge-already-undone")
    await api.post("/api/v1/merges/424242/undo", {}, expect=404)


async def test_adding_a_verified_phone_to_a_contact_links_the_caller(api: Api) -> None:
    """An agent adds the number a caller used: the two contacts become one (logged, undoable)."""
    channel = await api.add_api_channel()
    chat = await api.inbound(channel, "chat message", contact_id="web-1", name="Noor")
    call = (
        await api.post(
            "/api/v1/phone-notes",
            {"phone": "+31655554444", "text": "call", "direction": "inbound"},
            expect=201,
        )
    ).json()
    assert call["thread_id"] != chat["thread_id"]
    patched = await api.patch(f"/api/v1/contacts/{chat['contact_id']}", {"phone": "0655554444"})
    threads = await api.get("/api/v1/threads")
    assert len(threads["items"]) == 1
    assert patched["id"] in (chat["contact_id"], threads["items"][0]["contact"]["id"])
    texts = [m["text"] for m in await api.timeline(threads["items"][0]["id"]) if m["kind"] != "system"]
    assert texts == ["chat message", "call"]
