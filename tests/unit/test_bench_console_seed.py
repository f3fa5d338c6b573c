"""The console benchmark measures pages over data the actions could have written.

``bench/seed_console.py`` bulk-inserts rows instead of calling the actions; these tests hold it to
what the actions would leave: thread summaries as ``note_message_on_thread`` keeps them, the
unique keys the tables enforce, and a first inbox row the benchmark can recognise.
"""

from __future__ import annotations

import sys
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from app.db.models import Message, Thread
from app.domain.inbox.threads import NO_MESSAGE_YET, note_message_on_thread

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import seed_console  # bench/ is not a package: found through the line above

AGENTS = [(1, "Ada Bench"), (2, "Bob Bench")]
ACCOUNTS = {channel: uuid.uuid4() for channel in ("api", "telegram", "messenger", "email", "webchat")}
FIRST_IDS = {"contacts": 1, "identities": 1, "threads": 1, "messages": 1, "attachments": 1}


def build(**overrides: Any) -> tuple[dict[str, list[dict[str, Any]]], seed_console.Seeded]:
    options: dict[str, Any] = {"big_messages": 400, "threads": 60, **overrides}
    return seed_console.build(agents=AGENTS, accounts=ACCOUNTS, next_ids=FIRST_IDS, **options)


def test_thread_summaries_are_what_note_message_on_thread_leaves() -> None:
    tables, _ = build()
    by_thread: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in tables["messages"]:
        by_thread[row["thread_id"]].append(row)
    assert len(by_thread) == len(tables["threads"])
    for row in tables["threads"]:
        replayed = Thread(contact_id=row["contact_id"], last_message_at=NO_MESSAGE_YET)
        for message in sorted(by_thread[row["id"]], key=lambda m: (m["created_at"], m["id"])):
            note_message_on_thread(replayed, Message(**message))
        for name in ("last_message_at", "last_message_preview", "last_inbound_channel", "last_inbound_at"):
            assert getattr(replayed, name) == row[name], (row["id"], name)


def test_rows_respect_the_unique_keys_and_point_at_rows_that_exist() -> None:
    tables, _ = build()
    identities = [(r["channel"], r["external_id"]) for r in tables["identities"]]
    assert len(set(identities)) == len(identities)
    external = [
        (r["channel_account_id"], r["external_id"])
        for r in tables["messages"]
        if r["external_id"] is not None
    ]
    assert len(set(external)) == len(external)
    assert len({r["contact_id"] for r in tables["threads"]}) == len(tables["threads"])
    identity_ids = {r["id"] for r in tables["identities"]}
    assert {r["identity_id"] for r in tables["messages"]} - {None} <= identity_ids
    assert {r["message_id"] for r in tables["attachments"]} <= {r["id"] for r in tables["messages"]}


def test_the_big_thread_has_every_kind_of_line_and_its_newest_message_is_marked() -> None:
    tables, seeded = build()
    big = [r for r in tables["messages"] if r["thread_id"] == seeded.big_thread_id]
    assert len(big) == 400
    assert {r["kind"] for r in big} == {"text", "note", "phone", "system"}
    assert {r["channel"] for r in big} >= {"telegram", "email", "note", "phone", "system"}
    assert any(r["subject"] for r in big)
    newest = max(big, key=lambda r: (r["created_at"], r["id"]))
    assert newest["text"].startswith(seed_console.NEWEST_MARKER)


def test_the_first_inbox_row_is_the_named_customer_the_benchmark_looks_for() -> None:
    for seed in range(5):
        tables, seeded = build(seed=seed)
        first = max(tables["threads"], key=lambda r: (r["last_message_at"], r["id"]))
        contact = next(c for c in tables["contacts"] if c["id"] == first["contact_id"])
        assert contact["name"] == seeded.newest_contact_name
        assert len(tables["threads"]) == seeded.threads == 60
