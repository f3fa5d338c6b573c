"""The bot's turn: the writer that answers a customer's message, or hands the thread to people.

``do_bot_turn`` runs after a customer message is stored (the ``onethread.bot_turn`` job, enqueued by
``Jobs.after_ingest``), in one transaction under the thread's lock: it reads what the thread
remembers, lets ``turn.plan_turn`` decide, and writes the decision, the bot's messages (``queued``,
delivered by the ordinary delivery job on the customer's channel) and, on a handoff, the thread's
new status with a system line, so agents see it live. A job that runs twice for one message finds
its decision and does nothing; a thread no longer with the bot (an agent took it) is left alone.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.db.models import BotDecision, ChannelAccount, Contact, Message, Thread, pk, utcnow
from app.domain.bot.rules import Lang, RuleSet
from app.domain.bot.store import EngineCache, engine_cache
from app.domain.bot.turn import (
    HANDOFF_LABELS,
    MAX_QUESTION_CHARS,
    Outgoing,
    Plan,
    Previous,
    bot_text,
    greeting_plan,
    plan_turn,
)
from app.domain.contacts.resolution import live_contact
from app.domain.inbox.actions import EnqueueDelivery, emit_message_created, emit_thread_updated
from app.domain.inbox.email_html import split_quoted
from app.domain.inbox.email_threading import set_outgoing_headers
from app.domain.inbox.routing import Route, route_reply
from app.domain.inbox.threads import note_message_on_thread, system_message
from app.domain.realtime.writer import Transaction, Writer
from app.domain.widget.settings import BusinessHours, WidgetSettings
from app.lib import metrics
from app.lib.errors import ConflictError
from integrations.registry import AdapterRegistry

log = logging.getLogger(__name__)

BOT_NAME = "Bot"


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What a turn did: the decision's id and outcome, and the bot's messages (ids)."""

    decision_id: int
    outcome: str
    reason: str | None
    reply_ids: tuple[int, ...]
    handed_off: bool


async def do_bot_turn(
    writer: Writer,
    registry: AdapterRegistry,
    enqueue: EnqueueDelivery,
    message_id: int,
    *,
    cache: EngineCache = engine_cache,
) -> TurnResult | None:
    """The bot's answer to customer message ``message_id``; ``None`` when it is not the bot's turn
    (the thread is not with the bot, the message was already answered, or is no customer's)."""

    async def work(tx: Transaction) -> TurnResult | None:
        session = tx.session
        message = await session.get(Message, message_id)
        if message is None or message.direction != "in" or message.author_type != "customer":
            return None
        thread = await session.get(Thread, message.thread_id, with_for_update=True, populate_existing=True)
        if thread is None or thread.status != "bot":
            return None
        done = await session.execute(
            # By thread first: (thread_id, id) is indexed, message_id is not.
            select(col(BotDecision.id))
            .where(col(BotDecision.thread_id) == thread.id, col(BotDecision.message_id) == message_id)
            .limit(1)
        )
        if done.first() is not None:
            return None
        turn = _Turn(tx, registry, enqueue, thread, message)
        if (message.meta or {}).get("automatic"):
            return await turn.skip("automatic")
        if await _agent_replied_this_episode(tx, thread):
            return await turn.skip("agent_replied")
        loaded = await cache.get(session)
        if loaded is None or not loaded.rules.enabled:
            fallback = loaded.rules if loaded is not None else None
            return await turn.hand_over_without_bot(fallback)
        previous = await _previous(tx, thread)
        plan = plan_turn(
            loaded.rules,
            loaded.engine,
            text=customer_words(message),
            metadata=message.meta or {},
            channel=message.channel,
            buttons=registry.get(message.channel).capabilities.buttons
            if message.channel in registry
            else False,
            previous=previous,
        )
        return await turn.carry_out(loaded.rules, plan)

    return metrics.bot_turn(await writer.run(work))


