"""The bot in the web chat, on both shapes: it answers first, asks when unsure, hands over to people
in the same thread, stays quiet once an agent has answered, and speaks again after a resolve."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from litestar import Litestar

from app.domain.bot.rule_actions import do_set_rule_enabled
from app.domain.inbox.actions import do_ingest
from app.domain.widget.settings import DAYS
from integrations.types import InboundMessage, InboundSender
from tests.helpers import Api
from tests.integration.bot_helpers import (
    AMBIGUOUS,
    DEMO,
    answer_of,
    bot_messages,
    decisions,
    eventually,
    only_thread,
    thread_status,
    use_rules,
)
from tests.integration.widget_client import Visitor, WidgetSite, add_site


@pytest.fixture
async def site(api: Api) -> WidgetSite:
    return await add_site(api.writer)


@pytest.fixture
async def visitor(client: httpx.AsyncClient, site: WidgetSite) -> Visitor:
    visitor = Visitor(client, site)
    await visitor.open()
    return visitor


async def test_a_question_in_the_widget_is_greeted_and_answered_there(api: Api, visitor: Visitor) -> None:
    await use_rules(api.writer, DEMO)
    answer = answer_of(DEMO, "delivery-time", "nl")

    await visitor.send("Hoe lang duurt de levering?")
    texts = await eventually(visitor.texts, lambda texts: len(texts) == 2)

    # One message, so the greeting can never arrive after the answer.
    assert texts == ["Hoe lang duurt de levering?", f"{DEMO.greeting['nl']}\n\n{answer}"]
    thread_id = await only_thread(api)
    assert await thread_status(api, thread_id) == "bot", "answered: no person needed"
    greeted, answered = await decisions(api.writer, thread_id)
    assert (greeted.outcome, answered.outcome, answered.rule_id) == ("greeted", "answered", "delivery-time")
    assert answered.language == "nl" and answered.question == "Hoe lang duurt de levering?"
    assert answered.candidates[0]["rule_id"] == "delivery-time" and answered.score > 0
    [reply] = await bot_messages(api, thread_id)
    assert reply["meta"]["bot"] == {
        "decision_id": answered.id,
        "outcome": "answered",
        "rule_id": "delivery-time",
        "score": answered.score,
        "greeting": True,
    }
    assert reply["meta"]["buttons"] == [
        {"label": "Dit hielp niet", "payload": f"bot:not_helpful:{answered.id}"}
    ]
    assert answered.reply_message_id == greeted.reply_message_id == reply["id"]


async def test_medewerker_hands_the_thread_to_people_with_the_reason(api: Api, visitor: Visitor) -> None:
    await use_rules(api.writer, DEMO)

    await visitor.send("Ik wil een medewerker spreken")
    texts = await eventually(visitor.texts, lambda texts: DEMO.handoff_message["nl"] in texts)

    assert texts == ["Ik wil een medewerker spreken", DEMO.handoff_message["nl"]], "no greeting first"
    thread_id = await only_thread(api)
    assert await thread_status(api, thread_id) == "open"
    system = [m for m in await api.timeline(thread_id) if m["kind"] == "system"]
    assert [m["text"] for m in system] == ["Bot handed over: the customer asked for a person"]
    assert system[0]["meta"]["bot"]["reason"] == "asked_for_person"
    [decision] = await decisions(api.writer, thread_id)
    assert (decision.outcome, decision.reason) == ("handoff", "asked_for_person")

    # Handed over: the bot says nothing more, even to a question it knows.
    await visitor.send("Hoe lang duurt de levering?")
    await visitor.send("Ik wil een medewerker spreken")
    assert len(await decisions(api.writer, thread_id)) == 1
    assert len(await bot_messages(api, thread_id)) == 1


async def test_did_you_mean_then_a_second_miss_hands_over(api: Api, visitor: Visitor) -> None:
    await use_rules(api.writer, AMBIGUOUS)

    await visitor.send("How do I send an item back?")
    thread_id = await eventually(only_thread_when_answered(api), lambda found: found is not None)
    assert thread_id is not None
    [asked] = await bot_messages(api, thread_id)
    assert asked["text"] == "Did you mean one of these?"
    payloads = [b["payload"] for b in asked["meta"]["buttons"]]
    assert sorted(payloads[:2]) == ["bot:rule:return-clothes", "bot:rule:return-shoes"]
    assert payloads[2:] == ["bot:person"]
    assert await thread_status(api, thread_id) == "bot"

    await visitor.send("How do I send an item back?")
    await eventually(lambda: thread_status(api, thread_id), lambda status: status == "open")
    outcomes = [(d.outcome, d.reason) for d in await decisions(api.writer, thread_id)]
    assert outcomes == [("suggested", None), ("handoff", "second_miss")]
    assert (await visitor.texts())[-1] == "Let me get a colleague for you."


def only_thread_when_answered(api: Api) -> Callable[[], Awaitable[int | None]]:
    """The one thread's id once the bot has said something in it."""

    async def read() -> int | None:
        items = (await api.get("/api/v1/threads"))["items"]
        if not items:
            return None
        thread_id = int(items[0]["id"])
        return thread_id if await bot_messages(api, thread_id) else None

    return read


