"""The bot answers on the channel the customer used, end to end on both shapes: Telegram through its
real webhook to a fake Bot API, email through the real SMTP server in and a real SMTP sink out."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from litestar import Litestar

from app.core import create_app
from app.domain.channels.accounts import do_add_channel_account
from app.settings import Settings
from integrations.registry import AdapterRegistry
from tests.fakes.callback_server import free_port
from tests.fakes.smtp_sink import ReceivedMail, SmtpSink
from tests.fakes.telegram_bot_api import BotCall, TelegramBotAPI
from tests.helpers import Api
from tests.integration.bot_helpers import (
    AMBIGUOUS,
    DEMO,
    answer_of,
    bot_messages,
    decisions,
    eventually,
    thread_status,
    use_rules,
)
from tests.integration.test_email_channel import CUSTOMER, add_mailbox, compose, smtp_send, thread_of
from tests.integration.test_telegram_outbound import SECRET, TOKEN

TG_CUSTOMER = 555000222


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramBotAPI]:
    async with TelegramBotAPI() as server:
        yield server


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with SmtpSink() as running:
        yield running


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
async def app(settings: Settings, registry: AdapterRegistry | None, smtp_port: int) -> Litestar:
    """The app with its SMTP server listening, as a mail server reaches it."""
    return create_app(dataclasses.replace(settings, smtp_listen=f"127.0.0.1:{smtp_port}"), registry=registry)


def sent(telegram: TelegramBotAPI) -> Callable[[], Awaitable[list[BotCall]]]:
    async def read() -> list[BotCall]:
        return telegram.calls_to("sendMessage")

    return read


async def telegram_update(api: Api, account_id: str, update_id: int, text: str) -> None:
    update = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": TG_CUSTOMER, "is_bot": False, "first_name": "Lena"},
            "chat": {"id": TG_CUSTOMER, "type": "private", "first_name": "Lena"},
            "date": 1_764_000_000 + update_id,
            "text": text,
        },
    }
    response = await api.client.post(
        f"/webhooks/telegram/{account_id}",
        content=json.dumps(update).encode(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert response.status_code == 200, response.text


async def test_a_question_on_telegram_is_answered_on_telegram(api: Api, telegram: TelegramBotAPI) -> None:
    await use_rules(api.writer, DEMO)
    created = await do_add_channel_account(
        api.writer,
        channel="telegram",
        name="Shop bot",
        config={"api_url": telegram.url},
        secrets={"bot_token": TOKEN, "webhook_secret": SECRET},
    )

    await telegram_update(api, created.account.id, 910001, "How long does delivery take?")
    answer = answer_of(DEMO, "delivery-time", "en")
    calls = await eventually(
        sent(telegram), lambda calls: any(answer in call.params["text"] for call in calls)
    )

    assert [call.params["text"] for call in calls] == [f"{DEMO.greeting['en']}\n\n{answer}"]
    assert {call.params["chat_id"] for call in calls} == {str(TG_CUSTOMER)}
    [thread] = (await api.get("/api/v1/threads"))["items"]
    [reply] = await bot_messages(api, thread["id"])
    assert reply["channel"] == "telegram" and reply["meta"]["bot"]["rule_id"] == "delivery-time"

    # "agent" (the English handoff phrase): handed over, told so on Telegram.
    await telegram_update(api, created.account.id, 910002, "I want to talk to an agent")
    await eventually(lambda: thread_status(api, thread["id"]), lambda status: status == "open")
    calls = await eventually(sent(telegram), lambda calls: len(calls) == 2)
    assert calls[-1].params["text"] == DEMO.handoff_message["en"]


async def mails(sink: SmtpSink, count: int) -> list[ReceivedMail]:
    return await sink.wait_for(count)


def body_of(mail: ReceivedMail) -> str:
    part = mail.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def words(text: str) -> str:
    """Text with its white space evened out (mail wraps long lines, format=flowed)."""
    return " ".join(text.split())


def reply_to(mail: ReceivedMail, text: str) -> bytes:
    """The customer's mail client answering ``mail``: to its Reply-To, quoting it below."""
    answer = EmailMessage()
    answer["From"] = f"Sam Jansen <{CUSTOMER}>"
    answer["To"] = mail.message["Reply-To"].addresses[0].addr_spec
    answer["Subject"] = "Re: " + str(mail.message["Subject"]).removeprefix("Re: ")
    answer["Message-ID"] = make_msgid(domain="example.net")
    answer["In-Reply-To"] = str(mail.message["Message-ID"])
    answer["References"] = str(mail.message["Message-ID"])
    quoted = "\n".join(f"> {line}" for line in body_of(mail).splitlines())
    answer.set_content(f"{text}\n\nOn Mon, 30 Nov 2026 at 10:00, Acme Support wrote:\n{quoted}\n")
    return answer.as_bytes()