class _Turn:
    """One turn's writes, in the caller's transaction."""

    def __init__(
        self,
        tx: Transaction,
        registry: AdapterRegistry,
        enqueue: EnqueueDelivery,
        thread: Thread,
        message: Message,
    ) -> None:
        self.tx = tx
        self.registry = registry
        self.enqueue = enqueue
        self.thread = thread
        self.message = message
        self._customer: Contact | None = None

    async def _contact(self) -> Contact:
        """The thread's customer (read once per turn)."""
        if self._customer is None:
            self._customer = await live_contact(self.tx.session, self.thread.contact_id)
        return self._customer

    def _decision(self, plan: Plan, *, message_id: int | None) -> BotDecision:
        return BotDecision(
            thread_id=pk(self.thread.id),
            message_id=message_id,
            episode=self.thread.episode,
            channel=self.message.channel,
            language=plan.language,
            question=plan.question[:MAX_QUESTION_CHARS],
            outcome=plan.outcome,
            rule_id=plan.rule_id,
            score=round(plan.score, 4),
            candidates=plan.candidates_json(),
            reason=plan.reason,
        )

    async def skip(self, reason: str) -> TurnResult:
        """Record that the bot stayed quiet, and why (an auto-reply, an agent already answered)."""
        decision = BotDecision(
            thread_id=pk(self.thread.id),
            message_id=self.message.id,
            episode=self.thread.episode,
            channel=self.message.channel,
            question=self.message.text[:MAX_QUESTION_CHARS],
            outcome="skipped",
            reason=reason,
        )
        self.tx.session.add(decision)
        await self.tx.session.flush()
        return TurnResult(pk(decision.id), "skipped", reason, (), handed_off=False)

    async def hand_over_without_bot(self, rules: RuleSet | None) -> TurnResult:
        """The thread waits for the bot but there is none (switched off, rules removed): people."""
        lang = rules.default_language if rules is not None else "en"
        plan = Plan(
            outcome="handoff",
            language=lang,
            question=self.message.text[:MAX_QUESTION_CHARS],
            reason="bot_off",
            handoff="bot_off",
        )
        return await self.carry_out(rules, plan)

    async def carry_out(self, rules: RuleSet | None, plan: Plan) -> TurnResult:
        session = self.tx.session
        if plan.feedback is not None:
            await self._record_feedback(*plan.feedback)
        route: Route | None = None
        if plan.messages or plan.greeting_first:
            route = await self._route()
            if route is None:
                # The bot cannot reach the customer where they wrote: people take it from here.
                plan = dataclasses.replace(
                    plan,
                    messages=(),
                    greeting_first=False,
                    outcome="handoff" if plan.handoff is None else plan.outcome,
                    reason=plan.reason if plan.handoff is not None else "channel_unavailable",
                    handoff=plan.handoff or "channel_unavailable",
                )
        greeting = greeting_plan(rules, plan.language) if plan.greeting_first and rules else None
        greeted: BotDecision | None = None
        if greeting is not None and route is not None:
            greeted = BotDecision(
                thread_id=pk(self.thread.id),
                message_id=None,
                episode=self.thread.episode,
                channel=self.message.channel,
                language=plan.language,
                question="",
                outcome="greeted",
            )
            session.add(greeted)
        decision = self._decision(plan, message_id=self.message.id)
        session.add(decision)
        await session.flush()
        parts = ([greeting] if greeted is not None and greeting is not None else []) + list(plan.messages)
        if plan.handoff is not None and rules is not None and route is not None:
            away = await _away_line(session, rules, plan.language)
            if away:
                parts.append(Outgoing(away))
        reply: Message | None = None
        if route is not None and any(part.text.strip() for part in parts):
            # One message per turn: separate deliveries could reach the customer in any order.
            reply = await self._send(route, _joined(parts), decision, plan.outcome)
            decision.reply_message_id = reply.id
            if greeted is not None:
                greeted.reply_message_id = reply.id
        if plan.handoff is not None:
            await self._hand_over(plan, decision)
        await session.flush()
        if reply is not None:
            self.tx.on_commit(_delivery(self.enqueue, pk(reply.id)))
        return TurnResult(
            pk(decision.id),
            plan.outcome,
            plan.reason,
            () if reply is None else (pk(reply.id),),
            handed_off=plan.handoff is not None,
        )

    async def _route(self) -> Route | None:
        contact = await self._contact()
        try:
            return await route_reply(
                self.tx.session,
                self.registry,
                self.thread,
                contact,
                self.message.channel,
                sender_is_person=False,
            )
        except ConflictError as refused:
            log.info("bot cannot reply on %s in thread %s: %s", self.message.channel, self.thread.id, refused)
            return None

    async def _send(self, route: Route, outgoing: Outgoing, decision: BotDecision, outcome: str) -> Message:
        """Store one bot message as ``queued`` on the customer's channel (delivered after commit)."""
        session = self.tx.session
        decision_id = pk(decision.id)
        bot_meta: dict[str, Any] = {
            "decision_id": decision_id,
            "outcome": outcome,
            "rule_id": decision.rule_id,
            "score": decision.score,
        }
        if outgoing.greeting:
            bot_meta["greeting"] = True
        meta: dict[str, Any] = {"recipient": route.identity.external_id, "bot": bot_meta}
        if outgoing.buttons:
            meta["buttons"] = [
                {"label": b["label"], "payload": b["payload"].replace("{decision}", str(decision_id))}
                for b in outgoing.buttons
            ]
        if outgoing.choices:
            meta["choices"] = list(outgoing.choices)
        now = utcnow()
        message = Message(
            thread_id=pk(self.thread.id),
            channel_account_id=route.account_id,
            identity_id=route.identity.id,
            direction="out",
            kind="text",
            channel=route.channel,
            author_type="bot",
            author_name=BOT_NAME,
            text=outgoing.text,
            delivery_status="queued",
            meta=meta,
            created_at=now,
            received_at=now,
        )
        session.add(message)
        await session.flush()
        if route.channel == "email":
            await set_outgoing_headers(self.tx, self.thread, message, route.account, automatic=True)
        note_message_on_thread(self.thread, message)
        await session.flush()
        contact = await self._contact()
        emit_message_created(self.tx, message, self.thread, contact)
        return message

    async def _hand_over(self, plan: Plan, decision: BotDecision) -> None:
        """Thread → ``open``, a system line with the reason, and agents told (``thread.updated``)."""
        session = self.tx.session
        reason = plan.handoff or "no_match"
        self.thread.status = "open"
        self.thread.updated_at = utcnow()
        label = HANDOFF_LABELS.get(reason, reason)
        bot_meta = {
            "decision_id": pk(decision.id),
            "outcome": "handoff",
            "rule_id": decision.rule_id,
            "score": decision.score,
            "reason": reason,
        }
        line = system_message(self.thread, f"Bot handed over: {label}", event="bot-handoff", bot=bot_meta)
        session.add(line)
        await session.flush()
        contact = await self._contact()
        emit_message_created(self.tx, line, self.thread, contact)
        emit_thread_updated(self.tx, self.thread, contact, reason="bot handed over", bot=bot_meta)

    async def _record_feedback(self, decision_id: int, verdict: str) -> None:
        target = await self.tx.session.get(BotDecision, decision_id)
        # Only a decision of this thread: a payload is customer input and may name any id.
        if target is not None and target.thread_id == self.thread.id and target.outcome == "answered":
            target.feedback = verdict


