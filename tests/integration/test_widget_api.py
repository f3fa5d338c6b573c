"""The widget's HTTP API as the iframe uses it (API.md "Widget"), on both shapes.

- A visitor's token continues their conversation; a retried send (same ``client_id``) is one message.
- The visitor sees our answers (with the agent's name), never internal notes, never another
  visitor's messages; forged or expired tokens, wrong hashes and foreign origins are refused.
- A visitor the site vouches for (``user_hash``) is that customer: their anonymous chat joins their
  thread and they see what they wrote on other channels; an anonymous visitor never does.
- Files, read marks, the email a visitor leaves, rate limits and oversized input.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlmodel import col

from app.db.models import Identity, Message
from app.demo import load_demo
from app.domain.channels.accounts import do_add_channel_account
from app.domain.channels.deep_links import read_contact_token
from app.domain.inbox.actions import do_ingest
from app.domain.widget.tokens import VisitorToken, sign_visitor_token
from integrations.types import InboundMessage, InboundSender
from tests.conftest import SECRET
from tests.helpers import Api
from tests.integration.widget_client import SITE_ORIGIN, Visitor, WidgetSite, add_site

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def site(api: Api) -> WidgetSite:
    return await add_site(api.writer)


def visitor(client: httpx.AsyncClient, site: WidgetSite) -> Visitor:
    return Visitor(client, site)


async def thread_of(api: Api, visitor: Visitor) -> int:
    session = visitor.session
    assert session is not None
    await visitor.open()  # the session names the thread once the visitor has written
    assert visitor.session and visitor.session["thread_id"]
    return int(visitor.session["thread_id"])


async def test_a_visitor_chats_and_a_reload_continues_the_same_conversation(
    api: Api, client: httpx.AsyncClient, site: WidgetSite
) -> None:
    anna = visitor(client, site)
    first = (await anna.open()).json()
    assert first["contact_id"] is None and first["thread_id"] is None  # a page view makes no customer
    assert first["verified"] is False

    sent = (await anna.send("Where is my order?", client_id="c-0001-retry")).json()
    assert sent["direction"] == "in" and sent["author"]["type"] == "customer"
    assert sent["client_id"] == "c-0001-retry" and sent["channel"] == "webchat"
    # The widget lost the answer and sends again: the same message, not a second one.
    again = await anna.send("Where is my order?", client_id="c-0001-retry", expect=200)
    assert again.json()["id"] == sent["id"]

    thread_id = await thread_of(api, anna)
    timeline = await api.timeline(thread_id)
    assert [m["text"] for m in timeline if m["direction"] == "in"] == ["Where is my order?"]

    await api.post(f"/api/v1/threads/{thread_id}/notes", {"text": "check the warehouse"}, expect=201)
    reply = await api.post(f"/api/v1/threads/{thread_id}/messages", {"text": "It ships today."}, expect=202)
    assert reply.json()["channel"] == "webchat"

    # A reload: the stored token opens the same conversation, with the answer and not the note.
    reloaded = Visitor(client, site, token=anna.token)
    session = (await reloaded.open()).json()
    assert session["thread_id"] == thread_id
    shown = await reloaded.messages()
    assert [(m["direction"], m["text"]) for m in shown] == [
        ("in", "Where is my order?"),
        ("out", "It ships today."),
    ]
    assert shown[1]["author"] == {"type": "agent", "name": "Ada Admin"}

    # Polling asks for what came after the last message it has.
    assert await reloaded.messages(after=shown[-1]["id"]) == []
    await reloaded.send("Thanks!")
    assert [m["text"] for m in await reloaded.messages(after=shown[-1]["id"])] == ["Thanks!"]


async def test_one_visitor_never_sees_another_visitors_conversation(
    api: Api, client: httpx.AsyncClient, site: WidgetSite
) -> None:
    anna, bob = visitor(client, site), visitor(client, site)
    await anna.open()
    await bob.open()
    anna_message = (await anna.send("Anna's private question")).json()
    await bob.send("Bob here")
    assert await bob.texts() == ["Bob here"]
    # Cursors are message ids; naming Anna's message gives Bob nothing of hers.
    assert [m["text"] for m in await bob.messages(after=anna_message["id"] - 1)] == ["Bob here"]
    assert await bob.messages(before=anna_message["id"]) == []
    assert anna.session and bob.session and anna.session["visitor_token"] != bob.session["visitor_token"]


async def test_forged_expired_and_foreign_tokens_are_refused(
    api: Api, client: httpx.AsyncClient, site: WidgetSite
) -> None:
    anna = visitor(client, site)
    await anna.open()
    await anna.send("hello")
    body, _, mac = anna.token.partition(".")
    forged = Visitor(client, site, token=body + "." + mac[:-2] + ("AA" if not mac.endswith("AA") else "BB"))
    response = await client.get("/widget/v1/messages", headers=forged.headers)
    assert response.status_code == 401
    assert response.json()["type"].endswith("/bad-visitor-token")
    assert (await client.get("/widget/v1/messages")).status_code == 401

    expired = sign_visitor_token(
        SECRET, VisitorToken(site.id, "v:expired", datetime.now(UTC) - timedelta(seconds=1))
    )
    stale = Visitor(client, site, token=expired)
    assert (await client.get("/widget/v1/messages", headers=stale.headers)).status_code == 401
    # The session call refuses it too, with the reason; the widget then starts afresh.
    refused = await stale.open(expect=401)
    assert "start again" in refused.json()["detail"]

    other_site = await add_site(api.writer, origins=("https://other.example",))
    foreign = Visitor(client, other_site, token=anna.token)
    assert (await foreign.open(expect=401, origin="https://other.example")).status_code == 401


async def test_sessions_only_open_from_the_sites_origins(
    api: Api, client: httpx.AsyncClient, site: WidgetSite
) -> None:
    refused = await visitor(client, site).open(expect=403, origin="https://evil.example")
    problem = refused.json()
    assert problem["type"].endswith("/origin-not-allowed") and "evil.example" in problem["detail"]
    await visitor(client, site).open(origin=SITE_ORIGIN)
    await visitor(client, site).open(origin="http://testserver.local")  # our own iframe
    await visitor(client, site).open(origin=None)  # not a browser page
    unknown = await client.post("/widget/v1/sessions", json={"site": str(uuid.uuid4())})
    assert unknown.status_code == 404 and unknown.json()["type"].endswith("/site-not-found")
    api_channel = await api.add_api_channel()
    assert (await client.post("/widget/v1/sessions", json={"site": api_channel.id})).status_code == 404


async def test_a_signed_in_customer_sees_their_whole_thread_and_keeps_their_anonymous_chat(
    api: Api, client: httpx.AsyncClient, site: WidgetSite, app: Litestar
) -> None:
    # Months ago, on Telegram; the agent later merged that contact with the shop's customer 42.
    telegram = await do_add_channel_account(
        api.writer, channel="telegram", name="Shop bot", secrets={"bot_token": "1:x"}
    )
    old = await do_ingest(
        api.writer,
        InboundMessage(
            channel="telegram",
            account_id=telegram.account.id,
            external_id="tg-1",
            sender=InboundSender("telegram", "555", name="Anna de Vries"),
            text="My parcel is late (telegram)",
        ),
    )
    known = visitor(client, site)
    await known.identify("42", name="Anna de Vries")
    await known.send("Signed in now")
    await api.post(
        f"/api/v1/contacts/{old.contact_id}/merge",
        {"other_id": (await known.open()).json()["contact_id"]},
        expect=201,
    )

    # On another device, first anonymous: she asks something, then signs in.
    phone = visitor(client, site)
    await phone.open()
    await phone.send("Asked before signing in")
    assert await phone.texts() == ["Asked before signing in"]  # anonymous: nothing else
    wrong = await phone.open(expect=403, user_id="42", user_hash=site.hash("43"))
    assert wrong.json()["type"].endswith("/bad-user-hash")
    session = (await phone.identify("42")).json()
    assert session["verified"] is True and session["contact_id"] == old.contact_id

    shown = await phone.messages()
    assert [(m["channel"], m["text"]) for m in shown] == [
        ("telegram", "My parcel is late (telegram)"),
        ("webchat", "Signed in now"),
        ("webchat", "Asked before signing in"),
    ]
    async with app.state.writer.sessionmaker() as session_:
        verified = (
            await session_.execute(
                select(Identity).where(
                    col(Identity.channel) == "webchat", col(Identity.external_id).like("%:u:42")
                )
            )
        ).scalar_one()
    assert verified.verified and verified.contact_id == old.contact_id


async def test_an_anonymous_visitor_merged_by_an_agent_still_sees_only_their_own_chat(
    api: Api, client: httpx.AsyncClient, site: WidgetSite
) -> None:
    sms = await api.add_api_channel()
    other = await api.inbound(sms, "private order details", contact_id="x", email="anna@example.com")
    stranger = visitor(client, site)
    await stranger.open()
    await stranger.send("hi, I am Anna")
    contact_id = (await stranger.open()).json()["contact_id"]
    await api.post(f"/api/v1/contacts/{other['contact_id']}/merge", {"other_id": contact_id}, expect=201)
    assert await stranger.texts() == ["hi, I am Anna"]


async def test_bad_input_is_refused_with_a_reason_and_nothing_is_stored(
    api: Api, client: httpx.AsyncClient, site: WidgetSite, app: Litestar
) -> None:
    anna = visitor(client, site)
    await anna.open(name="<script>alert(1)</script>")
    huge = await anna.send("x" * 1_100_000, expect=413)
    assert huge.json()["status"] == 413
    long = await anna.send("x" * 70_000, expect=422)
    assert "at most" in long.json()["detail"]
    empty = await anna.send("   ", expect=422)
    assert "needs text" in empty.json()["detail"]
    bad_id = await anna.send("hello", client_id="../../etc", expect=422)
    assert "client_id" in bad_id.json()["detail"]
    bad_name = await visitor(client, site).open(expect=422, name="x" * 300)
    assert "name" in bad_name.json()["detail"]
    bad_email = await visitor(client, site).open(expect=422, email="not-an-address")
    assert "email" in bad_email.json()["detail"]
    async with app.state.writer.sessionmaker() as session:
        assert (await session.execute(select(Message))).first() is None

    # Markup is kept as the text it is (the widget and console show it as text, never as HTML).
    sent = (await anna.send("<img src=x onerror=alert(1)>")).json()
    assert sent["text"] == "<img src=x onerror=alert(1)>"


async def test_fifty_sends_a_second_are_limited_and_every_accepted_one_is_stored(
    api: Api, client: httpx.AsyncClient, site: WidgetSite
) -> None:
    flood = visitor(client, site)
    await flood.open()
    responses = await asyncio.gather(*(flood.send(f"spam {i}", expect=None) for i in range(50)))
    accepted = [r for r in responses if r.status_code == 201]
    limited = [r for r in responses if r.status_code == 429]
    assert len(accepted) == 10 and len(limited) == 40
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert "wait" in limited[0].json()["detail"]
    assert sorted(m["text"] for m in await flood.messages()) == sorted(r.json()["text"] for r in accepted)


async def test_pictures_and_pdfs_go_both_ways_and_links_are_signed(
    api: Api, client: httpx.AsyncClient, site: WidgetSite
) -> None:
    anna = visitor(client, site)
    await anna.open()
    response = await client.post(
        "/widget/v1/messages",
        data={"text": "see the damage", "client_id": "upload-0001"},
        files={"file": ("damage.png", PNG, "image/png")},
        headers=anna.headers,
    )
    assert response.status_code == 201, response.text
    [picture] = response.json()["attachments"]
    assert picture["status"] == "stored" and picture["content_type"] == "image/png"
    download = await client.get(picture["url"])
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["x-content-type-options"] == "nosniff"
    tampered = picture["url"].replace("sig=", "sig=x")
    assert (await client.get(tampered)).status_code == 403

    refused = await client.post(
        "/widget/v1/messages",
        data={"text": "", "client_id": "upload-0002"},
        files={"file": ("tool.exe", b"MZ\x90\x00" * 10, "application/octet-stream")},
        headers=anna.headers,
    )
    assert refused.status_code == 422 and "pictures and PDF" in refused.json()["detail"]

    thread_id = await thread_of(api, anna)
    agent_file = await client.post(
        f"/api/v1/threads/{thread_id}/messages",
        data={"text": "Here is the label"},
        files={"files": ("label.pdf", b"%PDF-1.4 label", "application/pdf")},
        headers=api.headers,
    )
    assert agent_file.status_code == 202, agent_file.text
    shown = (await anna.messages())[-1]
    assert shown["text"] == "Here is the label" and shown["attachments"][0]["filename"] == "label.pdf"
    pdf = await client.get(shown["attachments"][0]["url"])
    assert pdf.content == b"%PDF-1.4 label" and pdf.headers["content-disposition"].startswith("attachment")


async def test_the_agent_sees_when_the_visitor_read_the_answer(
    api: Api, client: httpx.AsyncClient, site: WidgetSite
) -> None:
    anna = visitor(client, site)
    await anna.open()
    await anna.send("question")
    thread_id = await thread_of(api, anna)
    reply = (await api.post(f"/api/v1/threads/{thread_id}/messages", {"text": "answer"}, expect=202)).json()
    for _ in range(100):  # the delivery job marks it sent
        current = next(m for m in await api.timeline(thread_id) if m["id"] == reply["id"])
        if current["delivery_status"] == "sent":
            break
        await asyncio.sleep(0.05)
    assert current["delivery_status"] == "sent"
    response = await client.post("/widget/v1/read", json={"message_id": reply["id"]}, headers=anna.headers)
    assert response.status_code == 204
    current = next(m for m in await api.timeline(thread_id) if m["id"] == reply["id"])
    assert current["delivery_status"] == "read"
    assert (await anna.messages())[-1]["status"] == "read"


async def test_a_visitor_who_leaves_an_email_can_be_answered_there(
    api: Api, client: httpx.AsyncClient, site: WidgetSite
) -> None:
    anna = visitor(client, site)
    await anna.open()
    early = await client.post("/widget/v1/email", json={"email": "anna@example.com"}, headers=anna.headers)
    assert early.status_code == 409
    await anna.send("Are you there?")
    bad = await client.post("/widget/v1/email", json={"email": "nope"}, headers=anna.headers)
    assert bad.status_code == 422
    left = await client.post("/widget/v1/email", json={"email": " Anna@Example.com "}, headers=anna.headers)
    assert left.status_code == 200 and left.json() == {"email": "anna@example.com"}
    contact = await api.get(f"/api/v1/contacts/{(await anna.open()).json()['contact_id']}")
    assert contact["email"] == "anna@example.com"
    email_identity = [i for i in contact["identities"] if i["channel"] == "email"]
    assert email_identity and email_identity[0]["verified"] is False


async def test_continue_on_telegram_links_the_visitors_conversation(
    api: Api, client: httpx.AsyncClient, site: WidgetSite
) -> None:
    await do_add_channel_account(
        api.writer,
        channel="telegram",
        name="Shop bot",
        config={"username": "shop_bot"},
        secrets={"bot_token": "1:x"},
    )
    anna = visitor(client, site)
    assert (await anna.open()).json()["telegram_url"] is None  # no conversation to continue yet
    await anna.send("hi")
    session = (await anna.open()).json()
    url = session["telegram_url"]
    assert url.startswith("https://t.me/shop_bot?start=")
    assert read_contact_token(SECRET, url.rpartition("=")[2]) == session["contact_id"]


async def test_the_demo_shop_signs_anna_in_and_her_widget_shows_her_whole_thread(
    api: Api, client: httpx.AsyncClient, app: Litestar
) -> None:
    assert (await client.get("/demo/shop")).status_code == 404  # only where `onethread demo` ran
    await load_demo(app.state.writer, app.state.settings)
    page = (await client.get("/demo/shop?as=anna")).text
    found = dict(re.findall(r'data-(user-id|user-hash|name)="([^"]*)"', page))
    site = re.search(r'data-site="([^"]+)"', page)
    assert site and found["name"] == "Anna de Vries"
    anna = Visitor(client, WidgetSite(site.group(1), ""))
    session = (
        await anna.open(
            origin="http://testserver.local", user_id=found["user-id"], user_hash=found["user-hash"]
        )
    ).json()
    assert session["verified"] is True
    channels = {m["channel"] for m in await anna.messages()}
    assert {"webchat", "telegram"} <= channels  # what she wrote on Telegram is in her widget
    anonymous = (await client.get("/demo/shop")).text
    assert "data-user-hash" not in anonymous


async def test_signing_in_never_hands_over_history_an_agent_merged_into_an_anonymous_chat(
    api: Api, client: httpx.AsyncClient, site: WidgetSite
) -> None:
    sms = await api.add_api_channel()
    bob = await api.inbound(sms, "Bob's private order details", contact_id="bob", email="bob@example.com")
    mallory = visitor(client, site)
    await mallory.open()
    await mallory.send("Hi, I'm Bob")
    await client.post("/widget/v1/email", json={"email": "bob@example.com"}, headers=mallory.headers)
    anonymous_contact = (await mallory.open()).json()["contact_id"]
    # An agent believes it and merges the chat into Bob's contact.
    await api.post(f"/api/v1/contacts/{bob['contact_id']}/merge", {"other_id": anonymous_contact}, expect=201)
    assert await mallory.texts() == ["Hi, I'm Bob"]

    # Mallory signs in on the site with her own account: she becomes herself, not Bob.
    session = (await mallory.identify("mallory-7")).json()
    assert session["verified"] is True and session["contact_id"] != bob["contact_id"]
    assert "Bob's private order details" not in await mallory.texts()
    bob_now = await api.get(f"/api/v1/contacts/{bob['contact_id']}")
    assert not [i for i in bob_now["identities"] if i["external_id"].endswith(":u:mallory-7")]


async def test_an_anonymous_chat_with_only_its_own_email_joins_the_signed_in_customer(
    api: Api, client: httpx.AsyncClient, site: WidgetSite
) -> None:
    anna = visitor(client, site)
    await anna.open()
    await anna.send("question before signing in")
    await client.post("/widget/v1/email", json={"email": "anna@example.com"}, headers=anna.headers)
    await anna.identify("anna-1")
    assert await anna.texts() == ["question before signing in"]
