"""``BotEngine``: compiles a ``RuleSet`` once, then decides per message: answer, suggest or hand off."""

from __future__ import annotations

from app.domain.bot.engine.decision import Candidate, Decision, HandoffReason
from app.domain.bot.engine.handoff import HandoffMatcher
from app.domain.bot.engine.index import LanguageIndex
from app.domain.bot.engine.language import LanguageDetector
from app.domain.bot.engine.text import has_content, words
from app.domain.bot.rules import Lang, RuleSet

# Longer than this is a letter, not a FAQ question: a person reads it (decided before any parsing,
# so 20,000 characters cost nothing).  Matches the 1,000 characters a bot decision stores.
MAX_QUESTION_CHARS = 1000
SUGGEST_FLOOR_FACTOR = 0.7  # below threshold * this, nothing is even suggested
MAX_SUGGESTIONS = 3
MAX_CANDIDATES = 5


class BotEngine:
    """The pure decision engine for one rule set (no I/O; build one per rule-set version).

    Disabled rules are left out at compile time.  Whether the bot as a whole is on
    (``RuleSet.enabled``) is the caller's business: the engine decides whenever it is asked.
    """

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        enabled = [rule for rule in rules.rules if rule.enabled]
        self._rules = {rule.id: rule for rule in enabled}
        langs = sorted({lang for rule in enabled for lang, qs in rule.questions.items() if qs})
        self._indexes = {lang: LanguageIndex(lang, enabled) for lang in langs}
        self._detector = LanguageDetector({lang: index.vocabulary for lang, index in self._indexes.items()})
        self._handoff = HandoffMatcher(rules.handoff_phrases)
        self._suggest_floor = rules.answer_threshold * SUGGEST_FLOOR_FACTOR

    @property
    def languages(self) -> tuple[Lang, ...]:
        """The languages the engine can answer in (those with example questions)."""
        return tuple(self._indexes)

    def detect_language(self, text: str) -> Lang | None:
        """The language of ``text``: an answerable one, a recognised foreign one, or None when unsure."""
        return self._detector.detect(text, words(text[: MAX_QUESTION_CHARS * 2]))

    def decide(self, text: str, *, language: Lang | None = None, channel: str | None = None) -> Decision:
        """Answer, suggest or hand off for one customer message.

        ``language`` forces the language (e.g. the thread's, when known); ``channel`` picks a rule's
        per-channel answer variant.
        """
        default = self.rules.default_language
        if language is not None and language not in self._indexes:
            language = None  # a thread language we cannot answer in: detect instead
        if not has_content(text):
            return _handoff(language or default, "empty")
        if len(text) > MAX_QUESTION_CHARS:
            return _handoff(language or default, "too_long")
        message_words = words(text)
        detected = language or self._detector.detect(text, message_words)
        if self._handoff.matches(message_words):
            return _handoff(detected or default, "asked_for_person")
        if detected is not None and detected not in self._indexes:
            return _handoff(detected, "unsupported_language")
        lang, candidates = self._rank(message_words, detected)
        return self._verdict(lang or default, candidates, channel)

    def _rank(self, message_words: list[str], lang: Lang | None) -> tuple[Lang | None, list[Candidate]]:
        """Candidates best first, in ``lang``; when the language is unsure, in whichever scores best."""
        langs = [lang] if lang is not None else list(self._indexes)
        best_lang: Lang | None = lang
        best: list[Candidate] = []
        for code in langs:
            scored = [
                Candidate(rule_id, score)
                for rule_id, score in self._indexes[code].score(message_words, MAX_CANDIDATES)
            ]
            if scored and (not best or scored[0].score > best[0].score):
                best_lang, best = code, scored
        return best_lang, best

    def _verdict(self, lang: Lang, ranked: list[Candidate], channel: str | None) -> Decision:
        top = tuple(ranked[:MAX_CANDIDATES])
        if not top or top[0].score < self._suggest_floor:
            return _handoff(lang, "no_match", top)
        first = top[0]
        runner_up = top[1].score if len(top) > 1 else 0.0
        margin = self.rules.ambiguity_margin
        if first.score >= self.rules.answer_threshold and first.score - runner_up >= margin:
            rule = self._rules[first.rule_id]
            answer = rule.answer_for(lang, self.rules.default_language, channel)
            return Decision("answer", lang, rule.id, answer, first.score, top, None)
        close = tuple(
            c.rule_id
            for c in top[:MAX_SUGGESTIONS]
            if c.score >= self._suggest_floor and first.score - c.score < margin
        )
        return Decision("suggest", lang, None, None, first.score, top, None, suggestions=close)


def _handoff(lang: Lang, reason: HandoffReason, candidates: tuple[Candidate, ...] = ()) -> Decision:
    score = candidates[0].score if candidates else 0.0
    return Decision("handoff", lang, None, None, score, candidates, reason)