def _joined(parts: list[Outgoing]) -> Outgoing:
    """The turn's parts (greeting, answer, handoff line, away line) as one message."""
    return Outgoing(
        "\n\n".join(part.text.strip() for part in parts if part.text.strip()),
        buttons=tuple(button for part in parts for button in part.buttons),
        choices=tuple(choice for part in parts for choice in part.choices),
        greeting=any(part.greeting for part in parts),
    )


def customer_words(message: Message) -> str:
    """What the customer wrote in this message, for the engine: an email's own words without the
    history it quotes (our last answer, say), or its subject when the body has none."""
    if message.channel != "email":
        return message.text
    facts = (message.meta or {}).get("email")
    spans = facts.get("quotes") if isinstance(facts, dict) else None
    text = message.text
    if isinstance(spans, list) and all(
        isinstance(span, list) and len(span) == 2 and all(isinstance(n, int) for n in span) for span in spans
    ):
        own, position = [], 0
        for start, end in sorted(spans):
            own.append(text[position:start])
            position = max(position, end)
        own.append(text[position:])
        words = "".join(own)
    else:
        words = "".join(segment.text for segment in split_quoted(text) if segment.kind == "text")
    words = words.strip()
    return words or (message.subject or "").strip()


def _delivery(enqueue: EnqueueDelivery, message_id: int) -> Callable[[], Awaitable[None]]:
    async def deliver() -> None:
        await enqueue(message_id)

    return deliver