async def test_an_email_question_is_answered_by_email_in_one_mail_with_the_greeting(
    api: Api, sink: SmtpSink, smtp_port: int
) -> None:
    await use_rules(api.writer, DEMO)
    await add_mailbox(api, sink)

    await asyncio.to_thread(smtp_send, smtp_port, compose("Levering", "Hoe lang duurt de levering?"))
    [mail] = await mails(sink, 1)

    answer = answer_of(DEMO, "delivery-time", "nl")
    assert words(body_of(mail)) == words(f"{DEMO.greeting['nl']}\n\n{answer}")
    assert mail.rcpt_tos == (CUSTOMER,)
    assert mail.message["Subject"] == "Re: Levering"
    assert mail.message["Auto-Submitted"] == "auto-replied", "the bot's mail says it is automatic"

    # An out-of-office answer to the bot's mail gets no answer of its own.
    away = compose("Automatic reply: Re: Levering", "I am away until Monday.", Auto_Submitted="auto-replied")
    await asyncio.to_thread(smtp_send, smtp_port, away)
    await asyncio.to_thread(smtp_send, smtp_port, reply_to(mail, "Wat kost de verzending?"))
    shipping = answer_of(DEMO, "shipping-costs", "nl")
    [_, second] = await mails(sink, 2)
    assert words(body_of(second)) == words(shipping), "our quoted answer is not read as the question"
    thread = await thread_of(api)
    outcomes = [(d.outcome, d.rule_id) for d in await decisions(api.writer, thread["id"])]
    assert outcomes == [("greeted", None), ("answered", "delivery-time"), ("answered", "shipping-costs")]


async def test_by_email_did_you_mean_is_numbered_and_replying_2_picks_the_second(
    api: Api, sink: SmtpSink, smtp_port: int
) -> None:
    await use_rules(api.writer, AMBIGUOUS)
    await add_mailbox(api, sink)

    await asyncio.to_thread(smtp_send, smtp_port, compose("Returns", "How do I send an item back?"))
    [asked] = await mails(sink, 1)
    lines = body_of(asked).strip().splitlines()
    assert lines[0] == "Did you mean one of these?"
    assert [line[:3] for line in lines[1:3]] == ["1. ", "2. "]
    assert sorted(line[3:] for line in lines[1:3]) == ["Returning clothes", "Returning shoes"]
    assert lines[3:] == ["3. Talk to a person", "Reply with the number of your choice."]
    second_title = lines[2][3:]

    await asyncio.to_thread(smtp_send, smtp_port, reply_to(asked, "2"))
    [_, picked] = await mails(sink, 2)

    expected = "return-shoes" if second_title == "Returning shoes" else "return-clothes"
    assert words(body_of(picked)) == answer_of(AMBIGUOUS, expected, "en")
    thread = await thread_of(api)
    last = (await decisions(api.writer, thread["id"]))[-1]
    assert (last.outcome, last.rule_id, last.reason) == ("answered", expected, "picked")
    assert await thread_status(api, thread["id"]) == "bot"
