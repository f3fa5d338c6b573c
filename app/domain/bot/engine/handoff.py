"""Spotting "I want a person" in a message: the rule set's handoff phrases, typo-tolerant but whole-word.

A phrase matches when its words appear in order as whole words of the message.  A word matches when it
is equal, has the same Snowball stem ("medewerkers" ~ "medewerker"), or — for words of five letters or
more — is one edit away ("medewerkr", "humna" no: two edits).  Matching whole words is what keeps
"agent" from matching inside "agenda" or "management".
"""

from __future__ import annotations

from collections.abc import Mapping

from rapidfuzz.distance import Levenshtein

from app.domain.bot.engine.lexicon import stemmer
from app.domain.bot.engine.text import words
from app.domain.bot.rules import Lang

MIN_TYPO_LENGTH = 5  # shorter words must match exactly: "agent"/"agend" is fine, "mens"/"mans" is not


class HandoffMatcher:
    """Finds any of the rule set's handoff phrases (all languages) in a message's words."""

    def __init__(self, phrases: Mapping[Lang, tuple[str, ...]]) -> None:
        compiled: set[tuple[tuple[str, str], ...]] = set()
        for lang, items in phrases.items():
            stem = stemmer(lang)
            for phrase in items:
                parts = tuple((w, stem(w)) for w in words(phrase))
                if parts:
                    compiled.add(parts)
        self._phrases = sorted(compiled)
        self._stemmers = [stemmer(lang) for lang in phrases]

    def matches(self, message_words: list[str]) -> bool:
        """Whether the message asks for a person."""
        if not self._phrases or not message_words:
            return False
        stems = [{s(w) for s in self._stemmers} | {w} for w in message_words]
        for phrase in self._phrases:
            n = len(phrase)
            for start in range(len(message_words) - n + 1):
                if all(
                    _word_matches(word, stem, message_words[start + i], stems[start + i])
                    for i, (word, stem) in enumerate(phrase)
                ):
                    return True
        return False


def _word_matches(word: str, stem: str, candidate: str, candidate_stems: set[str]) -> bool:
    if candidate == word or stem in candidate_stems:
        return True
    if len(word) < MIN_TYPO_LENGTH or abs(len(word) - len(candidate)) > 1:
        return False
    return Levenshtein.distance(word, candidate, score_cutoff=1) <= 1
