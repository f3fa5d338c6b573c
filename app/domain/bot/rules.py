"""The bot's rules: what it knows (``Rule``), how it behaves (``RuleSet``) and their document shape.

``RuleSet.to_dict()`` / ``RuleSet.from_dict()`` are the one document shape shared by the YAML import and
export, the JSON API and the database (each rule's dict is one ``bot_rules`` row).  ``from_dict`` checks
everything and raises ``RulesError`` with the path of the offending value, so the YAML loader can turn the
path into a line number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Lang = str  # "nl", "en", … (ISO 639-1)

# The engine's defaults (tuned on tests/unit/bot/eval_set.yaml); a rule set may override them.
DEFAULT_ANSWER_THRESHOLD = 0.45
DEFAULT_AMBIGUITY_MARGIN = 0.12

_ID_RE = re.compile(r"[a-z0-9][a-z0-9\-_]{0,79}\Z")
_LANG_RE = re.compile(r"[a-z]{2,3}\Z")
_CHANNEL_RE = re.compile(r"[a-z][a-z0-9_\-]{0,39}\Z")
_TEXT_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")
MAX_RULES = 5000
MAX_TEXT_CHARS = 4000  # an answer, a greeting, a bot text
MAX_PHRASE_CHARS = 500  # a question, a keyword, a handoff phrase

Path = tuple[str | int, ...]

_RULE_KEYS = frozenset(
    {
        "id",
        "title",
        "questions",
        "keywords",
        "synonyms",
        "answer",
        "channel_answers",
        "handoff_after",
        "enabled",
    }
)
_SET_KEYS = frozenset(
    {
        "default_language",
        "enabled",
        "answer_threshold",
        "ambiguity_margin",
        "greeting",
        "texts",
        "handoff",
        "rules",
    }
)
_HANDOFF_KEYS = frozenset({"phrases", "message"})

# Bot phrases with built-in Dutch and English wording; a rule set's ``texts`` overrides them per language.
BUILTIN_TEXTS: Mapping[str, Mapping[Lang, str]] = {
    "handoff": {"nl": "Ik verbind je met een collega.", "en": "Let me get a colleague for you."},
    "did_you_mean": {"nl": "Bedoel je een van deze?", "en": "Did you mean one of these?"},
    "pick_number": {
        "nl": "Antwoord met het nummer van je keuze.",
        "en": "Reply with the number of your choice.",
    },
    "helpful": {"nl": "Dit hielp", "en": "This helped"},
    "not_helpful": {"nl": "Dit hielp niet", "en": "This didn't help"},
    "person": {"nl": "Met een medewerker praten", "en": "Talk to a person"},
    "away": {
        "nl": "We zijn nu gesloten; een collega antwoordt {when}.",
        "en": "We're closed right now; a colleague will reply {when}.",
    },
    "unsupported_language": {
        "nl": "Sorry, ik begrijp alleen Nederlands en Engels. Een collega helpt je verder.",
        "en": "Sorry, I only understand English and Dutch. A colleague will help you.",
    },
}

# Used when a rule set has no ``handoff`` section at all.
DEFAULT_HANDOFF_PHRASES: Mapping[Lang, tuple[str, ...]] = {
    "nl": ("medewerker", "mens spreken", "iemand spreken", "persoon spreken", "klantenservice bellen"),
    "en": ("human", "agent", "talk to a person", "real person", "speak to someone"),
}


class RulesError(ValueError):
    """A rule set that cannot be used: ``reason`` says why, ``line`` (1-based) where, when known."""

    def __init__(
        self, reason: str, *, line: int | None = None, rule_id: str | None = None, path: Path = ()
    ) -> None:
        self.reason = reason
        self.line = line
        self.rule_id = rule_id
        self.path = (
            path  # where in the document, e.g. ("rules", 3, "answer"); the YAML loader maps it to a line
        )
        super().__init__(f"line {line}: {reason}" if line is not None else reason)

    def at_line(self, line: int | None) -> RulesError:
        """The same error, located at ``line``."""
        return RulesError(self.reason, line=line, rule_id=self.rule_id, path=self.path)


@dataclass(frozen=True, slots=True)
class Rule:
    """One question the bot can answer: example phrasings, keywords and the answer, per language."""

    id: str
    questions: Mapping[Lang, tuple[str, ...]]
    keywords: Mapping[Lang, tuple[str, ...]] = field(default_factory=dict)
    answer: Mapping[Lang, str] = field(default_factory=dict)
    title: Mapping[Lang, str] = field(default_factory=dict)
    synonyms: Mapping[Lang, tuple[str, ...]] = field(default_factory=dict)
    channel_answers: Mapping[str, Mapping[Lang, str]] = field(default_factory=dict)
    handoff_after: bool = False
    enabled: bool = True

    def answer_for(self, lang: Lang, default_language: Lang, channel: str | None = None) -> str:
        """The answer in ``lang`` (else the default language), the channel's variant first."""
        variant = self.channel_answers.get(channel, {}) if channel else {}
        for texts, key in ((variant, lang), (self.answer, lang), (variant, default_language)):
            if key in texts:
                return texts[key]
        return self.answer.get(default_language, "")

    def title_for(self, lang: Lang, default_language: Lang) -> str:
        """A short label for "Did you mean …?": the title, else the first example question."""
        for key in (lang, default_language):
            if key in self.title:
                return self.title[key]
            if self.questions.get(key):
                return self.questions[key][0]
        return self.id

    def to_dict(self) -> dict[str, Any]:
        """The rule's document shape (empty and default fields left out)."""
        data: dict[str, Any] = {"id": self.id}
        if self.title:
            data["title"] = dict(self.title)
        data["questions"] = {lang: list(qs) for lang, qs in self.questions.items()}
        for name, words in (("keywords", self.keywords), ("synonyms", self.synonyms)):
            if words:
                data[name] = {lang: list(ws) for lang, ws in words.items()}
        data["answer"] = dict(self.answer)
        if self.channel_answers:
            data["channel_answers"] = {ch: dict(texts) for ch, texts in self.channel_answers.items()}
        if self.handoff_after:
            data["handoff_after"] = True
        if not self.enabled:
            data["enabled"] = False
        return data

    @classmethod
    def from_dict(cls, data: Any, default_language: Lang, path: Path = ()) -> Rule:
        """Check and build one rule; ``path`` locates it in the whole document for errors."""
        return _parse_rule(data, default_language, path)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """All the bot's rules plus its settings (language, handoff phrases, thresholds, texts)."""

    default_language: Lang
    handoff_phrases: Mapping[Lang, tuple[str, ...]]
    handoff_message: Mapping[Lang, str]
    rules: tuple[Rule, ...]
    enabled: bool = True
    greeting: Mapping[Lang, str] = field(default_factory=dict)
    texts: Mapping[str, Mapping[Lang, str]] = field(default_factory=dict)
    answer_threshold: float = DEFAULT_ANSWER_THRESHOLD
    ambiguity_margin: float = DEFAULT_AMBIGUITY_MARGIN

    def rule(self, rule_id: str) -> Rule | None:
        """The rule with this id, or None."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None

    def text(self, key: str, lang: Lang) -> str:
        """A bot phrase in ``lang``: this set's wording first, then the built-in one ("" when unknown)."""
        own = self.handoff_message if key == "handoff" else self.texts.get(key, {})
        builtin = BUILTIN_TEXTS.get(key, {})
        for texts, code in ((own, lang), (builtin, lang), (own, self.default_language)):
            if code in texts:
                return texts[code]
        return builtin.get(self.default_language) or builtin.get("en", "")

    def settings_dict(self) -> dict[str, Any]:
        """The document shape without ``rules`` (what ``bot_settings.data`` holds)."""
        data: dict[str, Any] = {
            "default_language": self.default_language,
            "enabled": self.enabled,
            "answer_threshold": self.answer_threshold,
            "ambiguity_margin": self.ambiguity_margin,
        }
        if self.greeting:
            data["greeting"] = dict(self.greeting)
        if self.texts:
            data["texts"] = {key: dict(texts) for key, texts in self.texts.items()}
        data["handoff"] = {
            "phrases": {lang: list(ps) for lang, ps in self.handoff_phrases.items()},
            "message": dict(self.handoff_message),
        }
        return data

    def to_dict(self) -> dict[str, Any]:
        """The whole document (issue 7's YAML shape): settings, then ``rules`` in order."""
        return {**self.settings_dict(), "rules": [rule.to_dict() for rule in self.rules]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleSet:
        """Check and build a rule set from the document shape; raises ``RulesError``."""
        return _parse_set(data)


# --- checking the document ----------------------------------------------------------------------------


def _fail(reason: str, path: Path, rule_id: str | None = None) -> RulesError:
    return RulesError(reason, path=path, rule_id=rule_id)


def _where(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "document"


def _mapping(value: Any, path: Path, rule_id: str | None = None) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise _fail(f"{_where(path)} must be a mapping", path, rule_id)
    return value


def _check_keys(value: Mapping[Any, Any], allowed: frozenset[str], path: Path, rule_id: str | None) -> None:
    for key in value:
        if key not in allowed:
            raise _fail(
                f"unknown key {key!r} in {_where(path)} (allowed: {', '.join(sorted(allowed))})",
                (*path, str(key)),
                rule_id,
            )


def _string(value: Any, path: Path, rule_id: str | None, limit: int) -> str:
    if not isinstance(value, str):
        raise _fail(f"{_where(path)} must be text, not {type(value).__name__}", path, rule_id)
    text = value.strip()
    if not text:
        raise _fail(f"{_where(path)} is empty", path, rule_id)
    if len(text) > limit:
        raise _fail(f"{_where(path)} is longer than {limit} characters", path, rule_id)
    return text


def _bool(value: Any, path: Path, rule_id: str | None = None) -> bool:
    if not isinstance(value, bool):
        raise _fail(f"{_where(path)} must be true or false", path, rule_id)
    return value


def _fraction(value: Any, path: Path, upper: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= upper:
        raise _fail(f"{_where(path)} must be a number from 0 to {upper}", path)
    return float(value)


def _lang(value: Any, path: Path, rule_id: str | None = None) -> Lang:
    if not isinstance(value, str) or not _LANG_RE.match(value):
        raise _fail(f"{value!r} in {_where(path[:-1])} is not a language code like nl or en", path, rule_id)
    return value


def _texts(value: Any, path: Path, rule_id: str | None = None) -> dict[Lang, str]:
    """A mapping language → text."""
    texts = _mapping(value, path, rule_id)
    return {
        _lang(lang, (*path, lang), rule_id): _string(text, (*path, lang), rule_id, MAX_TEXT_CHARS)
        for lang, text in texts.items()
    }


def _phrases(value: Any, path: Path, rule_id: str | None = None) -> dict[Lang, tuple[str, ...]]:
    """A mapping language → list of phrases (duplicates dropped, order kept)."""
    lists = _mapping(value, path, rule_id)
    out: dict[Lang, tuple[str, ...]] = {}
    for lang, items in lists.items():
        where = (*path, lang)
        _lang(lang, where, rule_id)
        if not isinstance(items, list):
            raise _fail(f"{_where(where)} must be a list", where, rule_id)
        phrases = [_string(item, (*where, i), rule_id, MAX_PHRASE_CHARS) for i, item in enumerate(items)]
        out[lang] = tuple(dict.fromkeys(phrases))
    return out


def _parse_rule(data: Any, default_language: Lang, path: Path) -> Rule:
    raw = _mapping(data, path)
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID_RE.match(rule_id):
        raise _fail(
            f"rule id {rule_id!r} must be a slug: lowercase letters, digits, - or _, at most 80 characters",
            (*path, "id") if "id" in raw else path,
        )
    _check_keys(raw, _RULE_KEYS, path, rule_id)
    if "questions" not in raw:
        raise _fail(f"rule {rule_id!r} has no questions", (*path, "id"), rule_id)
    questions = _phrases(raw["questions"], (*path, "questions"), rule_id)
    if not any(questions.values()):
        raise _fail(f"rule {rule_id!r} has no example questions", (*path, "questions"), rule_id)
    answer = _texts(raw.get("answer", {}), (*path, "answer"), rule_id)
    if default_language not in answer:
        where = (*path, "answer") if "answer" in raw else (*path, "id")
        raise _fail(
            f"rule {rule_id!r} has no answer in the default language {default_language!r}", where, rule_id
        )
    channel_answers: dict[str, dict[Lang, str]] = {}
    for channel, texts in _mapping(
        raw.get("channel_answers", {}), (*path, "channel_answers"), rule_id
    ).items():
        where = (*path, "channel_answers", channel)
        if not isinstance(channel, str) or not _CHANNEL_RE.match(channel):
            raise _fail(f"{channel!r} is not a channel name like email or telegram", where, rule_id)
        channel_answers[channel] = _texts(texts, where, rule_id)
    return Rule(
        id=rule_id,
        questions=questions,
        keywords=_phrases(raw.get("keywords", {}), (*path, "keywords"), rule_id),
        answer=answer,
        title=_texts(raw.get("title", {}), (*path, "title"), rule_id),
        synonyms=_phrases(raw.get("synonyms", {}), (*path, "synonyms"), rule_id),
        channel_answers=channel_answers,
        handoff_after=_bool(raw.get("handoff_after", False), (*path, "handoff_after"), rule_id),
        enabled=_bool(raw.get("enabled", True), (*path, "enabled"), rule_id),
    )


def _parse_set(data: Any) -> RuleSet:
    raw = _mapping(data, ())
    _check_keys(raw, _SET_KEYS, (), None)
    if "default_language" not in raw:
        raise _fail("default_language is missing (e.g. default_language: nl)", ())
    default_language = _lang(raw["default_language"], ("default_language",))
    handoff = _mapping(raw.get("handoff", {}), ("handoff",))
    _check_keys(handoff, _HANDOFF_KEYS, ("handoff",), None)
    if "phrases" in handoff:
        handoff_phrases = _phrases(handoff["phrases"], ("handoff", "phrases"))
    else:
        handoff_phrases = dict(DEFAULT_HANDOFF_PHRASES)
    texts: dict[str, dict[Lang, str]] = {}
    for key, value in _mapping(raw.get("texts", {}), ("texts",)).items():
        if not isinstance(key, str) or not _TEXT_KEY_RE.match(key):
            raise _fail(f"{key!r} is not a text name like did_you_mean", ("texts", str(key)))
        texts[key] = _texts(value, ("texts", key))
    items = raw.get("rules", [])
    if not isinstance(items, list):
        raise _fail("rules must be a list", ("rules",))
    if len(items) > MAX_RULES:
        raise _fail(f"at most {MAX_RULES} rules", ("rules",))
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        rule = _parse_rule(item, default_language, ("rules", i))
        if rule.id in seen:
            raise _fail(f"duplicate rule id {rule.id!r}", ("rules", i, "id"), rule.id)
        seen.add(rule.id)
        rules.append(rule)
    return RuleSet(
        default_language=default_language,
        handoff_phrases=handoff_phrases,
        handoff_message=_texts(handoff.get("message", {}), ("handoff", "message")),
        rules=tuple(rules),
        enabled=_bool(raw.get("enabled", True), ("enabled",)),
        greeting=_texts(raw.get("greeting", {}), ("greeting",)),
        texts=texts,
        answer_threshold=_fraction(
            raw.get("answer_threshold", DEFAULT_ANSWER_THRESHOLD), ("answer_threshold",), 1.0
        ),
        ambiguity_margin=_fraction(
            raw.get("ambiguity_margin", DEFAULT_AMBIGUITY_MARGIN), ("ambiguity_margin",), 1.0
        ),
    )
