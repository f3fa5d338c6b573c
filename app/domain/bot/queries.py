"""What admins read about the bot: per-rule figures, handoffs, and the questions it could not answer.

Everything here reads ``bot_decisions`` (written by the bot's turn, one row per customer message it
looked at) over a time range, through its ``created_at`` and ``(rule_id, created_at)`` indexes: the
counts are grouped in the database; only the unanswered list is grouped here, because it groups
by the question's normalized text, which SQL cannot compute the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import BotDecision, BotDismissal

QUESTION_OUTCOMES = ("answered", "suggested", "handoff")
"""Decisions on a customer's question (a greeting or a button press that needed no answer is none)."""
UNANSWERED_REASONS = ("no_match", "second_miss")
"""Handoffs whose question no rule covered. (A "this didn't help" handoff records the button's
label as its question; the question that was answered badly is the answered decision's, with
``feedback = not_helpful``.)"""
UNANSWERED_SCAN = 5_000
"""How many of the newest unanswered decisions the list groups (older ones wait for a narrower range)."""
KEY_CHARS = 200

_NOT_WORD = re.compile(r"[^\w]+")
_DIGITS = re.compile(r"\d+")


def question_key(text: str) -> str:
    """A question as the unanswered list groups it: case, accents, punctuation, numbers and spacing
    do not matter ("Waar is mijn pakket?!" and "waar is mijn  pakket" are one question)."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    words = _NOT_WORD.sub(" ", _DIGITS.sub("0", plain)).replace("_", " ")
    return " ".join(words.split())[:KEY_CHARS]


@dataclass(frozen=True, slots=True)
class RuleFigures:
    """One rule's figures in a range: answers sent, and what customers said about them."""

    rule_id: str
    answered: int = 0
    suggested: int = 0
    helpful: int = 0
    not_helpful: int = 0

    @property
    def rated(self) -> int:
        return self.helpful + self.not_helpful

    @property
    def helpful_share(self) -> float | None:
        """Helpful presses among the rated answers; ``None`` when nobody rated one."""
        return self.helpful / self.rated if self.rated else None


@dataclass(frozen=True, slots=True)
class BotSummary:
    """The bot's work in a range: questions, how many it answered, and why it handed the rest over."""

    questions: int
    answered: int
    suggested: int
    handoffs: int
    handoffs_by_reason: dict[str, int]
    helpful: int
    not_helpful: int

    @property
    def answered_share(self) -> float | None:
        """Answered questions among all questions; ``None`` without questions."""
        return self.answered / self.questions if self.questions else None


@dataclass(slots=True)
class UnansweredQuestion:
    """One question (grouped by ``question_key``) the bot handed over or answered unhelpfully."""

    key: str
    text: str
    """The newest phrasing, as the customer wrote it."""
    count: int
    last_asked: datetime
    language: str | None
    thread_id: int
    """The thread of the newest ask (for the admin to read the conversation)."""
    reasons: dict[str, int] = field(default_factory=dict)


def _in_range(start: datetime | None, end: datetime | None) -> list[object]:
    conditions: list[object] = []
    if start is not None:
        conditions.append(col(BotDecision.created_at) >= start)
    if end is not None:
        conditions.append(col(BotDecision.created_at) < end)
    return conditions


async def rule_figures(
    session: AsyncSession, *, start: datetime | None = None, end: datetime | None = None
) -> dict[str, RuleFigures]:
    """Per rule id: answered and suggested counts, helpful and not-helpful feedback, in [start, end)."""
    rows = await session.execute(
        select(
            col(BotDecision.rule_id),
            col(BotDecision.outcome),
            col(BotDecision.feedback),
            func.count(),
        )
        .where(col(BotDecision.rule_id).is_not(None), *_in_range(start, end))  # type: ignore[arg-type]
        .group_by(col(BotDecision.rule_id), col(BotDecision.outcome), col(BotDecision.feedback))
    )
    counts: dict[str, dict[str, int]] = {}
    for rule_id, outcome, feedback, number in rows.all():
        figures = counts.setdefault(
            str(rule_id), {"answered": 0, "suggested": 0, "helpful": 0, "not_helpful": 0}
        )
        if outcome in ("answered", "suggested"):
            figures[outcome] += number
        if outcome == "answered" and feedback in ("helpful", "not_helpful"):
            figures[feedback] += number
    return {rule_id: RuleFigures(rule_id, **figures) for rule_id, figures in counts.items()}


