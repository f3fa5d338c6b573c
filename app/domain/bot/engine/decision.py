"""What the engine decides for one customer message (``Decision``), with the candidates it weighed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from app.domain.bot.rules import Lang

Outcome = Literal["answer", "suggest", "handoff"]
HandoffReason = Literal["asked_for_person", "no_match", "empty", "too_long", "unsupported_language"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A rule the message may be about, with its confidence in [0, 1]."""

    rule_id: str
    score: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's verdict: answer with a rule, suggest a few ("Did you mean …?"), or hand off (and why).

    For ``suggest``, ``suggestions`` holds the rule ids to offer (one to three, best first);
    ``candidates`` always holds the best five enabled rules with their scores, for the record.
    """

    outcome: Outcome
    language: Lang
    rule_id: str | None
    answer: str | None
    score: float
    candidates: tuple[Candidate, ...]
    reason: HandoffReason | None
    suggestions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``POST /api/v1/bot/try`` answers with)."""
        return {
            "outcome": self.outcome,
            "language": self.language,
            "rule_id": self.rule_id,
            "answer": self.answer,
            "score": round(self.score, 4),
            "candidates": [{"rule_id": c.rule_id, "score": round(c.score, 4)} for c in self.candidates],
            "reason": self.reason,
            "suggestions": list(self.suggestions),
        }