async def test_a_pressed_suggestion_is_answered_and_this_did_not_help_hands_over(
    api: Api, app: Litestar, site: WidgetSite, visitor: Visitor
) -> None:
    await use_rules(api.writer, AMBIGUOUS)
    await visitor.send("How do I send an item back?")
    thread_id = await eventually(only_thread_when_answered(api), lambda found: found is not None)
    assert thread_id is not None
    [identity] = (await api.get(f"/api/v1/threads/{thread_id}"))["identities"]

    async def press(label: str, payload: str, external_id: str) -> None:
        """A button press as the widget adapter hands it over: its label, and its payload."""
        stored = await do_ingest(
            api.writer,
            InboundMessage(
                channel="webchat",
                account_id=site.id,
                external_id=external_id,
                sender=InboundSender("webchat", identity["external_id"], None),
                text=label,
                metadata={"button_payload": payload},
            ),
        )
        await app.state.jobs.after_ingest(stored)

    await press("Returning clothes", "bot:rule:return-clothes", "press-1")
    clothes = answer_of(AMBIGUOUS, "return-clothes", "en")
    await eventually(visitor.texts, lambda texts: clothes in texts)
    picked = (await decisions(api.writer, thread_id))[-1]
    assert (picked.outcome, picked.rule_id, picked.reason) == ("answered", "return-clothes", "picked")

    await press("This didn't help", f"bot:not_helpful:{picked.id}", "press-2")
    await eventually(lambda: thread_status(api, thread_id), lambda status: status == "open")
    rows = await decisions(api.writer, thread_id)
    assert rows[-2].feedback == "not_helpful", "the answer's record says it did not help"
    assert (rows[-1].outcome, rows[-1].reason) == ("handoff", "not_helpful")
    assert (await visitor.texts())[-1] == "Let me get a colleague for you."


async def test_after_an_agent_replies_the_bot_is_quiet_until_the_thread_is_resolved(
    api: Api, visitor: Visitor
) -> None:
    await use_rules(api.writer, DEMO)
    await visitor.send("Hoe lang duurt de levering?")
    delivery = answer_of(DEMO, "delivery-time", "nl")
    await eventually(visitor.texts, lambda texts: len(texts) == 2)
    thread_id = await only_thread(api)

    agent = await api.post(f"/api/v1/threads/{thread_id}/messages", {"text": "Ik kijk even mee."}, expect=202)
    assert agent.json()["author"]["type"] == "agent"
    assert await thread_status(api, thread_id) == "open", "an agent's reply takes the thread from the bot"
    await visitor.send("Hoe lang duurt de levering?")
    decided_before = len(await decisions(api.writer, thread_id))

    await api.patch(f"/api/v1/threads/{thread_id}", {"status": "resolved"})
    await visitor.send("Wat kost de verzending?")
    shipping = answer_of(DEMO, "shipping-costs", "nl")
    texts = await eventually(visitor.texts, lambda texts: shipping in texts)

    assert not [t for t in texts if t.endswith(delivery)][1:], "no bot answer while an agent had the thread"
    assert texts[-2:] == ["Wat kost de verzending?", shipping], "a new episode: no second greeting"
    rows = await decisions(api.writer, thread_id)
    assert decided_before == 2 and [d.outcome for d in rows[2:]] == ["answered"]
    assert rows[-1].episode == 2
    assert await thread_status(api, thread_id) == "bot"


async def test_without_enabled_rules_new_threads_go_straight_to_people(api: Api, visitor: Visitor) -> None:
    await use_rules(api.writer, AMBIGUOUS)
    for rule in AMBIGUOUS.rules:
        await do_set_rule_enabled(api.writer, rule.id, False)

    await visitor.send("When is your shop open?")
    thread_id = await only_thread(api)

    assert await thread_status(api, thread_id) == "open"
    assert await bot_messages(api, thread_id) == []


async def test_outside_business_hours_the_handoff_says_when_a_person_will_reply(
    api: Api, client: httpx.AsyncClient
) -> None:
    await use_rules(api.writer, DEMO)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    day = DAYS[tomorrow.weekday()]
    site = await add_site(api.writer, business_hours={"timezone": "UTC", "days": {day: ["09:00", "17:00"]}})
    visitor = Visitor(client, site)
    await visitor.open()

    await visitor.send("Ik wil een medewerker spreken")
    texts = await eventually(visitor.texts, lambda texts: len(texts) == 2)

    dag = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")[tomorrow.weekday()]
    assert texts[1] == (
        f"{DEMO.handoff_message['nl']}\n\nWe zijn nu gesloten; een collega antwoordt op {dag} om 09:00 (UTC)."
    )
