"""What the bot does with one customer message: the plan, decided without touching the database.

``plan_turn`` takes the engine's view of the message and what the thread remembers (the last
decision, the choices last offered, whether this is a new conversation) and returns a ``Plan``: the
messages to send, the decision to record and whether to hand the thread to people. The action
(``actions.do_bot_turn``) reads that state under the thread's lock and carries the plan out, so the
rules here are testable as plain functions.

The rules: a clear answer is sent, with a "This didn't help" button where the channel draws buttons;
close candidates get "Did you mean …?" (buttons, or numbered lines and ``choices`` where the channel
has none); a handoff phrase, no confident match, a "This didn't help" press, a rule marked
``handoff_after`` or a second miss in a row (a "Did you mean" or a greeting the customer answered with
something the bot again could not place) hand the thread over. A wrong answer is worse than a
handoff, so anything the bot cannot place goes to a person.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.domain.bot.engine import BotEngine, Candidate, Decision
from app.domain.bot.rules import Lang, Rule, RuleSet

Outcome = Literal["answered", "suggested", "handoff", "greeted", "skipped"]

MAX_QUESTION_CHARS = 1000
MAX_BUTTONS = 4
MAX_SUGGESTIONS = 3

RULE_PAYLOAD = "bot:rule:"
NOT_HELPFUL_PAYLOAD = "bot:not_helpful:"
HELPFUL_PAYLOAD = "bot:helpful:"
PERSON_PAYLOAD = "bot:person"

_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")

# The bot's own phrases when the rule set's ``texts`` has none of these keys (RuleSet.text has
# built-in defaults for the contract's keys; these cover the ones the turn adds).
_FALLBACK_TEXTS: Mapping[str, Mapping[Lang, str]] = {
    "did_you_mean": {"nl": "Bedoel je een van deze?", "en": "Did you mean one of these?"},
    "not_helpful": {"nl": "Dit hielp niet", "en": "This didn't help"},
    "person": {"nl": "Een medewerker spreken", "en": "Talk to a person"},
    "pick_number": {
        "nl": "Antwoord met het nummer van je keuze.",
        "en": "Reply with the number of your choice.",
    },
    "away": {
        "nl": "We zijn nu gesloten; een collega antwoordt {when}.",
        "en": "We're closed right now; a colleague will reply {when}.",
    },
}

HANDOFF_LABELS: Mapping[str, str] = {
    "asked_for_person": "the customer asked for a person",
    "no_match": "no rule matched confidently",
    "empty": "the message had no words to match",
    "too_long": "the message was too long to match",
    "unsupported_language": "the message was in a language the bot does not speak",
    "not_helpful": "the customer said the answer did not help",
    "handoff_after": "the rule hands over after answering",
    "second_miss": "the bot missed twice in a row",
    "bot_off": "the bot is switched off",
    "channel_unavailable": "the bot could not reply on this channel",
}
"""Why the bot handed over, as the timeline's system line says it (the reason codes are data)."""


def bot_text(rules: RuleSet, key: str, lang: Lang) -> str:
    """One of the bot's phrases in ``lang``: the rule set's (with its defaults), else ours."""
    try:
        text = rules.text(key, lang)
    except (KeyError, LookupError):
        text = ""
    if text:
        return text
    fallback = _FALLBACK_TEXTS.get(key, {})
    return fallback.get(lang) or fallback.get(rules.default_language) or fallback.get("en", "")


def localized(texts: Mapping[Lang, str], lang: Lang, default_language: Lang) -> str:
    """``texts`` in ``lang``, else in the default language, else ``""``."""
    return texts.get(lang) or texts.get(default_language) or ""


