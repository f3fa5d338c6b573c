"""Spotting "I want a person" in a message: the rule set's handoff phrases, typo-tolerant but whole-word.

A phrase matches when its words appear in order as whole words of the message.  A word matches
when it is equal, has the same Snowball stem ("medewerkers" ~ "medewerker"), or — when both words
have five letters or more — is one edit away ("medewerkr"; not "humna": two edits; not "Gent", the
city, for "agent").  Matching whole words keeps "agent" from matching inside "agenda".
"""

from __future__ import annotations

from collections.abc import Mapping

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from app.domain.bot.engine.lexicon import stemmer
from app.domain.bot.engine.text import words
from app.domain.bot.rules import Lang

MIN_TYPO_LENGTH = 5  # shorter words must match exactly: "agent"/"agend" is fine, "mens"/"mans" is not


class HandoffMatcher:
    """Finds any of the rule set's handoff phrases (all languages) in a message's words."""

    def __init__(self, phrases: Mapping[Lang, tuple[str, ...]]) -> None:
        self._stemmers = [stemmer(lang) for lang in phrases]
        compiled: set[tuple[str, ...]] = set()
        self._by_stem: dict[str, set[str]] = {}
        for lang, items in phrases.items():
            stem = stemmer(lang)
            for phrase in items:
                parts = tuple(words(phrase))
                if parts:
                    compiled.add(parts)
                for word in parts:
                    self._by_stem.setdefault(stem(word), set()).add(word)
        self._phrases = sorted(compiled)
        self._phrase_words = frozenset(word for phrase in compiled for word in phrase)
        self._typo_words = tuple(sorted(w for w in self._phrase_words if len(w) >= MIN_TYPO_LENGTH))

    def _phrase_words_matched_by(self, word: str) -> set[str]:
        found = {word} & self._phrase_words
        for stem in self._stemmers:
            found |= self._by_stem.get(stem(word), set())
        if len(word) >= MIN_TYPO_LENGTH:  # "gent" (the city) is not a typo of "agent"
            close = process.extract(
                word, self._typo_words, scorer=Levenshtein.distance, score_cutoff=1, limit=None
            )
            found.update(candidate for candidate, _, _ in close)
        return found

    def matches(self, message_words: list[str]) -> bool:
        """Whether the message asks for a person."""
        if not self._phrases or not message_words:
            return False
        matched = [self._phrase_words_matched_by(word) for word in message_words]
        starts: dict[str, list[int]] = {}
        for position, found in enumerate(matched):
            for word in found:
                starts.setdefault(word, []).append(position)
        for phrase in self._phrases:
            for start in starts.get(phrase[0], ()):
                rest = matched[start + 1 : start + len(phrase)]
                if len(rest) == len(phrase) - 1 and all(
                    w in m for w, m in zip(phrase[1:], rest, strict=True)
                ):
                    return True
        return False
