"""Who is on a thread right now: agents viewing or typing, the customer typing in the widget.

Presence is ephemeral: notes go over a channel per thread and event log and are never written to
the event log or replayed. The console's thread page and the customer's widget both listen.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class PresenceNote(msgspec.Struct):
    """One socket's word on a thread's presence channel."""

    conn: str
    agent_id: int
    name: str
    state: Literal["viewing", "typing", "left"]
    hello: bool = False
    customer: bool = False
    """From the customer's chat widget (``agent_id`` 0), not from another agent's console."""
    thread_id: int | None = None
    """The thread it is about (the widget channel carries every thread's notes)."""


def presence_channel(namespace: str, thread_id: int) -> str:
    """Per thread and per event log, so deployments sharing a Redis do not see each other's agents."""
    return f"presence.{namespace}.thread.{thread_id}" if namespace else f"presence.thread.{thread_id}"