async def bot_summary(
    session: AsyncSession, *, start: datetime | None = None, end: datetime | None = None
) -> BotSummary:
    """Questions, answers, suggestions, handoffs by reason and feedback in [start, end)."""
    rows = await session.execute(
        select(col(BotDecision.outcome), col(BotDecision.reason), col(BotDecision.feedback), func.count())
        .where(col(BotDecision.outcome).in_(QUESTION_OUTCOMES), *_in_range(start, end))  # type: ignore[arg-type]
        .group_by(col(BotDecision.outcome), col(BotDecision.reason), col(BotDecision.feedback))
    )
    by_outcome = dict.fromkeys(QUESTION_OUTCOMES, 0)
    by_reason: dict[str, int] = {}
    feedback_counts = {"helpful": 0, "not_helpful": 0}
    for outcome, reason, feedback, number in rows.all():
        by_outcome[outcome] += number
        if outcome == "handoff":
            key = str(reason or "no_match")
            by_reason[key] = by_reason.get(key, 0) + number
        if outcome == "answered" and feedback in feedback_counts:
            feedback_counts[feedback] += number
    return BotSummary(
        questions=sum(by_outcome.values()),
        answered=by_outcome["answered"],
        suggested=by_outcome["suggested"],
        handoffs=by_outcome["handoff"],
        handoffs_by_reason=dict(sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))),
        helpful=feedback_counts["helpful"],
        not_helpful=feedback_counts["not_helpful"],
    )


async def dismissals(session: AsyncSession, keys: Iterable[str]) -> dict[str, datetime]:
    """When each of ``keys`` was last dismissed (keys never dismissed are absent)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    found: dict[str, datetime] = {}
    for start in range(0, len(wanted), 500):  # stay far below any bound-parameter limit
        rows = await session.execute(
            select(col(BotDismissal.key), col(BotDismissal.dismissed_at)).where(
                col(BotDismissal.key).in_(wanted[start : start + 500])
            )
        )
        found.update({key: at for key, at in rows.all()})
    return found


async def unanswered_questions(
    session: AsyncSession,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
) -> list[UnansweredQuestion]:
    """The questions the bot could not answer (no rule matched, missed twice, or its answer did not
    help), grouped by ``question_key`` with how often each was asked, the most recently asked first.
    A dismissed question shows only the asks since its dismissal (none: it is not listed)."""
    unanswered = or_(
        and_(col(BotDecision.outcome) == "handoff", col(BotDecision.reason).in_(UNANSWERED_REASONS)),
        col(BotDecision.feedback) == "not_helpful",
    )
    rows = (
        await session.execute(
            select(
                col(BotDecision.question),
                col(BotDecision.created_at),
                col(BotDecision.language),
                col(BotDecision.thread_id),
                col(BotDecision.reason),
                col(BotDecision.feedback),
            )
            .where(unanswered, col(BotDecision.question) != "", *_in_range(start, end))  # type: ignore[arg-type]
            .order_by(col(BotDecision.created_at).desc(), col(BotDecision.id).desc())
            .limit(UNANSWERED_SCAN)
        )
    ).all()
    keyed = [(question_key(row.question), row) for row in rows]
    dismissed = await dismissals(session, (key for key, _ in keyed if key))
    groups: dict[str, UnansweredQuestion] = {}
    for key, row in keyed:
        since = dismissed.get(key)
        if not key or (since is not None and _aware(row.created_at) <= _aware(since)):
            continue
        reason = "not_helpful" if row.feedback == "not_helpful" else str(row.reason)
        group = groups.get(key)
        if group is None:  # rows come newest first: the first one names the group
            group = groups[key] = UnansweredQuestion(
                key=key,
                text=row.question,
                count=0,
                last_asked=row.created_at,
                language=row.language,
                thread_id=row.thread_id,
            )
        group.count += 1
        group.reasons[reason] = group.reasons.get(reason, 0) + 1
    return list(groups.values())[:limit]


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive UTC times; compare like with like."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