@dataclass(frozen=True, slots=True)
class Previous:
    """What the thread remembers when a message arrives (read by the action under the lock)."""

    outcome: Outcome | None = None
    """The last decision of this episode that was not ``skipped`` (None: the bot has not spoken)."""
    reason: str | None = None
    language: Lang | None = None
    choices: tuple[str, ...] = ()
    """The payloads the bot's last message offered as numbered lines (channels without buttons)."""
    new_conversation: bool = False
    """No decision at all yet on this thread: the greeting's moment."""

    @property
    def missed(self) -> bool:
        """Whether the bot's last turn failed to place the customer's question."""
        return self.outcome == "suggested" or (self.outcome == "greeted" and self.reason == "no_match")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message the bot sends: its text and what goes in its ``meta`` besides ``bot``."""

    text: str
    buttons: tuple[dict[str, str], ...] = ()
    choices: tuple[str, ...] = ()
    greeting: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """What one turn does. ``handoff`` is the reason code when the thread goes to people."""

    outcome: Outcome
    language: Lang
    question: str
    rule_id: str | None = None
    score: float = 0.0
    candidates: tuple[Candidate, ...] = ()
    reason: str | None = None
    messages: tuple[Outgoing, ...] = ()
    handoff: str | None = None
    feedback: tuple[int, Literal["helpful", "not_helpful"]] | None = None
    """A decision id and the customer's verdict on it (from a helpful / not-helpful press)."""
    greeting_first: bool = False
    """Send the greeting (its own ``greeted`` decision) before the plan's other messages."""

    def candidates_json(self) -> list[dict[str, Any]]:
        return [{"rule_id": c.rule_id, "score": round(c.score, 4)} for c in self.candidates]


def picked_payload(text: str, metadata: Mapping[str, Any], previous: Previous) -> str | None:
    """The button the customer pressed, or the numbered choice their reply names."""
    payload = metadata.get("button_payload")
    if isinstance(payload, str) and payload.startswith("bot:"):
        return payload
    match = _NUMBER.match(text)
    # Only right after the numbered question: a "2" later on is the customer's own words.
    if match and previous.choices and previous.outcome == "suggested":
        number = int(match.group(1))
        if 1 <= number <= len(previous.choices):
            return previous.choices[number - 1]
    return None


def plan_turn(
    rules: RuleSet,
    engine: BotEngine,
    *,
    text: str,
    metadata: Mapping[str, Any],
    channel: str,
    buttons: bool,
    previous: Previous,
) -> Plan:
    """Decide what the bot does with one customer message (see the module docstring)."""
    question = text[:MAX_QUESTION_CHARS]
    payload = picked_payload(text, metadata, previous)
    if payload is not None:
        plan = _plan_for_payload(rules, engine, payload, question, channel, buttons, previous)
        if plan is not None:
            return plan
    decision = engine.decide(text, channel=channel)
    return plan_for_decision(
        rules, decision, question=question, channel=channel, buttons=buttons, previous=previous
    )


def plan_for_decision(
    rules: RuleSet,
    decision: Decision,
    *,
    question: str,
    channel: str,
    buttons: bool,
    previous: Previous,
) -> Plan:
    """What the engine's ``decision`` on a typed message becomes, given what the thread remembers."""
    lang = decision.language or rules.default_language
    greet = previous.new_conversation and bool(localized(rules.greeting, lang, rules.default_language))
    if decision.outcome == "answer" and decision.rule_id is not None:
        rule = rules.rule(decision.rule_id)
        answer = decision.answer or (rule.answer_for(lang, rules.default_language, channel) if rule else "")
        return _answer(rules, rule, decision.rule_id, answer, decision, question, lang, buttons, greet)
    if decision.outcome == "suggest" and not previous.missed:
        return _suggest(rules, decision, question, lang, buttons, greet)
    reason = "second_miss" if decision.outcome == "suggest" else decision.reason or "no_match"
    if greet and reason in ("no_match", "empty"):
        # A first "hello" is not a question: the greeting asks for one, and a second miss hands over.
        return Plan(
            outcome="greeted",
            language=lang,
            question=question,
            score=decision.score,
            candidates=decision.candidates,
            reason=reason,
            messages=(Outgoing(localized(rules.greeting, lang, rules.default_language), greeting=True),),
        )
    if reason == "no_match" and previous.missed:
        reason = "second_miss"
    return handoff_plan(rules, question, lang, reason, decision.score, decision.candidates)


def handoff_plan(
    rules: RuleSet,
    question: str,
    lang: Lang,
    reason: str,
    score: float = 0.0,
    candidates: Sequence[Candidate] = (),
    *,
    rule_id: str | None = None,
) -> Plan:
    """Hand the thread to people, telling the customer so (the away line is the action's)."""
    message = ""
    if reason == "unsupported_language":
        # Said in both languages the bot speaks: the customer's own is not one of them.
        message = bot_text(rules, "unsupported_language", lang)
    message = message or bot_text(rules, "handoff", lang)
    return Plan(
        outcome="handoff",
        language=lang,
        question=question,
        rule_id=rule_id,
        score=score,
        candidates=tuple(candidates),
        reason=reason,
        messages=(Outgoing(message),) if message else (),
        handoff=reason,
    )


