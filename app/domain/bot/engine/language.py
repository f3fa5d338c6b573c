"""Which language a message is in, from bundled stop-word profiles (no downloaded model).

Each stop word is evidence for the languages that use it, shared between them ("de" is Dutch, French
and Spanish).  Words from the rules' own vocabulary count too, so a one-word question like
"levertijd?" is recognised as Dutch.  Letters like ß, ç or ñ hint at German, French or Spanish.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from app.domain.bot.engine.lexicon import STOP_WORDS
from app.domain.bot.rules import Lang

_HINT_LETTERS = {"ß": "de", "ä": "de", "ö": "de", "ü": "de", "ç": "fr", "ê": "fr", "à": "fr", "è": "fr",
                 "œ": "fr", "ñ": "es", "¿": "es", "¡": "es"}  # fmt: skip
_VOCABULARY_WEIGHT = 0.75
MIN_EVIDENCE = 0.5  # less than this (e.g. "ok", a bare product name): unsure
FOREIGN_MIN = 1.5  # a recognised-only language needs at least this much evidence…
FOREIGN_RATIO = 1.5  # …and this many times the best answerable language's


class LanguageDetector:
    """Scores a message's words against stop-word profiles plus each answerable language's vocabulary."""

    def __init__(self, vocabularies: Mapping[Lang, Iterable[str]]) -> None:
        weights: dict[str, dict[Lang, float]] = defaultdict(dict)
        for lang, words in STOP_WORDS.items():
            for word in words:
                weights[word][lang] = 1.0
        own: dict[str, set[Lang]] = defaultdict(set)
        for lang, vocabulary in vocabularies.items():
            for word in vocabulary:
                own[word].add(lang)
        for word, langs in own.items():
            if len(langs) == 1 and word not in weights:
                weights[word][next(iter(langs))] = _VOCABULARY_WEIGHT
        # A word shared by k languages is 1/k evidence for each.
        self._weights = {
            word: {lang: w / len(by_lang) for lang, w in by_lang.items()} for word, by_lang in weights.items()
        }
        self.answerable = frozenset(vocabularies)

    def scores(self, raw_text: str, words: list[str]) -> dict[Lang, float]:
        """Evidence per language for a message (``words`` are its folded words)."""
        totals: dict[Lang, float] = defaultdict(float)
        for word in words:
            for lang, weight in self._weights.get(word, {}).items():
                totals[lang] += weight
        lowered = raw_text.lower()
        hinted = {lang for ch, lang in _HINT_LETTERS.items() if ch in lowered}
        for lang in hinted:
            totals[lang] += 1.0
        return dict(totals)

    def detect(self, raw_text: str, words: list[str]) -> Lang | None:
        """The message's language; None when there is too little to tell.

        A language the bot cannot answer in wins only on clear evidence, so an English or Dutch
        question with one look-alike word ("die", "de") is not turned away.
        """
        totals = self.scores(raw_text, words)
        if not totals:
            return None
        best = max(totals, key=lambda lang: totals[lang])
        if totals[best] < MIN_EVIDENCE:
            return None
        if best in self.answerable:
            return best
        own = [lang for lang in totals if lang in self.answerable]
        best_own = max(own, key=lambda lang: totals[lang]) if own else None
        own_score = totals[best_own] if best_own else 0.0
        if totals[best] >= FOREIGN_MIN and totals[best] >= FOREIGN_RATIO * own_score:
            return best
        return best_own if own_score >= MIN_EVIDENCE else None
