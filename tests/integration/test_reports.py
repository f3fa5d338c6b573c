"""Reports on a small known dataset: exact figures, filters, CSV, the SVG's escaping, who may read them.

Most rows are written directly through the writer with chosen times (a first response of exactly
five minutes cannot come from the real actions without waiting five minutes); they are the rows the
actions write (see ``inbox/actions.py``: the ``reopened`` and ``thread-change`` system lines). One
test goes through the real actions end to end, so the report reads what they really record.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app.db.models import BotDecision, Contact, Message, Thread, pk
from app.domain.accounts.actions import do_create_agent
from app.domain.privacy.actions import do_erase_contact
from app.domain.realtime.writer import Transaction, Writer
from app.domain.reports.actions import do_rebuild
from app.lib.storage import FileStorage
from tests.console import login
from tests.helpers import PASSWORD, Api

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RANGE = {"from": "2026-03-01", "to": "2026-03-31"}
BOB = "=cmd <b>Bob</b>"
EVE = "<i>Eve</i>"


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


async def seed(writer: Writer, admin_id: int) -> dict[str, int]:
    """Four customers (see the figures each test expects):

    - Anna: web chat → Telegram → web chat (2 switches); bot reply after 60 s, Ada after 300 s,
      resolved by Ada after 3 h.
    - Bob (named like a formula, with markup): Telegram, Eve replies after 900 s, then email (1 switch).
    - Carl: web chat, Eve replies after 1,500 s, resolves after 1 h; five days later he writes on
      Telegram (reopened), Ada replies after 100 s (1 switch).
    - Dora: web chat twice, nobody answered yet.
    """
    eve = await do_create_agent(writer, email="eve@example.com", name=EVE, password=PASSWORD)
    eve_id = pk(eve.id)
    ids: dict[str, int] = {"eve": eve_id}

    async def work(tx: Transaction) -> None:
        session = tx.session

        async def thread(name: str, status: str, assignee: int | None) -> Thread:
            contact = Contact(name=name)
            session.add(contact)
            await session.flush()
            row = Thread(contact_id=pk(contact.id), status=status, assignee_id=assignee)
            session.add(row)
            await session.flush()
            ids[name] = pk(row.id)
            return row

        def inbound(t: Thread, channel: str, at: datetime) -> None:
            session.add(
                Message(
                    thread_id=pk(t.id), direction="in", kind="text", channel=channel,
                    author_type="customer", text="hello", created_at=at, received_at=at,
                )
            )  # fmt: skip

        def reply(t: Thread, channel: str, at: datetime, agent_id: int | None) -> None:
            session.add(
                Message(
                    thread_id=pk(t.id), direction="out", kind="text", channel=channel,
                    author_type="agent" if agent_id else "bot", author_id=agent_id, text="hi",
                    delivery_status="delivered", created_at=at, received_at=at,
                )
            )  # fmt: skip

        def line(t: Thread, at: datetime, **meta: Any) -> None:
            session.add(
                Message(
                    thread_id=pk(t.id), direction="out", kind="system", channel="system",
                    author_type="system", text="…", meta=meta, created_at=at, received_at=at,
                )
            )  # fmt: skip

        def resolved(t: Thread, at: datetime, agent_id: int) -> None:
            change = [
                {"field": "status", "to": "resolved"},
                {"field": "assignee", "to": agent_id, "name": "x"},
            ]
            line(t, at, event="thread-change", agent_id=agent_id, agent_name="x", changes=change)

        def decision(t: Thread, channel: str, outcome: str, at: datetime) -> None:
            session.add(BotDecision(thread_id=pk(t.id), channel=channel, outcome=outcome, created_at=at))

        anna = await thread("Anna", "resolved", admin_id)
        inbound(anna, "webchat", T0)
        decision(anna, "webchat", "answered", T0 + _s(1))
        reply(anna, "webchat", T0 + _s(60), None)
        reply(anna, "webchat", T0 + _s(300), admin_id)
        inbound(anna, "telegram", T0 + _s(3600))
        inbound(anna, "webchat", T0 + _s(7200))
        resolved(anna, T0 + _s(10_800), admin_id)

        bob = await thread(BOB, "open", eve_id)
        t1 = T0 + DAY
        inbound(bob, "telegram", t1)
        decision(bob, "telegram", "handoff", t1 + _s(1))
        reply(bob, "telegram", t1 + _s(900), eve_id)
        inbound(bob, "email", t1 + _s(2000))

        carl = await thread("Carl", "open", admin_id)
        t2 = T0 + 2 * DAY
        inbound(carl, "webchat", t2)
        reply(carl, "webchat", t2 + _s(1500), eve_id)
        resolved(carl, t2 + _s(3600), eve_id)
        t3 = T0 + 5 * DAY
        inbound(carl, "telegram", t3)
        line(carl, t3, event="reopened", episode=2, channel="telegram")
        reply(carl, "telegram", t3 + _s(100), admin_id)

        dora = await thread("Dora", "open", None)
        t4 = T0 + 3 * DAY
        inbound(dora, "webchat", t4)
        decision(dora, "webchat", "answered", t4 + _s(1))
        inbound(dora, "webchat", t4 + _s(600))
        for row in (anna, bob, carl, dora):
            row.last_inbound_at = T0 + 5 * DAY

    await writer.run(work)
    return ids


@pytest.fixture
async def seeded(api: Api, app: Litestar) -> dict[str, int]:
    return await seed(app.state.writer, api.agent_id)


def _row(report: dict[str, Any], channel: str | None) -> dict[str, Any]:
    return next(r for r in report["responses"] if r["channel"] == channel)


async def test_the_report_has_the_exact_figures_of_the_dataset(api: Api, seeded: dict[str, int]) -> None:
    report = await api.get("/api/v1/reports", **RANGE)
    every = _row(report, None)
    assert every["conversations"] == 5  # Anna, Bob, Carl twice, Dora
    # first replies 60, 900, 1500, 100 s; Ada/Eve 300, 900, 1500, 100 s; resolved 3 h and 1 h
    assert every["first_response"] == {"count": 4, "median_seconds": 500.0, "p90_seconds": 1320.0}
    assert every["first_human_response"] == {"count": 4, "median_seconds": 600.0, "p90_seconds": 1320.0}
    assert every["resolution"] == {"count": 2, "median_seconds": 7200.0, "p90_seconds": 10_080.0}
    assert every["unresolved"] == 3
    webchat = _row(report, "webchat")
    assert (webchat["conversations"], webchat["first_response"]["median_seconds"]) == (3, 780.0)

    switches = report["switches"]
    assert (switches["customers"], switches["multichannel_customers"], switches["switches"]) == (4, 3, 4)
    assert switches["customers_by_switches"] == [1, 2, 1, 0, 0]
    top = switches["top_customers"][0]
    assert (top["name"], top["switches"], top["channels"]) == ("Anna", 2, 2)
    transitions = {(t["from"], t["to"]): t["count"] for t in switches["transitions"]}
    assert transitions == {("webchat", "telegram"): 2, ("telegram", "webchat"): 1, ("telegram", "email"): 1}

    volume = {(v["day"], v["channel"]): (v["inbound"], v["outbound"]) for v in report["volume"]}
    assert volume[("2026-03-02", "webchat")] == (2, 2)
    assert volume[("2026-03-02", "telegram")] == (1, 0)
    assert volume[("2026-03-05", "webchat")] == (2, 0)
    assert report["bot_totals"]["answered"] == 2 and report["bot_totals"]["handoff"] == 1

    workload = {w["name"]: w for w in report["workload"]}
    assert {k: workload["Ada Admin"][k] for k in ("replies", "resolved", "open_assigned")} == {
        "replies": 2,
        "resolved": 1,
        "open_assigned": 1,
    }
    assert {k: workload[EVE][k] for k in ("replies", "resolved", "open_assigned")} == {
        "replies": 2,
        "resolved": 1,
        "open_assigned": 1,
    }


async def test_filters_change_the_figures(api: Api, seeded: dict[str, int]) -> None:
    telegram = await api.get("/api/v1/reports", channel="telegram", **RANGE)
    every = _row(telegram, None)
    assert every["conversations"] == 2  # Bob, Carl's second
    assert every["first_response"]["median_seconds"] == 500.0  # 900 and 100 s
    assert {v["channel"] for v in telegram["volume"]} == {"telegram"}
    assert telegram["bot_totals"]["answered"] == 0 and telegram["bot_totals"]["handoff"] == 1
    assert telegram["switches"]["customers"] == 3  # Anna, Bob and Carl wrote on Telegram

    late = await api.get("/api/v1/reports", **{"from": "2026-03-07", "to": "2026-03-31"})
    assert _row(late, None)["conversations"] == 1  # only Carl's second conversation
    assert _row(late, None)["first_response"]["median_seconds"] == 100.0
    assert late["switches"]["switches"] == 0

    # Days are the reader's: 23:30 UTC on 29 March (summer time from that night) is the 30th in
    # Amsterdam, and 09:00 UTC on 2 March is still the 2nd.
    async def at_night(tx: Transaction) -> None:
        tx.session.add(
            Message(
                thread_id=seeded["Dora"], direction="in", kind="text", channel="email",
                author_type="customer", text="late", created_at=datetime(2026, 3, 29, 23, 30, tzinfo=UTC),
            )
        )  # fmt: skip

    await api.writer.run(at_night)
    amsterdam = await api.get("/api/v1/reports", tz="Europe/Amsterdam", channel="email", **RANGE)
    assert {v["day"] for v in amsterdam["volume"]} == {"2026-03-03", "2026-03-30"}


async def test_bad_periods_are_refused_with_a_reason(api: Api) -> None:
    for params in ({"from": "2026-13-01"}, {"from": "2026-03-05", "to": "2026-03-01"}, {"channel": "fax"}):
        response = await api.client.get("/api/v1/reports", params=params, headers=api.headers)
        assert response.status_code == 422, response.text
    response = await api.client.get("/api/v1/reports", params={"tz": "Mars/Olympus"}, headers=api.headers)
    assert response.status_code == 422
    response = await api.client.get(
        "/api/v1/reports", params={"from": "2024-01-01", "to": "2026-01-01"}, headers=api.headers
    )
    assert response.status_code == 422 and "366" in response.text


async def test_the_page_and_its_csv_say_the_same_and_escape_names(
    client: httpx.AsyncClient, api: Api, seeded: dict[str, int]
) -> None:
    assert (await login(client, "admin@example.com")).status_code == 303
    page = await client.get("/reports", params=RANGE)
    assert page.status_code == 200
    html = page.text
    assert re.search(r'data-figure="conversations">5<', html)
    assert '<svg viewBox="0 0 720' in html and '<title id="chart-workload-title">' in html
    # Names are text in the SVG and the tables, never markup.
    assert EVE not in html and "&lt;i&gt;Eve&lt;/i&gt;" in html
    assert "<b>Bob</b>" not in html
    svg = html[html.index('id="chart-workload-title"') :]
    assert "&lt;i&gt;Eve&lt;/i&gt;" in svg[: svg.index("</svg>")]

    responses = await client.get("/reports/csv/responses", params=RANGE)
    assert responses.status_code == 200
    assert responses.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        'filename="onethread-responses-2026-03-01-2026-03-31.csv"' in responses.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(responses.text)))
    every = next(r for r in rows if r["channel"] == "all")
    assert (every["conversations"], every["first_response_median_s"], every["resolution_p90_s"]) == (
        "5",
        "500.0",
        "10080.0",
    )
    customers = list(
        csv.DictReader(io.StringIO((await client.get("/reports/csv/customers", params=RANGE)).text))
    )
    assert "'" + BOB in [r["customer"] for r in customers]  # a formula in a spreadsheet no more
    assert (await client.get("/reports/csv/nothing", params=RANGE)).status_code == 404

    refused = await client.get("/reports", params={"from": "2026-03-31", "to": "2026-03-01"})
    assert refused.status_code == 422 and "The first day must not be after the last." in refused.text
    bad_csv = await client.get("/reports/csv/volume", params={"from": "yesterday"})
    assert bad_csv.status_code == 422

    dutch = await client.get("/reports", params=RANGE, headers={"Accept-Language": "nl"})
    assert "Gesprekken" in dutch.text


def _tag(html: str, element_id: str) -> str:
    """The opening tag of the element with ``element_id``."""
    found = re.search(rf'<[a-z]+ [^>]*id="{element_id}"[^>]*>', html)
    assert found, element_id
    return found.group(0)


def _figure(html: str, chart_id: str) -> str:
    """The chart figure with ``chart_id``, up to its end."""
    start = html.index(f'id="{chart_id}"')
    return html[start : html.index("</figure>", start)]


async def test_a_refused_period_keeps_the_form_and_shows_no_figures(
    client: httpx.AsyncClient, seeded: dict[str, int]
) -> None:
    assert (await login(client, "admin@example.com")).status_code == 303
    cases = [
        ({"from": "2026-03-31", "to": "2026-03-01"}, "to", "The first day must not be after the last."),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "to", "A report covers at most 366 days."),
        (
            {"from": "yesterday", "to": "2026-03-01"},
            "from",
            "“yesterday” is not a date: dates are written as YYYY-MM-DD.",
        ),
    ]
    for period, field, reason in cases:
        page = await client.get("/reports", params={**period, "channel": "telegram"})
        assert page.status_code == 422
        html = page.text
        error = re.search(
            r'<p class="field-error" id="report-error" role="alert" data-field="(\w+)">([^<]*)<', html
        )
        assert error and error.groups() == (field, reason)
        # What the admin asked for stays in the form; the field at fault says so.
        assert f'value="{period["from"]}"' in _tag(html, "report-from")
        assert f'value="{period["to"]}"' in _tag(html, "report-to")
        assert 'aria-invalid="true"' in _tag(html, f"report-{field}")
        assert '<option value="telegram" selected>' in html
        # No figures of some other period under the error.
        assert "data-figure=" in html and 'data-figure="none"' in html
        assert 'data-figure="conversations"' not in html and "<svg viewBox" not in html

    typed = await client.get("/reports", params={"from": "<b>x</b>"})
    assert (
        typed.status_code == 422
        and "<b>x" not in typed.text
        and "“&lt;b&gt;x&lt;/b&gt;” is not" in typed.text
    )

    zone = await client.get("/reports", params={**RANGE, "tz": "Mars/Base"})
    assert zone.status_code == 422
    assert "Mars/Base is not a time zone; use an IANA name such as Europe/Amsterdam" in zone.text
    assert 'data-figure="conversations"' not in zone.text
    assert (await client.get("/reports/csv/volume", params={**RANGE, "tz": "Mars/Base"})).status_code == 422
    kolkata = await client.get("/reports", params={**RANGE, "tz": "Asia/Kolkata"})
    assert kolkata.status_code == 200 and "(Asia/Kolkata)" in kolkata.text
    assert 'name="tz" value="Asia/Kolkata"' in kolkata.text and "tz=Asia%2FKolkata" in kolkata.text

    dutch = await client.get(
        "/reports", params={**RANGE, "tz": "Mars/Base"}, headers={"Accept-Language": "nl"}
    )
    assert "Mars/Base is geen tijdzone" in dutch.text


async def test_the_charts_say_what_they_show(
    client: httpx.AsyncClient, api: Api, seeded: dict[str, int]
) -> None:
    assert (await login(client, "admin@example.com")).status_code == 303
    html = (await client.get("/reports", params=RANGE)).text
    # A channel has its own fill (colour and pattern) whichever channels are shown.
    volume = _figure(html, "chart-volume")
    fills = set(re.findall(r'<rect class="(channel-\w+)"', volume))
    assert fills == {"channel-webchat", "channel-telegram", "channel-email"}
    assert 'id="fill-channel-telegram"' in html
    telegram = (await client.get("/reports", params={**RANGE, "channel": "telegram"})).text
    assert set(re.findall(r'<rect class="(channel-\w+)"', telegram)) == {"channel-telegram"}
    # A channel chosen: the responses say whose they are, and how conversations are counted.
    assert '<tr data-channel="all" class="total">\n        <th scope="row">Telegram</th>' in telegram
    assert "All channels</th>" not in telegram
    assert telegram.count('data-caption="channel"') == 2
    assert "only those that started on Telegram are counted here" in telegram
    assert 'data-caption="channel"' not in html

    # A day with nothing but one note: empty charts say so; the workload chart shows the note.
    async def a_note(tx: Transaction) -> None:
        tx.session.add(
            Message(
                thread_id=seeded["Dora"], direction="out", kind="note", channel="note", author_type="agent",
                author_id=seeded["eve"], text="call back", created_at=datetime(2026, 4, 10, 12, tzinfo=UTC),
            )
        )  # fmt: skip

    await api.writer.run(a_note)
    quiet = (await client.get("/reports", params={"from": "2026-04-10", "to": "2026-04-10"})).text
    for chart in ("chart-response", "chart-bot", "chart-switches"):
        assert re.search(rf'<figure class="chart chart-empty" id="{chart}"', quiet), chart
    assert quiet.count("No data in this period.") == 3
    workload = _figure(quiet, "chart-workload")
    assert "<title>&lt;i&gt;Eve&lt;/i&gt; · Notes: 1</title>" in workload
    assert "Replies, notes and calls logged per agent" in workload


async def test_agents_may_not_read_reports(agent_client: httpx.AsyncClient, app: Litestar) -> None:
    for path in ("/reports", "/reports/csv/volume"):
        response = await agent_client.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 403, path
    token = await agent_client.post(
        "/api/v1/auth/token", json={"email": "ada@example.com", "password": PASSWORD}
    )
    response = await agent_client.get(
        "/api/v1/reports", headers={"Authorization": f"Bearer {token.json()['token']}"}
    )
    assert response.status_code == 403
    assert "Reports" not in (await agent_client.get("/")).text.split("</nav>")[0]


async def test_what_the_real_actions_record_is_reported(api: Api) -> None:
    """A customer writes, an agent replies and resolves, the customer writes again: two conversations,
    the first resolved (the report reads the actions' own status lines)."""
    channel = await api.add_api_channel(callback_url="http://127.0.0.1:9/unreachable")
    first = await api.inbound(channel, "Where is my parcel?", contact_id="c-9", name="Pia")
    thread_id = first["thread_id"]
    await api.post(f"/api/v1/threads/{thread_id}/messages", {"text": "On its way"}, expect=202)
    await api.patch(f"/api/v1/threads/{thread_id}", {"status": "resolved"})
    await api.inbound(channel, "Thanks, and another question", contact_id="c-9")
    today = datetime.now(UTC).date().isoformat()
    report = await api.get("/api/v1/reports", tz="UTC", **{"from": today, "to": today})
    every = _row(report, None)
    assert every["conversations"] == 2
    assert every["first_human_response"]["count"] == 1
    assert every["resolution"]["count"] == 1 and every["unresolved"] == 1
    workload = {w["agent_id"]: w for w in report["workload"]}
    assert workload[api.agent_id]["replies"] == 1 and workload[api.agent_id]["resolved"] == 1
    volume = {(v["channel"]): (v["inbound"], v["outbound"]) for v in report["volume"]}
    assert volume == {"api": (2, 1)}


async def _rebuilt(api: Api, app: Litestar, **params: Any) -> Any:
    """The report after recomputing the rollup from scratch (what ``onethread reports rebuild`` does)."""
    await do_rebuild(app.state.writer)
    return await api.get("/api/v1/reports", **params)


async def test_the_rollup_follows_new_messages_merges_and_erasure(
    api: Api, app: Litestar, seeded: dict[str, int], tmp_path: Path
) -> None:
    """The page catches the rollup up before answering: its figures equal a rebuild's after new
    messages arrive past the watermark, after a merge moves messages between threads and after an
    erasure deletes a customer's (and agree
    with a half-hour time zone, whose day figures are counted from the messages themselves)."""
    writer: Writer = app.state.writer
    before = await api.get("/api/v1/reports", **RANGE)
    assert await _rebuilt(api, app, **RANGE) == before
    assert _row(before, None)["conversations"] == 5

    async def more(tx: Transaction) -> None:
        # Anna writes again on Telegram: a new conversation (the thread was resolved) and a switch.
        at = T0 + 8 * DAY
        tx.session.add_all(
            [
                Message(
                    thread_id=seeded["Anna"], direction="in", kind="text", channel="telegram",
                    author_type="customer", text="again", created_at=at, received_at=at,
                ),
                Message(
                    thread_id=seeded["Anna"], direction="out", kind="system", channel="system",
                    author_type="system", text="…", meta={"event": "reopened", "channel": "telegram"},
                    created_at=at, received_at=at,
                ),
            ]
        )  # fmt: skip

    await writer.run(more)
    grown = await api.get("/api/v1/reports", **RANGE)
    assert _row(grown, None)["conversations"] == 6
    assert grown["switches"]["switches"] == before["switches"]["switches"] + 1
    assert sum(r["inbound"] for r in grown["volume"]) == sum(r["inbound"] for r in before["volume"]) + 1
    assert await _rebuilt(api, app, **RANGE) == grown

    async def contacts(tx: Transaction) -> tuple[int, int]:
        anna = await tx.session.get(Thread, seeded["Anna"])
        dora = await tx.session.get(Thread, seeded["Dora"])
        assert anna is not None and dora is not None
        return anna.contact_id, dora.contact_id

    anna_contact, dora_contact = await writer.run(contacts)
    await api.post(f"/api/v1/contacts/{anna_contact}/merge", {"other_id": dora_contact}, expect=201)
    merged = await api.get("/api/v1/reports", **RANGE)
    assert (
        merged["switches"]["customers"] == grown["switches"]["customers"] - 1
    )  # Dora's thread is Anna's now
    assert await _rebuilt(api, app, **RANGE) == merged

    async def bob(tx: Transaction) -> int:
        thread = await tx.session.get(Thread, seeded[BOB])
        assert thread is not None
        return thread.contact_id

    await do_erase_contact(
        writer, FileStorage(tmp_path), contact_id=await writer.run(bob), mode="delete", actor="test"
    )
    erased = await api.get("/api/v1/reports", **RANGE)
    assert _row(erased, None)["conversations"] == _row(merged, None)["conversations"] - 1
    assert await _rebuilt(api, app, **RANGE) == erased

    kolkata = await api.get("/api/v1/reports", **RANGE, tz="Asia/Kolkata")
    utc = await api.get("/api/v1/reports", **RANGE, tz="UTC")
    assert kolkata["switches"] == utc["switches"]
    assert kolkata["responses"] == utc["responses"]
    assert sum(r["inbound"] for r in kolkata["volume"]) == sum(r["inbound"] for r in utc["volume"])
