"""The custom channel's inbound path, end to end through HTTP, on both shapes."""

from __future__ import annotations

from tests.helpers import Api


async def test_inbound_message_lands_in_one_thread(api: Api) -> None:
    channel = await api.add_api_channel()
    first = await api.inbound(channel, "Where is my order?", contact_id="cust-9", name="Bo Berg")
    second = await api.inbound(channel, "Any news?", contact_id="cust-9")
    assert first["thread_id"] == second["thread_id"]
    timeline = await api.timeline(first["thread_id"])
    assert [m["text"] for m in timeline] == ["Where is my order?", "Any news?"]
    assert {m["channel"] for m in timeline} == {"api"}
    inbox = await api.get("/api/v1/threads")
    assert [t["contact"]["name"] for t in inbox["items"]] == ["Bo Berg"]
