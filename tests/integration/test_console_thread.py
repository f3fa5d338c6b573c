"""The thread page over HTTP: the unified timeline, the channel picker, phone notes, status, assignment.

Customers on channels without an HTTP adapter yet (Telegram, Messenger, email, web chat) are seeded
through ``do_ingest`` with the ``InboundMessage`` an adapter would build, as those adapters will.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import httpx
from litestar import Litestar
from sqlalchemy import update
from sqlmodel import col

from app.core import create_app
from app.db.models import Agent
from app.domain.accounts.actions import do_create_agent
from app.domain.canned.actions import do_create_canned_response
from app.domain.channels.accounts import do_add_channel_account
from app.domain.inbox.actions import do_ingest
from app.domain.realtime.writer import Writer
from app.settings import Settings
from integrations.base import DeliveryContext
from integrations.registry import AdapterRegistry
from integrations.testing import RecordingAdapter
from integrations.types import AccountConfig, ContactClaim, InboundAttachment, InboundMessage, InboundSender
from tests.conftest import running
from tests.console import csrf_from, http_client, login
from tests.helpers import PASSWORD, Api


async def _account(writer: Writer, channel: str) -> str:
    created = await do_add_channel_account(writer, channel=channel, name=f"{channel} account")
    return created.account.id


async def ingest(
    writer: Writer,
    account: str,
    channel: str,
    sender_id: str,
    text: str,
    *,
    at: datetime | None = None,
    name: str = "Anna de Vries",
    **extra: object,
) -> int:
    result = await do_ingest(
        writer,
        InboundMessage(
            channel=channel,
            account_id=account,
            external_id=uuid.uuid4().hex,
            sender=InboundSender(channel, sender_id, name),
            text=text,
            sent_at=at,
            **extra,  # type: ignore[arg-type]
        ),
    )
    return result.thread_id


def htmx_headers(page: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRFToken": csrf_from(page)}


async def test_timeline_shows_every_channel_with_its_details(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client, writer = agent_client, app.state.writer
    telegram = await _account(writer, "telegram")
    email = await _account(writer, "email")
    start = datetime.now(UTC) - timedelta(hours=3)
    thread_id = await ingest(writer, telegram, "telegram", "tg-1", "Hi from Telegram", at=start)
    # The same customer (same verified email later) writes by email: linking by a verified claim
    # is the resolution's job; here the email identity is attached to the same contact directly.
    api = await Api.login(client, app, email="admin@example.com")
    thread = await api.get(f"/api/v1/threads/{thread_id}")
    contact_id = thread["thread"]["contact"]["id"]
    await api.patch(f"/api/v1/contacts/{contact_id}", {"email": "anna@example.nl"})
    await ingest(
        writer,
        email,
        "email",
        "anna@example.nl",
        "Here is the photo.\n\nOn Mon, 30 Nov 2026 at 09:12, Shop <help@shop.example> wrote:\n> Can you send a photo?\n",
        at=start + timedelta(hours=1),
        subject="Re: Broken <b>lamp</b>",
        attachments=(
            InboundAttachment("lamp.jpg", "image/jpeg", 48_213, url="https://files.example/lamp.jpg"),
            InboundAttachment("evil.html", "text/html", 10, url="javascript:alert(1)"),
        ),
    )
    page = await client.get(f"/threads/{thread_id}")
    assert page.status_code == 200
    html = page.text
    assert "Hi from Telegram" in html and "Here is the photo." in html
    assert 'class="badge badge--telegram">Telegram' in html and 'class="badge badge--email">Email' in html
    assert "Customer continued on Email" in html
    assert "Re: Broken &lt;b&gt;lamp&lt;/b&gt;" in html
    # Quoted history folds away; the customer's own words stay in view.
    quoted = re.search(
        r'<details class="quoted"><summary>Quoted text</summary><div class="msg-text">(.*?)</div>', html, re.S
    )
    assert (
        quoted
        and "On Mon, 30 Nov 2026" in quoted.group(1)
        and "&gt; Can you send a photo?" in quoted.group(1)
    )
    assert '<a href="https://files.example/lamp.jpg"' in html and "47 KB" in html and "image/jpeg" in html
    assert "evil.html" in html and "javascript:" not in html  # named, never a link
    assert "Anna de Vries" in html and ">Customer<" in html and "received" in html


async def test_email_html_is_sanitized_and_remote_images_wait_for_the_agent(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client, writer = agent_client, app.state.writer
    email = await _account(writer, "email")
    thread_id = await ingest(
        writer,
        email,
        "email",
        "bo@example.com",
        "Plain part",
        name="Bo",
        html=(
            "<p>Dear shop,</p><script>document.title='pwned'</script>"
            '<img src="https://cdn.example/parcel.jpg" alt="the parcel" onerror="alert(1)">'
            '<a href="javascript:alert(1)">click</a>'
        ),
    )
    page = await client.get(f"/threads/{thread_id}")
    assert "<p>Dear shop,</p>" in page.text
    assert "document.title" not in page.text and "onerror" not in page.text and "javascript:" not in page.text
    assert "cdn.example" not in page.text
    assert "1 remote image blocked." in page.text and "Show images" in page.text
    assert "img-src 'self' data: https:" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]

    message_id = re.search(r'id="m-(\d+)"', page.text)
    assert message_id
    shown = await client.get(
        f"/threads/{thread_id}/messages/{message_id.group(1)}?images=true", headers={"HX-Request": "true"}
    )
    assert shown.status_code == 200
    assert 'src="https://cdn.example/parcel.jpg"' in shown.text and "Show images" not in shown.text
    assert "onerror" not in shown.text
    # Without JavaScript the link reloads the page with that message's images.
    plain = await client.get(f"/threads/{thread_id}?images={message_id.group(1)}")
    assert 'src="https://cdn.example/parcel.jpg"' in plain.text
    other_thread = await client.get(f"/threads/{thread_id + 1}/messages/{message_id.group(1)}")
    assert other_thread.status_code == 404


async def test_channel_picker_says_why_a_channel_cannot_deliver(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel()  # no callback URL
    telegram = await _account(app.state.writer, "telegram")
    await ingest(app.state.writer, telegram, "telegram", "tg-cleo", "on telegram", name="Cleo")
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    contact_id = (await api.get(f"/api/v1/threads/{thread_id}"))["thread"]["contact"]["id"]
    await api.inbound(channel, "and on the shop's API", contact_id="cleo")
    merged = await api.post(f"/api/v1/contacts/{contact_id}/merge", {"other_id": contact_id + 1})
    assert merged.status_code in (200, 201), merged.text
    page = (await client.get(f"/threads/{thread_id}")).text
    options = dict(re.findall(r'<option value="(api|telegram)"[^>]*?(disabled)?>', page))
    assert options == {"api": "disabled", "telegram": "disabled"}
    reasons = page[page.index('id="channel-reasons"') :]
    assert "this API channel has no callback URL, so replies cannot be delivered" in reasons
    assert "this Telegram channel has no bot token, so replies cannot be delivered" in reasons


async def test_channel_picker_defaults_to_the_last_inbound_channel_that_can_deliver(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel(callback_url="http://127.0.0.1:9/callback")
    await api.inbound(channel, "hello", contact_id="dirk", name="Dirk")
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    page = (await client.get(f"/threads/{thread_id}")).text
    assert re.search(r'<option value="api" selected\s*>API</option>', page), page[
        page.index("composer-channel") :
    ][:400]
    assert "cannot deliver now" not in page


async def test_phone_note_form_logs_the_call_and_explains_mistakes(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel()
    await api.inbound(channel, "please call me", contact_id="e-1", name="Eva", phone="+31 6 12345678")
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    page = (await client.get(f"/threads/{thread_id}")).text
    assert 'name="phone" type="tel" required maxlength="40" value="+31612345678"' in page  # prefilled
    headers = htmx_headers(page)

    bad = await client.post(
        f"/threads/{thread_id}/phone-notes",
        data={"phone": "not a number", "direction": "outbound", "minutes": "3", "text": "Called <back>"},
        headers=headers,
    )
    assert bad.status_code == 422 and bad.headers["hx-retarget"] == "#phone-note"
    assert (
        'role="alert"' in bad.text
        and "Called &lt;back&gt;" in bad.text
        and 'value="not a number"' in bad.text
    )
    bad_duration = await client.post(
        f"/threads/{thread_id}/phone-notes",
        data={"phone": "+31612345678", "direction": "outbound", "minutes": "1", "seconds": "75"},
        headers=headers,
    )
    assert bad_duration.status_code == 422 and "seconds below 60" in bad_duration.text
    for minutes in ("1_0", "\u0663", "+3", "-1", " 1 2"):  # int() reads the first three; no agent means them
        odd = await client.post(
            f"/threads/{thread_id}/phone-notes",
            data={"phone": "+31612345678", "direction": "outbound", "minutes": minutes, "text": "odd"},
            headers=headers,
        )
        assert odd.status_code == 422, minutes
        assert "Minutes and seconds are whole numbers" in odd.text and 'role="alert"' in odd.text

    logged = await client.post(
        f"/threads/{thread_id}/phone-notes",
        data={
            "phone": "+31612345678",
            "direction": "outbound",
            "minutes": "4",
            "seconds": "5",
            "text": "Called <back>",
        },
        headers=headers,
    )
    assert logged.status_code == 201, logged.text
    assert "Phone call, outgoing · +31612345678 · 4 min 05 s" in logged.text
    assert "Called &lt;back&gt;" in logged.text
    assert re.search(r'id="phone-note"\s+hx-swap-oob="true">', logged.text)  # a fresh, closed form

    plain = await client.post(
        f"/threads/{thread_id}/phone-notes",
        data={
            "phone": "+31612345678",
            "direction": "inbound",
            "text": "She called us",
            "_csrf_token": csrf_from(page),
        },
    )
    assert plain.status_code == 303 and plain.headers["location"].startswith(f"/threads/{thread_id}#m-")
    phone_notes = [m for m in await api.timeline(thread_id) if m["kind"] == "phone"]
    assert [(m["text"], m["meta"]["duration_seconds"]) for m in phone_notes] == [
        ("Called <back>", 245),
        ("She called us", None),
    ]


async def test_a_phone_note_that_merges_goes_to_the_surviving_thread_without_javascript(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel()
    await api.inbound(channel, "I called before", contact_id="g-1", name="Gijs")
    await api.inbound(channel, "me again, other account", contact_id="g-2", name="Gijs B")
    threads = {t["contact"]["name"]: t["id"] for t in (await api.get("/api/v1/threads/"))["items"]}
    first, second = threads["Gijs"], threads["Gijs B"]
    page = (await client.get(f"/threads/{first}")).text
    token = csrf_from(page)
    call = {"phone": "+31611112222", "direction": "inbound", "text": "called", "_csrf_token": token}
    # The call on the first thread gives that customer a verified number ...
    assert (await client.post(f"/threads/{first}/phone-notes", data=call)).status_code == 303
    # ... so the same number on the second thread is the same customer: the two are merged.
    merged = await client.post(f"/threads/{second}/phone-notes", data={**call, "text": "again"})
    assert merged.status_code == 303
    location = merged.headers["location"]
    survivor = int(location.split("/threads/")[1].split("#")[0])
    note = next(m for m in await api.timeline(survivor) if m["kind"] == "phone" and m["text"] == "again")
    assert location == f"/threads/{survivor}#m-{note['id']}"  # where the call is, not a thread that went
    assert survivor != second


async def test_status_buttons_snooze_in_the_agents_zone_and_assignment(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client, writer = agent_client, app.state.writer
    async with writer.sessionmaker() as session:
        await session.execute(
            update(Agent).where(col(Agent.email) == "ada@example.com").values(timezone="Europe/Amsterdam")
        )
        await session.commit()
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel()
    await api.inbound(channel, "help", contact_id="f-1", name="Finn")
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    page = (await client.get(f"/threads/{thread_id}")).text
    headers = htmx_headers(page)
    assert 'id="resolve-button"' in page and 'aria-keyshortcuts="e"' in page

    resolved = await client.post(f"/threads/{thread_id}/status", data={"status": "resolved"}, headers=headers)
    assert resolved.status_code == 200, resolved.text
    assert "Ada Agent set the status to Resolved" in resolved.text
    assert 'id="thread-head" hx-swap-oob="true"' in resolved.text
    assert re.search(r'id="thread-status">Resolved<', resolved.text)

    past = await client.post(
        f"/threads/{thread_id}/status",
        data={"status": "snoozed", "snoozed_until": "2001-01-01T09:00"},
        headers=headers,
    )
    assert past.status_code == 422 and past.headers["hx-retarget"] == "#thread-head"
    assert "Pick a time in the future to snooze until." in past.text
    far = (datetime.now(UTC) + timedelta(days=5 * 366)).strftime("%Y-%m-%dT%H:%M")
    for until in ("9999-12-31T23:59", far):
        too_far = await client.post(
            f"/threads/{thread_id}/status",
            data={"status": "snoozed", "snoozed_until": until},
            headers=headers,
        )
        assert too_far.status_code == 422 and "Snooze at most 5 years ahead." in too_far.text, until
    missing = await client.post(f"/threads/{thread_id}/status", data={"status": "snoozed"}, headers=headers)
    assert missing.status_code == 422 and "Pick the date and time to snooze until." in missing.text

    local = (datetime.now(ZoneInfo("Europe/Amsterdam")) + timedelta(days=2)).replace(
        hour=9, minute=30, second=0, microsecond=0, tzinfo=None
    )
    snoozed = await client.post(
        f"/threads/{thread_id}/status",
        data={"status": "snoozed", "snoozed_until": local.isoformat(timespec="minutes")},
        headers=headers,
    )
    assert snoozed.status_code == 200, snoozed.text
    assert "snoozed the conversation until" in snoozed.text and "9:30\u202fAM" in unescape(snoozed.text)
    detail = await api.get(f"/api/v1/threads/{thread_id}")
    until = datetime.fromisoformat(detail["thread"]["snoozed_until"])
    assert until == local.replace(tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert detail["thread"]["status"] == "snoozed"

    mine = await client.post(f"/threads/{thread_id}/assign", data={"assignee": "me"}, headers=headers)
    assert (
        "Ada Agent assigned the conversation to Ada Agent" in mine.text
        and "Assigned to Ada Agent" in mine.text
    )
    other = await client.post(
        f"/threads/{thread_id}/assign", data={"assignee": str(api.agent_id)}, headers=headers
    )
    assert "assigned the conversation to Ada Admin" in other.text
    nobody = await client.post(f"/threads/{thread_id}/assign", data={"assignee": "none"}, headers=headers)
    assert "Ada Agent unassigned the conversation" in nobody.text
    unknown = await client.post(f"/threads/{thread_id}/assign", data={"assignee": "99999"}, headers=headers)
    assert unknown.status_code == 422 and "agent 99999 does not exist" in unknown.text
    junk = await client.post(
        f"/threads/{thread_id}/assign", data={"assignee": "99999999999999"}, headers=headers
    )
    assert junk.status_code == 422 and "Pick an agent from the list." in junk.text

    # Without JavaScript: the same buttons post and come back to the thread.
    plain = await client.post(
        f"/threads/{thread_id}/status", data={"status": "open", "_csrf_token": csrf_from(page)}
    )
    assert plain.status_code == 303 and plain.headers["location"] == f"/threads/{thread_id}"
    assert (await api.get(f"/api/v1/threads/{thread_id}"))["thread"]["status"] == "open"


async def test_system_lines_are_said_from_their_parameters(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel()
    await api.inbound(channel, "hallo", contact_id="g-1", name="Gijs")
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    await api.patch(f"/api/v1/threads/{thread_id}", {"status": "resolved"})
    await api.inbound(channel, "nog een vraag", contact_id="g-1")
    english = (await client.get(f"/threads/{thread_id}")).text
    assert "Ada Admin set the status to Resolved" in english
    assert "Conversation reopened: the customer wrote on API" in english


async def test_older_history_comes_as_a_partial_for_htmx(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel()
    await api.inbound(channel, "message 0", contact_id="h-1", name="Hugo")
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    for i in range(1, 56):
        await api.post(f"/api/v1/threads/{thread_id}/notes", {"text": f"note {i}"}, expect=201)
    page = (await client.get(f"/threads/{thread_id}")).text
    sentinel = re.search(r'hx-get="(/threads/\d+\?before=\d+)"\s+hx-trigger="intersect once"', page)
    assert sentinel, "no sentinel for older history"
    older = await client.get(unescape(sentinel.group(1)), headers={"HX-Request": "true"})
    assert older.status_code == 200
    assert "<html" not in older.text and "message 0" in older.text and "note 5<" in older.text
    assert "note 6<" not in older.text and "hx-trigger" not in older.text  # the beginning: no sentinel left


async def test_canned_responses_are_in_the_page_as_data(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client = agent_client
    api = await Api.login(client, app, email="admin@example.com")
    admin = Agent(id=api.agent_id, email="admin@example.com", name="Ada Admin", password_hash="")
    await do_create_canned_response(
        app.state.writer,
        agent=admin,
        shortcut="thanks",
        title="Thanks",
        text="Thanks! </script><script>alert(1)",
    )
    channel = await api.add_api_channel()
    await api.inbound(channel, "hi", contact_id="i-1", name="Iris")
    thread_id = (await api.get("/api/v1/threads/"))["items"][0]["id"]
    page = (await client.get(f"/threads/{thread_id}")).text
    data = re.search(r'<script type="application/json" id="canned-responses">(.*?)</script>', page, re.S)
    assert data and '"shortcut": "thanks"' in data.group(1)
    assert "<script>alert(1)" not in page and "\\u003c/script\\u003e" in data.group(1)


async def test_thread_pages_need_a_session_and_posts_need_the_csrf_token(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    for path in ("/threads/1", "/threads/1?before=5", "/threads/1/messages/1"):
        response = await client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith(
            "/login?next=/threads/1"
        )
    await do_create_agent(app.state.writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
    assert (await login(client)).status_code == 303
    for path, body in (
        ("/threads/1/status", {"status": "resolved"}),
        ("/threads/1/assign", {"assignee": "me"}),
        ("/threads/1/phone-notes", {"phone": "+31612345678", "direction": "inbound"}),
        ("/threads/1/compose", {"mode": "note", "text": "x"}),
    ):
        refused = await client.post(path, data=body, headers={"HX-Request": "true"})
        assert refused.status_code == 403, (path, refused.text)


async def test_picker_offers_a_channel_that_can_deliver_when_the_last_one_cannot(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client, writer = agent_client, app.state.writer
    api = await Api.login(client, app, email="admin@example.com")
    channel = await api.add_api_channel(callback_url="http://127.0.0.1:9/callback")
    await api.inbound(channel, "order question", contact_id="j-1", name="Jan", email="jan@example.com")
    telegram = await _account(writer, "telegram")
    await do_ingest(
        writer,
        InboundMessage(
            channel="telegram",
            account_id=telegram,
            external_id="tg-update-1",
            sender=InboundSender(
                "telegram", "tg-jan", "Jan", (ContactClaim("email", "jan@example.com", True),)
            ),
            text="also on Telegram",
        ),
    )
    threads = (await api.get("/api/v1/threads/"))["items"]
    assert len(threads) == 1 and threads[0]["last_inbound_channel"] == "telegram"
    page = (await client.get(f"/threads/{threads[0]['id']}")).text
    assert "Customer continued on Telegram" in page
    assert re.search(r'<option value="api" selected\s*>API</option>', page)
    assert re.search(r'<option value="telegram"\s+disabled>Telegram — cannot deliver now</option>', page)
    assert "Telegram cannot deliver now, so this reply goes by API." in page
    # The default is what the send uses: a reply without a channel choice would go to Telegram
    # and be refused, so the form sends the picker's channel.
    reply = await client.post(
        f"/threads/{threads[0]['id']}/compose",
        data={"mode": "reply", "text": "Answering here", "channel": "api"},
        headers=htmx_headers(page),
    )
    assert reply.status_code == 202 and "Answering here" in reply.text


class WindowedMessenger(RecordingAdapter):
    """Messenger's rule as its adapter will state it: people may answer within 24 hours only."""

    def unavailable_reason(self, account: AccountConfig, context: DeliveryContext) -> str | None:
        if context.last_inbound_at is None or context.now - context.last_inbound_at > timedelta(hours=24):
            return "Messenger's 24-hour window has closed; the customer has to write first"
        return None


