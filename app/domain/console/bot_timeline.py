"""The bot's part in a thread's timeline: what it did with a message, from the message's ``meta["bot"]``.

The bot's turn stores ``{"decision_id", "outcome", "rule_id", "score"}`` (and for a handoff its
``reason``) on each message it sends and on the system line of a handoff; agents read it as
"Bot answered with delivery-time, score 0.82". Only these known fields are read, each checked, so a
message whose meta is odd shows no note rather than breaking the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.domain.inbox.schemas import MessageOut

_OUTCOMES = {
    "answer": "answered",
    "answered": "answered",
    "suggest": "suggested",
    "suggested": "suggested",
    "handoff": "handoff",
    "greeted": "greeted",
}


@dataclass(frozen=True, slots=True)
class BotNote:
    """What the bot did, as one timeline note says it."""

    outcome: str
    """``answered``, ``suggested``, ``handoff`` or ``greeted``."""
    rule_id: str | None
    score: float | None
    reason: str | None


def _text(value: Any, limit: int = 80) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def bot_note(message: MessageOut) -> BotNote | None:
    """The note for a bot message or a handoff line; ``None`` for every other message."""
    meta = message.meta or {}
    facts = meta.get("bot")
    if not isinstance(facts, dict):
        return None
    outcome = _OUTCOMES.get(str(facts.get("outcome")))
    if outcome is None:
        return None
    score = facts.get("score")
    return BotNote(
        outcome=outcome,
        rule_id=_text(facts.get("rule_id")),
        score=float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
        reason=_text(facts.get("reason"), 40) or _text(meta.get("reason"), 40),
    )


TEMPLATE_FILTERS: dict[str, Any] = {"bot_note": bot_note}
