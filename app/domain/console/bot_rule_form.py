"""The rule form and the bot settings form: what the admin typed, read into the rules' own shape.

Fields come per language (``questions_nl``, ``answer_en``, …), so the forms are read from the raw
form data rather than a fixed dataclass. Everything is checked by the rules' own parser
(``Rule.from_dict`` / ``RuleSet.from_dict``), whose error names the value it refused; that path is
turned back into the form field, so the reason is shown beside it and what was typed is kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.domain.bot.rules import Rule, RulesError, RuleSet
from app.i18n import N_
from app.lib.errors import Reason

RULE_TEXTS = ("title", "questions", "keywords", "synonyms", "answer")
SETTINGS_TEXTS = ("handoff_phrases", "handoff_message", "greeting")
LINE_LISTS = frozenset({"questions", "handoff_phrases"})
"""One entry per line (questions hold commas); keywords and synonyms are also split on commas."""
WORD_LISTS = frozenset({"keywords", "synonyms"})
_LANG = re.compile(r"[a-z]{2,3}\Z")
_SPLIT_WORDS = re.compile(r"[,\n]")

NUL = N_("This field contains an invisible NUL character, which cannot be stored. Remove it.")
FORM_ERROR = "_form"


class FormErrors(Exception):
    """A form that does not hold: a reason per field (``FORM_ERROR`` for the form as a whole)."""

    def __init__(self, errors: dict[str, Reason]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _words(value: str) -> list[str]:
    return [word.strip() for word in _SPLIT_WORDS.split(value) if word.strip()]


def _field_of(path: Sequence[str | int], default_language: str, prefix: tuple[str, ...] = ()) -> str:
    """The form field a rules error is about (``path`` as ``RulesError.path``)."""
    parts = [str(p) for p in path[len(prefix) :]]
    if not parts:
        return FORM_ERROR
    head = parts[0]
    if head == "handoff" and len(parts) > 1:
        head, parts = f"handoff_{parts[1]}", [f"handoff_{parts[1]}", *parts[2:]]
    if head in (*RULE_TEXTS, *SETTINGS_TEXTS):
        lang = parts[1] if len(parts) > 1 and _LANG.match(parts[1]) else default_language
        return f"{head}_{lang}"
    if head in ("id", "default_language", "answer_threshold", "ambiguity_margin"):
        return head
    return FORM_ERROR


@dataclass
class RuleForm:
    """A rule as the form shows it: every value a string, as typed."""

    id: str = ""
    enabled: bool = True
    handoff_after: bool = False
    values: dict[str, str] = field(default_factory=dict)
    """``<field>_<lang>`` → text (lists one per line, keywords separated by commas)."""

    def value(self, name: str, lang: str) -> str:
        return self.values.get(f"{name}_{lang}", "")

    @classmethod
    def from_rule(cls, rule: Rule) -> RuleForm:
        values: dict[str, str] = {}
        for lang, text in rule.title.items():
            values[f"title_{lang}"] = text
        for lang, text in rule.answer.items():
            values[f"answer_{lang}"] = text
        for lang, questions in rule.questions.items():
            values[f"questions_{lang}"] = "\n".join(questions)
        for lang, words in rule.keywords.items():
            values[f"keywords_{lang}"] = ", ".join(words)
        for lang, words in rule.synonyms.items():
            values[f"synonyms_{lang}"] = ", ".join(words)
        return cls(id=rule.id, enabled=rule.enabled, handoff_after=rule.handoff_after, values=values)

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> RuleForm:
        """What was posted (unknown fields ignored; ``enabled``/``handoff_after`` are checkboxes)."""
        values: dict[str, str] = {}
        for name, value in form.items():
            head, _, lang = str(name).rpartition("_")
            if head in RULE_TEXTS and _LANG.match(lang) and isinstance(value, str):
                values[name] = value
        rule_id = form.get("id")
        return cls(
            id=rule_id.strip() if isinstance(rule_id, str) else "",
            enabled=form.get("enabled") == "1",
            handoff_after=form.get("handoff_after") == "1",
            values=values,
        )

    def with_question(self, lang: str, question: str) -> RuleForm:
        """The form with ``question`` added to the examples in ``lang`` (when not already there)."""
        key = f"questions_{lang}"
        existing = _lines(self.values.get(key, ""))
        cleaned = " ".join(question.split())
        if cleaned and cleaned not in existing:
            existing.append(cleaned)
        return RuleForm(self.id, self.enabled, self.handoff_after, {**self.values, key: "\n".join(existing)})

    def document(self, keep: Rule | None = None) -> dict[str, Any]:
        """The rule's document (``Rule.to_dict`` shape); what the form has no field for (answers per
        channel) is kept from ``keep``, the rule as stored."""
        data: dict[str, Any] = {"id": self.id, "answer": {}, "questions": {}}
        for name, value in self.values.items():
            head, _, lang = name.rpartition("_")
            if head in LINE_LISTS:
                items: list[str] | str = _lines(value)
            elif head in WORD_LISTS:
                items = _words(value)
            else:
                items = value.strip()
            if items:
                data.setdefault(head, {})[lang] = items
        if self.handoff_after:
            data["handoff_after"] = True
        if not self.enabled:
            data["enabled"] = False
        if keep is not None and keep.channel_answers:
            data["channel_answers"] = {ch: dict(texts) for ch, texts in keep.channel_answers.items()}
        return data

    def rule(self, default_language: str, keep: Rule | None = None) -> Rule:
        """The rule, checked; raises ``FormErrors`` naming the field at fault."""
        nul = {name: Reason(NUL) for name, value in self.values.items() if "\x00" in value}
        if "\x00" in self.id:
            nul["id"] = Reason(NUL)
        if nul:
            raise FormErrors(nul)
        try:
            return Rule.from_dict(self.document(keep), default_language)
        except RulesError as exc:
            raise FormErrors({_field_of(exc.path, default_language): Reason(exc.reason)}) from None


@dataclass
class SettingsForm:
    """The bot's settings as the form shows them."""

    enabled: bool = True
    default_language: str = "nl"
    answer_threshold: str = ""
    ambiguity_margin: str = ""
    values: dict[str, str] = field(default_factory=dict)
    """``handoff_phrases_<lang>`` (one per line), ``handoff_message_<lang>``, ``greeting_<lang>``."""

    def value(self, name: str, lang: str) -> str:
        return self.values.get(f"{name}_{lang}", "")

    @classmethod
    def from_rules(cls, rules: RuleSet) -> SettingsForm:
        values: dict[str, str] = {}
        for lang, phrases in rules.handoff_phrases.items():
            values[f"handoff_phrases_{lang}"] = "\n".join(phrases)
        for lang, text in rules.handoff_message.items():
            values[f"handoff_message_{lang}"] = text
        for lang, text in rules.greeting.items():
            values[f"greeting_{lang}"] = text
        return cls(
            enabled=rules.enabled,
            default_language=rules.default_language,
            answer_threshold=f"{rules.answer_threshold:g}",
            ambiguity_margin=f"{rules.ambiguity_margin:g}",
            values=values,
        )

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> SettingsForm:
        values: dict[str, str] = {}
        for name, value in form.items():
            head, _, lang = str(name).rpartition("_")
            if head in SETTINGS_TEXTS and _LANG.match(lang) and isinstance(value, str):
                values[name] = value

        def text(name: str) -> str:
            value = form.get(name)
            return value.strip() if isinstance(value, str) else ""

        return cls(
            enabled=form.get("enabled") == "1",
            default_language=text("default_language"),
            answer_threshold=text("answer_threshold"),
            ambiguity_margin=text("ambiguity_margin"),
            values=values,
        )

    def settings(self, current: RuleSet) -> RuleSet:
        """The settings as a rule set without rules (what ``do_save_bot_settings`` takes); the bot's
        texts are kept from ``current``. Raises ``FormErrors``."""
        errors: dict[str, Reason] = {
            name: Reason(NUL) for name, value in self.values.items() if "\x00" in value
        }
        data: dict[str, Any] = {
            "default_language": self.default_language,
            "enabled": self.enabled,
            "handoff": {"phrases": {}, "message": {}},
            "rules": [],
        }
        for name in ("answer_threshold", "ambiguity_margin"):
            raw = getattr(self, name).replace(",", ".")
            try:
                data[name] = float(raw)
            except ValueError:
                errors[name] = Reason(N_("Enter a number from 0 to 1, such as 0.5."))
        if errors:
            raise FormErrors(errors)
        for name, value in self.values.items():
            head, _, lang = name.rpartition("_")
            if head == "handoff_phrases" and _lines(value):
                data["handoff"]["phrases"][lang] = _lines(value)
            elif head == "handoff_message" and value.strip():
                data["handoff"]["message"][lang] = value.strip()
            elif head == "greeting" and value.strip():
                data.setdefault("greeting", {})[lang] = value.strip()
        if current.texts:
            data["texts"] = {key: dict(texts) for key, texts in current.texts.items()}
        try:
            return RuleSet.from_dict(data)
        except RulesError as exc:
            raise FormErrors({_field_of(exc.path, self.default_language): Reason(exc.reason)}) from None