async def test_a_closed_messenger_window_offers_email(settings: Settings) -> None:
    messenger, email = WindowedMessenger("messenger"), RecordingAdapter("email")
    app = create_app(settings, registry=AdapterRegistry([messenger, email]))
    async with running(app), http_client(app) as client:
        writer = app.state.writer
        await do_create_agent(writer, email="ada@example.com", name="Ada Agent", password=PASSWORD)
        assert (await login(client)).status_code == 303
        claim = (ContactClaim("email", "kim@example.com", True),)
        accounts = {channel: await _account(writer, channel) for channel in ("email", "messenger")}
        for channel, sender_id, hours_ago in (
            ("email", "kim@example.com", 30),
            ("messenger", "page:kim", 26),
        ):
            thread_id = (
                await do_ingest(
                    writer,
                    InboundMessage(
                        channel=channel,
                        account_id=accounts[channel],
                        external_id=f"{channel}-1",
                        sender=InboundSender(channel, sender_id, "Kim", claim),
                        text=f"written on {channel}",
                        sent_at=datetime.now(UTC) - timedelta(hours=hours_ago),
                    ),
                )
            ).thread_id
        page = await client.get(f"/threads/{thread_id}")
        assert re.search(
            r'<option value="messenger"\s+disabled>Messenger — cannot deliver now</option>', page.text
        )
        assert re.search(r'<option value="email" selected\s*>Email</option>', page.text)
        assert "Messenger&#39;s 24-hour window has closed; the customer has to write first" in page.text
        assert "Messenger cannot deliver now, so this reply goes by Email." in page.text

        # The send action applies the same rule: Messenger is refused with that reason, email works.
        headers = htmx_headers(page.text)
        refused = await client.post(
            f"/threads/{thread_id}/compose",
            data={"mode": "reply", "text": "Hello Kim", "channel": "messenger"},
            headers=headers,
        )
        assert refused.status_code == 409 and "24-hour window has closed" in refused.text
        sent = await client.post(
            f"/threads/{thread_id}/compose",
            data={"mode": "reply", "text": "Hello Kim", "channel": "email"},
            headers=headers,
        )
        assert sent.status_code == 202, sent.text


async def test_a_snooze_preset_snoozes_until_that_time_in_the_agents_zone(
    agent_client: httpx.AsyncClient, app: Litestar
) -> None:
    client, writer = agent_client, app.state.writer
    thread_id = await ingest(
        writer, await _account(writer, "telegram"), "telegram", "tg-9", "Ping me tomorrow"
    )
    page = await client.get(f"/threads/{thread_id}")
    presets = dict(
        (unescape(label), value)
        for value, label in re.findall(
            r'name="snoozed_until" value="([^"]+)">\s*<button type="submit" class="secondary">([^<]+)</button>',
            page.text,
        )
    )
    assert set(presets) == {"In 3 hours", "Tomorrow 9:00", "Monday 9:00"}
    answer = await client.post(
        f"/threads/{thread_id}/status",
        data={
            "status": "snoozed",
            "snoozed_until": presets["Tomorrow 9:00"],
            "_csrf_token": csrf_from(page.text),
        },
    )
    assert answer.status_code == 303
    thread = (await client.get(f"/api/v1/threads/{thread_id}")).json()["thread"]
    assert thread["status"] == "snoozed"
    assert thread["snoozed_until"].startswith(presets["Tomorrow 9:00"][:10])  # Ada's zone is UTC
