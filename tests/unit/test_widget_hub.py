"""The widget hub hands each ring to the sockets on that thread (or of that visitor), and no other."""

from __future__ import annotations

import msgspec
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend

from app.domain.widget.hub import WidgetHub


class Socket:
    def __init__(self) -> None:
        self.rings: list[bytes] = []

    def ring(self, raw: bytes) -> None:
        self.rings.append(raw)


def ring(**fields: object) -> bytes:
    return msgspec.json.encode(fields)


def test_rings_reach_the_threads_sockets_and_forgotten_ones_no_more() -> None:
    hub = WidgetHub(ChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True), "db")
    tab_a, tab_b, other, waiting = Socket(), Socket(), Socket(), Socket()
    hub.watch_thread(tab_a, 7)
    hub.watch_thread(tab_b, 7)  # the same visitor in two tabs
    hub.watch_thread(other, 8)
    hub.watch_visitor(waiting, "abc")

    hub.dispatch(ring(id=1, type="message.created", thread_id=7))
    hub.dispatch(ring(type="started", visitor="abc"))
    hub.dispatch(b"not json")
    hub.dispatch(ring(id=2, type="message.created", thread_id=99))
    assert len(tab_a.rings) == len(tab_b.rings) == 1 and other.rings == []
    assert waiting.rings == [ring(type="started", visitor="abc")]

    hub.forget(tab_a, thread_id=7)
    hub.dispatch(ring(id=3, type="message.created", thread_id=7))
    assert len(tab_a.rings) == 1 and len(tab_b.rings) == 2
    hub.forget(tab_b, thread_id=7)
    hub.forget(waiting, visitor="abc")
    hub.forget(other, thread_id=8)
    assert hub.by_thread == {} and hub.by_visitor == {}
