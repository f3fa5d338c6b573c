"""The compiled index of one language's rules and the scoring of a message against it.

Each rule becomes a bag of stems (its example questions, keywords and synonyms).  A stem's weight is
its BM25 inverse rule frequency: a word only one rule uses ("retourlabel") weighs far more than one
most rules share ("bestelling").  A message's confidence for a rule blends three kinds of evidence,
each in [0, 1]:

- coverage: the share of the message's (weighted) words the rule knows at all;
- closeness: the weighted Dice overlap with the rule's single closest example question;
- keyword: whether one of the rule's keywords or synonyms occurs, weighted by how specific it is.

Words the rules never use still count in the message's weight, so "what's the weather in Paris"
scores low everywhere instead of matching on one shared word.  Typos are mapped to the nearest
vocabulary word with the same first letter (Levenshtein: 1 edit up to 7 letters, 2 beyond) at a small
discount, and Dutch compounds are split or joined ("kortings code" ~ "kortingscode", "retourlabel" ~
"retour" + "label").
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from app.domain.bot.engine.lexicon import stemmer, stop_words
from app.domain.bot.engine.text import words
from app.domain.bot.rules import Lang, Rule

COVERAGE_WEIGHT = 0.35
CLOSENESS_WEIGHT = 0.30
KEYWORD_WEIGHT = 0.35
TYPO_FACTOR = 0.8  # a corrected word counts a little less than a correctly spelled one
OOV_WEIGHT = 1.5  # a word no rule uses hints at another subject (a word unique to one of 19 rules: ~2.6)
MIN_SPLIT_PART = 3
# A stem in more than this share of the rules (and at least COMMON_MIN_RULES of them: "how", "order",
# "kost" in a big FAQ) still weighs in, but only on rules that a rarer word of the message brought in.
# Without this, every message would score every rule; with it, the cost follows the specific words.
COMMON_SHARE = 0.1
COMMON_MIN_RULES = 50


@dataclass(frozen=True, slots=True)
class _Term:
    stem: str | None  # None: a word the rules don't know
    weight: float
    factor: float


class LanguageIndex:
    """All enabled rules' evidence in one language, compiled once."""

    def __init__(self, lang: Lang, rules: Iterable[Rule]) -> None:
        self.lang = lang
        self._stem: Callable[[str], str] = stemmer(lang)
        self._stops = stop_words(lang)
        self.vocabulary: dict[str, str] = {}  # folded word → stem, for typo correction
        raw: list[tuple[str, list[frozenset[str]], list[frozenset[str]]]] = []
        for rule in rules:
            examples = [self._stems_of(q) for q in rule.questions.get(lang, ())]
            keywords = [
                self._stems_of(k) for k in (*rule.keywords.get(lang, ()), *rule.synonyms.get(lang, ()))
            ]
            examples = [e for e in examples if e]
            keywords = [k for k in keywords if k]
            if examples or keywords:
                raw.append((rule.id, examples, keywords))
        df: dict[str, int] = defaultdict(int)
        for _, examples, keywords in raw:
            for stem in frozenset().union(*examples, *keywords):
                df[stem] += 1
        n = max(len(raw), 1)
        self.idf = {stem: math.log(1 + (n - count + 0.5) / (count + 0.5)) for stem, count in df.items()}
        self._unique_idf = math.log(1 + (n - 0.5) / 1.5)
        # Posting lists, so a message touches only the rules, examples and keywords sharing a stem
        # with it: the cost follows the message's words, not the number of rules.
        self._rule_ids: list[str] = []
        self._rule_postings: dict[str, list[int]] = defaultdict(list)
        self._example_postings: dict[str, list[int]] = defaultdict(list)
        self._example_rule: list[int] = []
        self._example_weight: list[float] = []
        self._keyword_postings: dict[str, list[int]] = defaultdict(list)
        self._keyword_rule: list[int] = []
        self._keyword_stems: list[frozenset[str]] = []
        self._keyword_strength: list[float] = []
        self._rule_terms: list[frozenset[str]] = []
        self._rule_examples: list[range] = []
        self._example_stems: list[frozenset[str]] = []
        self._common = frozenset(
            s for s, count in df.items() if count > max(COMMON_MIN_RULES, COMMON_SHARE * n)
        )
        for rule_id, examples, keywords in raw:
            r = len(self._rule_ids)
            self._rule_ids.append(rule_id)
            self._rule_terms.append(frozenset().union(*examples, *keywords))
            first = len(self._example_rule)
            self._rule_examples.append(range(first, first + len(examples)))
            self._example_stems.extend(examples)
            for stem in frozenset().union(*examples, *keywords):
                self._rule_postings[stem].append(r)
            for example in examples:
                for stem in example:
                    self._example_postings[stem].append(len(self._example_rule))
                self._example_rule.append(r)
                self._example_weight.append(sum(self.idf[stem] for stem in example))
            for phrase in keywords:
                # A keyword is found through its rarest stem; the others are checked then.
                rarest = max(phrase, key=lambda stem: self.idf[stem])
                self._keyword_postings[rarest].append(len(self._keyword_rule))
                self._keyword_rule.append(r)
                self._keyword_stems.append(phrase)
                strength = sum(self.idf[stem] for stem in phrase) / self._unique_idf
                self._keyword_strength.append(min(1.0, strength))
        # Typos rarely hit the first letter; matching only words that share it avoids "kopen" → "open".
        self._by_initial: dict[str, list[str]] = defaultdict(list)
        for word in self.vocabulary:
            self._by_initial[word[0]].append(word)

    def _stems_of(self, phrase: str) -> frozenset[str]:
        stems = set()
        for word in words(phrase):
            if word in self._stops:
                continue
            stem = self._stem(word)
            self.vocabulary.setdefault(word, stem)
            stems.add(stem)
        return frozenset(stems)

    # --- a message --------------------------------------------------------------------------------

    def _known(self, word: str) -> str | None:
        """The stem of ``word`` if the rules use it (in any form), else None."""
        stem = self._stem(word)
        if stem in self.idf:
            return stem
        # Dutch past participles: "geretourneerd" is "retourneerd" to a Snowball stemmer's eyes.
        if word.startswith("ge") and len(word) > 6:
            stem = self._stem(word[2:])
            return stem if stem in self.idf else None
        return None

    def _terms(self, message_words: list[str]) -> list[_Term]:
        content = [w for w in message_words if w not in self._stops]
        terms: dict[str, _Term] = {}
        unknown = 0
        i = 0
        while i < len(content):
            word = content[i]
            # "kortings code" → "kortingscode": two words the rules write as one.
            if i + 1 < len(content) and (joined := self._known(word + content[i + 1])) is not None:
                self._add(terms, joined, 1.0)
                i += 2
                continue
            known = self._known(word)
            found = (known, 1.0) if known is not None else self._correct(word)
            if found is not None:
                self._add(terms, *found)
            elif parts := self._split(word):
                for part in parts:
                    self._add(terms, part, TYPO_FACTOR)
            else:
                unknown += 1
            i += 1
        out = list(terms.values())
        out.extend(_Term(None, OOV_WEIGHT, 1.0) for _ in range(unknown))
        return out

    def _add(self, terms: dict[str, _Term], stem: str, factor: float) -> None:
        known = terms.get(stem)
        if known is None or known.factor < factor:
            terms[stem] = _Term(stem, self.idf[stem], factor)

    def _correct(self, word: str) -> tuple[str, float] | None:
        """The vocabulary word ``word`` is probably a typo of, and the discount for guessing."""
        choices = self._by_initial.get(word[0])
        if len(word) < 4 or not choices:
            return None
        edits = 1 if len(word) < 8 else 2
        best = process.extractOne(word, choices, scorer=Levenshtein.distance, score_cutoff=edits)
        if best is None:
            return None
        return self.vocabulary[best[0]], TYPO_FACTOR

    def _split(self, word: str) -> tuple[str, str] | None:
        """A compound the rules know as two words: "retourlabel" → ("retour", "label")."""
        for cut in range(MIN_SPLIT_PART, len(word) - MIN_SPLIT_PART + 1):
            head, tail = self._known(word[:cut]), self._known(word[cut:])
            if head is not None and tail is not None:
                return head, tail
        return None

    def score(self, message_words: list[str], limit: int) -> list[tuple[str, float]]:
        """The ``limit`` best rules for the message, best first, with confidences in [0, 1]."""
        terms = self._terms(message_words)
        total = sum(t.weight for t in terms)
        if total <= 0:
            return []
        stems = {t.stem: t.weight * t.factor for t in terms if t.stem is not None}
        coverage: dict[int, float] = defaultdict(float)
        shared: dict[int, float] = defaultdict(float)
        keyword: dict[int, float] = {}
        common = [(stem, value) for stem, value in stems.items() if stem in self._common]
        for stem, value in stems.items():
            if stem in self._common:
                continue
            for r in self._rule_postings.get(stem, ()):
                coverage[r] += value
            for x in self._example_postings.get(stem, ()):
                shared[x] += value
            for k in self._keyword_postings.get(stem, ()):
                if self._keyword_stems[k] <= stems.keys():
                    r = self._keyword_rule[k]
                    keyword[r] = max(keyword.get(r, 0.0), self._keyword_strength[k])
        for r in list(coverage) if common else ():
            known = self._rule_terms[r]
            for stem, value in common:
                if stem in known:
                    coverage[r] += value
                    for x in self._rule_examples[r]:
                        if stem in self._example_stems[x]:
                            shared[x] += value
        closeness: dict[int, float] = {}
        for x, value in shared.items():
            r, dice = self._example_rule[x], 2 * value / (total + self._example_weight[x])
            if dice > closeness.get(r, 0.0):
                closeness[r] = dice
        scores = {
            r: COVERAGE_WEIGHT * value / total
            + CLOSENESS_WEIGHT * closeness.get(r, 0.0)
            + KEYWORD_WEIGHT * keyword.get(r, 0.0)
            for r, value in coverage.items()
        }
        best = heapq.nlargest(limit, scores.items(), key=lambda item: (item[1], -item[0]))
        return [(self._rule_ids[r], min(1.0, score)) for r, score in best]
