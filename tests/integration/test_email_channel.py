"""Email end to end on both shapes: mail in by the real SMTP server, the raw-MIME webhook and IMAP
(a real dovecot), replies out through the real adapter to a real SMTP sink, and the customer's reply
to our reply landing in the same thread."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import smtplib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app.core import create_app
from app.domain.accounts.actions import do_create_agent
from app.domain.channels.accounts import do_add_channel_account
from app.domain.channels.email_inbound import MailStore
from app.domain.channels.email_polling import poll_mailbox
from app.settings import Settings
from integrations.email.parse import parse_mail
from integrations.registry import AdapterRegistry
from tests.console import login
from tests.fakes.callback_server import free_port
from tests.fakes.delivery import reply, wait_for_status
from tests.fakes.dovecot import Dovecot
from tests.fakes.smtp_sink import SmtpSink
from tests.helpers import PASSWORD, Api
from tests.integration.test_telegram_outbound import onethread

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"
SUPPORT = "support@acme.example"
CUSTOMER = "sam@example.net"
CAP = 2_000_000


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with SmtpSink() as running:
        yield running


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
async def app(settings: Settings, registry: AdapterRegistry | None, smtp_port: int) -> Litestar:
    return create_app(
        dataclasses.replace(settings, smtp_listen=f"127.0.0.1:{smtp_port}", max_attachment_bytes=CAP),
        registry=registry,
    )


async def add_mailbox(api: Api, sink: SmtpSink | None = None, **secrets: str) -> tuple[str, str]:
    """An email account; returns its id and its inbound (webhook) token."""
    created = await do_add_channel_account(
        api.writer,
        channel="email",
        name="Acme Support",
        config={"address": SUPPORT},
        secrets={**({"smtp_url": sink.url} if sink else {}), **secrets},
    )
    return created.account.id, created.secrets["inbound_token"]


async def post_mail(api: Api, account: str, token: str, raw: bytes, *, expect: int = 202) -> dict[str, Any]:
    response = await api.client.post(
        f"/webhooks/email/{account}",
        content=raw,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"},
    )
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


def compose(
    subject: str = "Where is my parcel?",
    body: str = "Hi, order 1234 has not arrived.",
    *,
    sender: str = CUSTOMER,
    to: str = SUPPORT,
    **headers: str,
) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"Sam Jansen <{sender}>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = make_msgid(domain="example.net")
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail.as_bytes()


async def thread_of(api: Api, sender: str = CUSTOMER) -> dict[str, Any]:
    for thread in (await api.get("/api/v1/threads"))["items"]:
        detail = await api.get(f"/api/v1/threads/{thread['id']}")
        if any(i["external_id"] == sender for i in detail["identities"]):
            return detail["thread"]  # type: ignore[no-any-return]
    raise AssertionError(f"no thread for {sender}")


def smtp_send(port: int, raw: bytes, to: str = SUPPORT, sender: str = CUSTOMER) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, [to], raw)


async def test_every_fixture_through_the_webhook(api: Api) -> None:
    account, token = await add_mailbox(api)
    outcomes = {}
    for path in sorted(FIXTURES.glob("*.eml")):
        outcomes[path.name] = (await post_mail(api, account, token, path.read_bytes()))["outcome"]
        again = await post_mail(api, account, token, path.read_bytes())
        assert again["outcome"] in {"duplicate", "ignored", "bounce"}, (path.name, again)
    assert outcomes["read_receipt_mdn_disposition_notification__flanker.eml"] == "ignored"
    assert {name for name, outcome in outcomes.items() if outcome == "automatic"} == {
        name for name in outcomes if name.startswith("auto_reply")
    }
    # The bounces are about mail we never sent: acknowledged, nothing marked.
    assert {outcomes[name] for name in outcomes if name.startswith("bounce")} == {"ignored"}
    people = [
        name for name in outcomes if name.startswith(("reply_", "multipart_", "html_only", "attachment_"))
    ]
    assert {outcomes[name] for name in people} == {"stored"}
    assert await stored_email_ids(api) == EXPECTED_STORED  # the people's mail and the auto-replies


async def stored_email_ids(api: Api) -> list[str]:
    """The Message-IDs of every email message stored, across threads ("-" for a mail without)."""
    found: list[str] = []
    for thread in (await api.get("/api/v1/threads?limit=100"))["items"]:
        for message in await api.timeline(thread["id"]):
            if message["channel"] == "email" and message["direction"] == "in":
                found.append(message["meta"]["email"]["message_id"] or "-")
    return sorted(found)


EXPECTED_STORED = sorted(
    parse_mail(path.read_bytes()).message_id or "-"
    for path in sorted(FIXTURES.glob("*.eml"))
    if parse_mail(path.read_bytes()).classification.kind in {"mail", "auto_reply"}
)


async def test_every_fixture_through_the_smtp_server(api: Api, smtp_port: int) -> None:
    await add_mailbox(api)
    for path in sorted(FIXTURES.glob("*.eml")):
        # Sent as a mail server would: envelope to our address, whatever the headers say.
        await asyncio.to_thread(smtp_send, smtp_port, path.read_bytes())
        await asyncio.to_thread(smtp_send, smtp_port, path.read_bytes())  # a retry: stored once
    assert await stored_email_ids(api) == EXPECTED_STORED


async def test_every_fixture_through_imap_polling(api: Api) -> None:
    dovecot = Dovecot().start({SUPPORT: "pw"})
    try:
        account, _ = await add_mailbox(api, imap_url=dovecot.url(SUPPORT))
        for path in sorted(FIXTURES.glob("*.eml")):
            dovecot.append(SUPPORT, path.read_bytes())
        store = MailStore(api.writer, api.app.state.settings, api.app.state.services.files)
        summary = await poll_mailbox(store, account)
        assert summary.fetched == len(list(FIXTURES.glob("*.eml"))) and summary.refused == 0
        assert await stored_email_ids(api) == EXPECTED_STORED
    finally:
        dovecot.stop()


async def test_a_customer_mail_lands_in_their_thread_with_subject_and_quotes(api: Api) -> None:
    account, token = await add_mailbox(api)
    raw = (FIXTURES / "reply_gmail_plus_addressed_token_quoted__chatwoot.eml").read_bytes()
    outcome = await post_mail(api, account, token, raw)
    assert outcome["outcome"] == "stored"
    thread = await thread_of(api, "sony@chatwoot.com")
    [message] = await api.timeline(thread["id"])
    assert message["subject"] == "Re: Checking mail forwarding to cw inbox"
    assert message["author"]["name"] == "Sony Mathew"
    start, _ = message["meta"]["email"]["quotes"][0]
    assert message["text"][:start].strip() == "Yes, I am providing you step how to reproduce this issue"
    assert thread["status"] == "open" and thread["last_inbound_channel"] == "email"
    assert thread["contact"]["email"] == "sony@chatwoot.com"


async def test_round_trip_reply_and_the_customers_answer_in_one_thread(
    api: Api, sink: SmtpSink, smtp_port: int
) -> None:
    account, _ = await add_mailbox(api, sink)
    await asyncio.to_thread(smtp_send, smtp_port, compose())
    thread = await thread_of(api)
    ours = await reply(api, thread["id"], "Hi Sam, it left our warehouse today.")
    await wait_for_status(api.writer, ours["id"], ("sent",))
    [sent] = await sink.wait_for(1)
    mail = sent.message
    [customer_first] = [m for m in await api.timeline(thread["id"]) if m["direction"] == "in"]
    their_id = customer_first["meta"]["email"]["message_id"]
    assert sent.rcpt_tos == (CUSTOMER,)
    assert mail["Subject"] == "Re: Where is my parcel?"
    assert mail["In-Reply-To"] == f"<{their_id}>" and their_id in mail["References"]
    reply_to = mail["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith("reply+") and reply_to.endswith("@acme.example")

    # The customer's client answers: to our reply address, quoting us, threaded on our Message-ID.
    answer = EmailMessage()
    answer["From"] = f"Sam Jansen <{CUSTOMER}>"
    answer["To"] = reply_to
    answer["Subject"] = "Re: " + str(mail["Subject"])
    answer["Message-ID"] = make_msgid(domain="example.net")
    answer["In-Reply-To"] = str(mail["Message-ID"])
    answer["References"] = f"{mail['References']} {mail['Message-ID']}"
    answer.set_content(
        "Great, thanks!\n\nOn Mon, 30 Nov 2026 at 10:00, Acme Support <support@acme.example> wrote:\n"
        "> Hi Sam, it left our warehouse today.\n"
    )
    await asyncio.to_thread(smtp_send, smtp_port, answer.as_bytes(), reply_to)
    timeline = await api.timeline(thread["id"])
    texts = [m["text"].split("\n")[0] for m in timeline if m["kind"] == "text"]
    assert texts == [
        "Hi, order 1234 has not arrived.",
        "Hi Sam, it left our warehouse today.",
        "Great, thanks!",
    ]
    last = timeline[-1]
    start, _ = last["meta"]["email"]["quotes"][0]
    assert last["text"][:start].strip() == "Great, thanks!"
    assert not [m for m in timeline if m["kind"] == "system"], "a reply starts no new episode"
    assert account


async def test_a_new_subject_starts_a_new_episode_and_a_reply_does_not(api: Api) -> None:
    account, token = await add_mailbox(api)
    first = compose("Order 1234", "Where is it?")
    await post_mail(api, account, token, first)
    await post_mail(
        api,
        account,
        token,
        compose("Re: Order 1234", "Any news?", In_Reply_To=str(parse_mail(first).message_id)),
    )
    await post_mail(api, account, token, compose("Invoice for order 99", "Can I get an invoice?"))
    thread = await thread_of(api)
    timeline = await api.timeline(thread["id"])
    assert [(m["kind"], m["text"]) for m in timeline] == [
        ("text", "Where is it?\n"),
        ("text", "Any news?\n"),
        ("system", "New email conversation: Invoice for order 99"),
        ("text", "Can I get an invoice?\n"),
    ]
    assert (await thread_of(api))["episode"] == 2


async def test_auto_replies_are_kept_but_never_reopen_a_thread(api: Api) -> None:
    account, token = await add_mailbox(api)
    await post_mail(api, account, token, compose())
    thread = await thread_of(api)
    resolved = await api.client.patch(
        f"/api/v1/threads/{thread['id']}", json={"status": "resolved"}, headers=api.headers
    )
    assert resolved.status_code == 200, resolved.text
    out_of_office = compose(
        "Automatic reply: Where is my parcel?", "I am away until Monday.", Auto_Submitted="auto-replied"
    )
    assert (await post_mail(api, account, token, out_of_office))["outcome"] == "automatic"
    exchange = compose("Automatic reply: hi", "Away.", X_Auto_Response_Suppress="All")
    assert (await post_mail(api, account, token, exchange))["outcome"] == "automatic"
    after = await thread_of(api)
    assert after["status"] == "resolved"
    automatic = [m for m in await api.timeline(thread["id"]) if m["meta"].get("automatic")]
    assert len(automatic) == 2


async def test_a_bounce_marks_our_mail_failed_with_the_reason(api: Api, sink: SmtpSink) -> None:
    account, token = await add_mailbox(api, sink)
    await post_mail(api, account, token, compose())
    thread = await thread_of(api)
    ours = await reply(api, thread["id"], "On its way!")
    await wait_for_status(api.writer, ours["id"], ("sent",))
    [sent] = await sink.wait_for(1)
    our_id = str(sent.message["Message-ID"])
    dsn = (FIXTURES / "bounce_postfix_dsn_multipart_report__sisimai.eml").read_bytes()
    dsn = dsn.replace(b"<20150213024813.DE9FF20C16@2jo.example.jp>", our_id.encode())
    assert (await post_mail(api, account, token, dsn))["outcome"] == "bounce"
    failed = await wait_for_status(api.writer, ours["id"], ("failed",))
    assert "bounced" in (failed.delivery_error or "") and "unknown user" in (failed.delivery_error or "")
    assert (await thread_of(api))["status"] == "open", "a bounce is not the customer writing"


async def test_a_token_of_another_customers_thread_never_moves_mail_there(api: Api, sink: SmtpSink) -> None:
    account, token = await add_mailbox(api, sink)
    await post_mail(api, account, token, compose())
    thread = await thread_of(api)
    ours = await reply(api, thread["id"], "Hello Sam")
    await wait_for_status(api.writer, ours["id"], ("sent",))
    [sent] = await sink.wait_for(1)
    reply_to = sent.message["Reply-To"].addresses[0].addr_spec
    stranger = compose("Re: hello", "I got this forwarded", sender="eve@example.org", to=reply_to)
    await post_mail(api, account, token, stranger)
    assert len(await api.timeline(thread["id"])) == 2
    assert (await thread_of(api, "eve@example.org"))["id"] != thread["id"]


async def test_the_same_mail_by_smtp_imap_and_webhook_is_one_message(api: Api, smtp_port: int) -> None:
    dovecot = Dovecot().start({SUPPORT: "pw"})
    try:
        account, token = await add_mailbox(api, imap_url=dovecot.url(SUPPORT))
        raw = compose()
        await asyncio.to_thread(smtp_send, smtp_port, raw)
        dovecot.append(SUPPORT, raw)
        dovecot.append(SUPPORT, (FIXTURES / "html_only_no_text_part__chatwoot.eml").read_bytes())
        settings: Settings = api.app.state.settings
        store = MailStore(api.writer, settings, api.app.state.services.files)
        summary = await poll_mailbox(store, account)
        assert (summary.fetched, summary.stored, summary.duplicates) == (2, 1, 1)
        assert (await post_mail(api, account, token, raw))["outcome"] == "duplicate"
        again = await poll_mailbox(store, account)
        assert again.fetched == 0, "the poll state moved past what was stored"
        [message] = await api.timeline((await thread_of(api))["id"])
        assert message["text"].startswith("Hi, order 1234")
        assert dovecot.mark_seen_count(SUPPORT) == 0
    finally:
        dovecot.stop()


async def test_bad_mail_is_refused_or_stored_safely(
    api: Api, agent_client: httpx.AsyncClient, smtp_port: int
) -> None:
    account, token = await add_mailbox(api)
    no_from = b"To: support@acme.example\r\nSubject: hi\r\n\r\nwho am I\r\n"
    refused = await post_mail(api, account, token, no_from, expect=422)
    assert "From" in refused["detail"]
    with pytest.raises(smtplib.SMTPDataError) as smtp_refused:
        await asyncio.to_thread(smtp_send, smtp_port, no_from)
    assert smtp_refused.value.smtp_code == 550

    scripted = EmailMessage()
    scripted["From"] = CUSTOMER
    scripted["To"] = SUPPORT
    scripted["Subject"] = "=?utf-8?q?hi=0D=0ABcc:_victim@example.com?="
    scripted["Message-ID"] = make_msgid()
    scripted.set_content("plain part")
    scripted.add_alternative(
        '<p>Hello<script>alert(1)</script><img src="https://tracker.example/p.gif" width=1 height=1></p>',
        subtype="html",
    )
    await post_mail(api, account, token, scripted.as_bytes())
    no_charset = (
        b"From: a@example.com\r\nTo: support@acme.example\r\nSubject: oud\r\nMessage-ID: <nc@x>\r\n"
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9 \x80 5\r\n"
    )
    await post_mail(api, account, token, no_charset)
    assert (await api.timeline((await thread_of(api, "a@example.com"))["id"]))[0][
        "text"
    ].strip() == "Café € 5"
    broken = b"From: b@example.com\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nno end"
    assert (await post_mail(api, account, token, broken))["outcome"] == "stored"

    big = EmailMessage()
    big["From"] = "c@example.com"
    big["To"] = SUPPORT
    big["Message-ID"] = make_msgid()
    big.set_content("see attached")
    big.add_attachment(b"\0" * (CAP + 1), maintype="application", subtype="zip", filename="huge.zip")
    await post_mail(api, account, token, big.as_bytes())
    [message] = await api.timeline((await thread_of(api, "c@example.com"))["id"])
    [attachment] = message["attachments"]
    assert (attachment["filename"], attachment["status"]) == ("huge.zip", "too_large")

    scripted_thread = await thread_of(api)
    scripted_message = (await api.timeline(scripted_thread["id"]))[0]
    assert "\n" not in (scripted_message["subject"] or "")
    page = await agent_client.get(f"/threads/{scripted_thread['id']}")
    assert page.status_code == 200 and "Hello" in page.text
    assert "alert(1)" not in page.text and "tracker.example" not in page.text


async def test_the_console_folds_the_quote_and_marks_episodes_and_auto_replies(
    api: Api, agent_client: httpx.AsyncClient
) -> None:
    account, token = await add_mailbox(api)
    body = (
        "Dank je, het werkt nu!\n\n"
        "Op ma 30 nov 2026 om 10:00 schreef Acme Support <support@acme.example>:\n"
        "> Probeer het opnieuw.\n"
    )
    await post_mail(api, account, token, compose("Inlogprobleem", body))
    await post_mail(api, account, token, compose("Factuur", "Mag ik een factuur?"))
    await post_mail(
        api, account, token, compose("Afwezig: Factuur", "Ik ben weg.", Auto_Submitted="auto-replied")
    )
    thread = await thread_of(api)
    page = (await agent_client.get(f"/threads/{thread['id']}")).text
    new_part = page.index("Dank je, het werkt nu!")
    quote = page.index('<details class="quoted">')
    assert new_part < quote and "&gt; Probeer het opnieuw." in page[quote:]
    assert "New email conversation: Factuur" in page
    assert "automatic reply, not answered" in page


async def test_email_to_a_chat_customer_with_an_address_starts_the_email_conversation(
    api: Api, sink: SmtpSink
) -> None:
    account, token = await add_mailbox(api, sink)
    channel = await api.add_api_channel()
    result = await api.inbound(
        channel, "hi from the shop app", contact_id="app-9", name="Mia", email="mia@example.org"
    )
    ours = await reply(api, result["thread_id"], "We will mail you the invoice.", channel="email")
    await wait_for_status(api.writer, ours["id"], ("sent",))
    [sent] = await sink.wait_for(1)
    assert sent.rcpt_tos == ("mia@example.org",)
    assert sent.message["Subject"] == "Your conversation with Acme Support"
    assert "In-Reply-To" not in sent.message
    # Her answer by mail joins the same thread.
    answer = compose(
        "Re: Your conversation with Acme Support",
        "Thanks!",
        sender="mia@example.org",
        In_Reply_To=str(sent.message["Message-ID"]),
    )
    await post_mail(api, account, token, answer)
    texts = [m["text"].strip() for m in await api.timeline(result["thread_id"]) if m["kind"] == "text"]
    # Her Date header has whole seconds; the answer still sorts after the mail it answers.
    assert texts == ["hi from the shop app", "We will mail you the invoice.", "Thanks!"]


async def test_a_30_mb_attachment_keeps_the_mail_and_marks_the_file_too_large(api: Api) -> None:
    """A real 30 MB file (40 MB of base64 on the wire) through the webhook, under its 50 MB mail
    limit: the mail is stored, the file is over the attachment cap and kept as a name and size."""
    account, token = await add_mailbox(api)
    big = EmailMessage()
    big["From"] = CUSTOMER
    big["To"] = SUPPORT
    big["Message-ID"] = make_msgid()
    big["Subject"] = "the scan you asked for"
    big.set_content("see attached")
    big.add_attachment(
        b"\x89PNG" + b"\0" * (30 * 1024 * 1024), maintype="image", subtype="png", filename="scan.png"
    )
    raw = big.as_bytes()
    assert len(raw) > 40 * 1024 * 1024  # base64: what actually travels
    outcome = await post_mail(api, account, token, raw)
    assert outcome["outcome"] == "stored"
    [message] = await api.timeline((await thread_of(api))["id"])
    assert message["text"].strip() == "see attached"
    [attachment] = message["attachments"]
    assert (attachment["filename"], attachment["status"], attachment["download_url"]) == (
        "scan.png",
        "too_large",
        None,
    )


async def test_the_cli_adds_a_mailbox_and_polls_it(embedded: Settings) -> None:
    dovecot = Dovecot().start({SUPPORT: "pw"})
    try:
        added = await onethread(
            embedded,
            "channel", "add", "email", "--name", "Support", "--address", "Support@Acme.example",
            "--imap-url", dovecot.url(SUPPORT), "--smtp-url", "smtp://127.0.0.1:2525?starttls=off", "--json",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        out = json.loads(added.stdout)
        assert (
            out["address"] == SUPPORT and out["imap_polling"] == "every 60 s" and out["replies"] == "by SMTP"
        )
        assert out["webhook_url"].endswith(f"/webhooks/email/{out['id']}") and out["token"].startswith(
            "ot_in_"
        )
        assert "pw" not in added.stdout.replace(out["token"], ""), "the IMAP password is never printed"

        for path in sorted(FIXTURES.glob("*.eml"))[:3]:
            dovecot.append(SUPPORT, path.read_bytes())
        polled = await onethread(embedded, "channel", "email", "poll", out["id"])
        assert polled.returncode == 0, polled.stderr
        assert polled.stdout.startswith("fetched 3: stored 3, already stored 0, refused 0")
        again = await onethread(embedded, "channel", "email", "poll", out["id"])
        assert again.stdout.startswith("fetched 0")
    finally:
        dovecot.stop()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--address", "not-an-address"], "--address must be an email address"),
        (["--address", SUPPORT, "--smtp-url", "http://x"], "--smtp-url: the SMTP URL must start with"),
        (["--address", SUPPORT, "--imap-url", "imap://host"], "--imap-url: the IMAP URL needs a user name"),
        (["--address", SUPPORT, "--poll-interval", "1"], "--poll-interval must be at least 10"),
    ],
)
async def test_the_cli_refuses_bad_mailbox_settings(embedded: Settings, args: list[str], reason: str) -> None:
    refused = await onethread(embedded, "channel", "add", "email", "--name", "Support", *args)
    assert refused.returncode == 2 and reason in refused.stderr


async def test_polling_an_account_without_imap_says_so(embedded: Settings) -> None:
    added = await onethread(
        embedded, "channel", "add", "email", "--name", "S", "--address", SUPPORT, "--json"
    )
    account = json.loads(added.stdout)["id"]
    polled = await onethread(embedded, "channel", "email", "poll", account)
    assert polled.returncode == 2 and "no IMAP mailbox" in polled.stderr


async def test_a_reply_answers_the_customers_mail_not_their_out_of_office(api: Api, sink: SmtpSink) -> None:
    account, token = await add_mailbox(api, sink)
    question = compose("Where is my order #1234?", "Any news?")
    await post_mail(api, account, token, question)
    away = compose("Automatic reply: Where is my order #1234?", "I am away.", Auto_Submitted="auto-replied")
    await post_mail(api, account, token, away)
    thread = await thread_of(api)
    ours = await reply(api, thread["id"], "Line one\r\nline two")
    await wait_for_status(api.writer, ours["id"], ("sent",))
    [sent] = await sink.wait_for(1)
    assert sent.message["Subject"] == "Re: Where is my order #1234?"
    assert sent.message["In-Reply-To"] == f"<{parse_mail(question).message_id}>"
    [stored] = [m for m in await api.timeline(thread["id"]) if m["direction"] == "out"]
    assert stored["text"] == "Line one\nline two", "a browser's CRLF is stored as LF"


async def test_the_channels_page_shows_how_mail_comes_and_goes(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    await do_create_agent(
        app.state.writer, email="boss@example.com", name="Boss", password=PASSWORD, role="admin"
    )
    assert (await login(client, "boss@example.com")).status_code == 303
    created = await do_add_channel_account(
        app.state.writer,
        channel="email",
        name="Acme Support",
        config={"address": SUPPORT, "poll_interval": 120, "imap_state": {"uidvalidity": 7, "last_uid": 42}},
        secrets={"imap_url": "imaps://support%40acme.example:hunter2@imap.acme.example/INBOX"},
    )
    page = unescape((await client.get("/settings/channels")).text)
    card = page[page.index(f'id="account-{created.account.id}"') :]
    card = card[: card.index("</li>")]
    assert SUPPORT in card and f"/webhooks/email/{created.account.id}" in card
    assert "every 120 s; last message read: UID 42" in card
    assert "cannot be sent: no SMTP server set" in card
    assert "127.0.0.1:" in card, "the built-in SMTP server's address"
    assert "hunter2" not in page, "secrets never reach the page"
