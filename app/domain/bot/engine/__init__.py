"""The FAQ bot's matching engine: pure, no I/O, no downloaded models.

``BotEngine(rules).decide(text)`` normalizes the message (``text``), detects its language from
bundled stop-word profiles (``language``), spots requests for a person (``handoff``), scores the
rules with stems, typo correction and keyword evidence (``index``) and returns a ``Decision``.
"""

from app.domain.bot.engine.decision import Candidate, Decision, HandoffReason, Outcome
from app.domain.bot.engine.engine import MAX_QUESTION_CHARS, BotEngine

__all__ = ["MAX_QUESTION_CHARS", "BotEngine", "Candidate", "Decision", "HandoffReason", "Outcome"]