async def _agent_replied_this_episode(tx: Transaction, thread: Thread) -> bool:
    """Whether an agent has written to the customer since the current episode began."""
    since = await _episode_start(tx, thread)
    query = select(col(Message.id)).where(
        col(Message.thread_id) == thread.id,
        col(Message.direction) == "out",
        col(Message.kind) == "text",
        col(Message.author_type) == "agent",
    )
    if since is not None:
        query = query.where(col(Message.created_at) >= since)
    return (await tx.session.execute(query.limit(1))).first() is not None


async def _episode_start(tx: Transaction, thread: Thread) -> datetime | None:
    """When the thread's current episode began (its marker line), ``None`` for the first one."""
    if thread.episode <= 1:
        return None
    markers = (
        await tx.session.execute(
            select(col(Message.created_at), col(Message.meta))
            .where(col(Message.thread_id) == thread.id, col(Message.kind) == "system")
            .order_by(col(Message.created_at).desc(), col(Message.id).desc())
            .limit(200)
        )
    ).all()
    for created_at, meta in markers:
        if (meta or {}).get("episode") == thread.episode:
            started: datetime = created_at
            return started
    return None


async def _previous(tx: Transaction, thread: Thread) -> Previous:
    """What the thread remembers for the next decision: the last decision of this episode and the
    numbered choices the bot's last message offered."""
    session = tx.session
    last = (
        await session.execute(
            select(BotDecision)
            .where(
                col(BotDecision.thread_id) == thread.id,
                col(BotDecision.episode) == thread.episode,
                col(BotDecision.outcome) != "skipped",
            )
            .order_by(col(BotDecision.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    new_conversation = False
    if last is None and thread.episode == 1:
        any_decision = await session.execute(
            select(col(BotDecision.id)).where(col(BotDecision.thread_id) == thread.id).limit(1)
        )
        new_conversation = any_decision.first() is None
    last_bot = (
        await session.execute(
            select(col(Message.meta))
            .where(col(Message.thread_id) == thread.id, col(Message.author_type) == "bot")
            .order_by(col(Message.created_at).desc(), col(Message.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    choices = tuple(str(c) for c in (last_bot or {}).get("choices", ()) if isinstance(c, str))
    return Previous(
        outcome=last.outcome if last is not None else None,  # type: ignore[arg-type]
        reason=last.reason if last is not None else None,
        language=last.language if last is not None else None,
        choices=choices,
        new_conversation=new_conversation,
    )


async def business_hours(session: Any) -> BusinessHours:
    """The company's opening hours: those set for the web chat (the first site that has any).

    One place to keep them: the widget already shows them to visitors, and the bot tells a
    customer handed over outside them when a person will reply."""
    rows = (
        await session.execute(
            select(col(ChannelAccount.config))
            .where(col(ChannelAccount.channel) == "webchat", col(ChannelAccount.enabled).is_(True))
            .order_by(col(ChannelAccount.created_at))
        )
    ).scalars()
    for config in rows:
        hours = WidgetSettings.from_config(config or {}).hours
        if not hours.always_open:
            return hours
    return BusinessHours()


_DAY_NAMES: dict[Lang, tuple[str, ...]] = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_WHEN = {"nl": "op {day} om {time} ({zone})", "en": "on {day} at {time} ({zone})"}


def when_text(opening: datetime, lang: Lang) -> str:
    """An opening time as the customer reads it: "op maandag om 09:00 (Europe/Amsterdam)"."""
    lang = lang if lang in _WHEN else "en"
    zone = getattr(opening.tzinfo, "key", None) or "UTC"
    return _WHEN[lang].format(day=_DAY_NAMES[lang][opening.weekday()], time=f"{opening:%H:%M}", zone=zone)


async def _away_line(session: Any, rules: RuleSet, lang: Lang, now: datetime | None = None) -> str:
    """Outside business hours: when a person will reply; inside (or without hours): nothing."""
    hours = await business_hours(session)
    moment = now or utcnow()
    if hours.is_open(moment):
        return ""
    opening = hours.next_opening(moment)
    if opening is None:
        return ""
    template = bot_text(rules, "away", lang)
    try:
        return template.format(when=when_text(opening, lang))
    except (KeyError, IndexError, ValueError):
        return template