def _answer(
    rules: RuleSet,
    rule: Rule | None,
    rule_id: str,
    answer: str,
    decision: Decision | None,
    question: str,
    lang: Lang,
    buttons: bool,
    greet: bool,
    *,
    reason: str | None = None,
) -> Plan:
    handoff_after = rule is not None and rule.handoff_after
    # The not-helpful button names the decision, whose id exists only once it is stored: the
    # action fills in "{decision}". A rule that hands over anyway needs no such button.
    shown = (
        ({"label": bot_text(rules, "not_helpful", lang), "payload": NOT_HELPFUL_PAYLOAD + "{decision}"},)
        if buttons and not handoff_after
        else ()
    )
    messages = [Outgoing(answer, buttons=shown)]
    handoff = None
    if handoff_after:
        handoff = "handoff_after"
        message = bot_text(rules, "handoff", lang)
        if message:
            messages.append(Outgoing(message))
    return Plan(
        outcome="answered",
        language=lang,
        question=question,
        rule_id=rule_id,
        score=decision.score if decision else 1.0,
        candidates=decision.candidates if decision else (),
        reason=reason or ("handoff_after" if handoff_after else None),
        messages=tuple(messages),
        handoff=handoff,
        greeting_first=greet,
    )


def _suggest(
    rules: RuleSet, decision: Decision, question: str, lang: Lang, buttons: bool, greet: bool
) -> Plan:
    picks = [
        (candidate, rule)
        for candidate in decision.candidates[:MAX_SUGGESTIONS]
        if (rule := rules.rule(candidate.rule_id)) is not None and rule.enabled
    ]
    options = [
        (rule.title_for(lang, rules.default_language), RULE_PAYLOAD + rule.id) for _candidate, rule in picks
    ]
    options.append((bot_text(rules, "person", lang), PERSON_PAYLOAD))
    header = bot_text(rules, "did_you_mean", lang)
    if buttons:
        message = Outgoing(
            header,
            buttons=tuple({"label": label, "payload": payload} for label, payload in options[:MAX_BUTTONS]),
        )
    else:
        lines = [header, *(f"{number}. {label}" for number, (label, _p) in enumerate(options, start=1))]
        lines.append(bot_text(rules, "pick_number", lang))
        message = Outgoing("\n".join(lines), choices=tuple(payload for _label, payload in options))
    return Plan(
        outcome="suggested",
        language=lang,
        question=question,
        rule_id=picks[0][1].id if picks else None,
        score=decision.score,
        candidates=decision.candidates,
        messages=(message,),
        greeting_first=greet,
    )


def _plan_for_payload(
    rules: RuleSet,
    engine: BotEngine,
    payload: str,
    question: str,
    channel: str,
    buttons: bool,
    previous: Previous,
) -> Plan | None:
    """A pressed button or a picked number; ``None`` for a payload that is no longer good (a
    rule deleted since), which is then read as the words it came with."""
    lang = previous.language or engine.detect_language(question) or rules.default_language
    if payload == PERSON_PAYLOAD:
        return handoff_plan(rules, question, lang, "asked_for_person")
    if payload.startswith(RULE_PAYLOAD):
        rule = rules.rule(payload.removeprefix(RULE_PAYLOAD))
        if rule is None or not rule.enabled:
            return None
        answer = rule.answer_for(lang, rules.default_language, channel)
        return _answer(rules, rule, rule.id, answer, None, question, lang, buttons, False, reason="picked")
    for prefix, verdict in ((NOT_HELPFUL_PAYLOAD, "not_helpful"), (HELPFUL_PAYLOAD, "helpful")):
        if payload.startswith(prefix):
            try:
                decision_id = int(payload.removeprefix(prefix))
            except ValueError:
                return None
            if verdict == "not_helpful":
                plan = handoff_plan(rules, question, lang, "not_helpful")
                return _with_feedback(plan, decision_id, "not_helpful")
            return Plan(
                outcome="skipped",
                language=lang,
                question=question,
                reason="helpful",
                feedback=(decision_id, "helpful"),
            )
    return None


def _with_feedback(plan: Plan, decision_id: int, verdict: Literal["helpful", "not_helpful"]) -> Plan:
    return dataclasses.replace(plan, feedback=(decision_id, verdict))


def greeting_plan(rules: RuleSet, lang: Lang) -> Outgoing | None:
    """The greeting message for a new conversation, when one is configured."""
    text = localized(rules.greeting, lang, rules.default_language)
    return Outgoing(text, greeting=True) if text else None
