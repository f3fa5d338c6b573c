"""Rule sets: the document shape, its checks, and YAML import/export with the line of each mistake."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from app.domain.bot.rules import RulesError, RuleSet
from app.domain.bot.rules_yaml import dump_rules_yaml, load_rules_yaml

DEMO = Path(__file__).parents[3] / "app" / "domain" / "bot" / "demo_rules.yaml"

GOOD = dedent(
    """\
    default_language: nl
    handoff:
      phrases: {nl: ["medewerker", "mens spreken"], en: ["human", "agent", "talk to a person"]}
      message: {nl: "Ik verbind je met een collega.", en: "Let me get a colleague for you."}
    rules:
      - id: delivery-time
        questions:
          nl: ["Hoe lang duurt de levering?", "Wanneer wordt mijn pakket bezorgd?"]
          en: ["How long does delivery take?", "When will my parcel arrive?"]
        keywords: {nl: [levering, bezorgen, pakket], en: [delivery, shipping, parcel]}
        answer: {nl: "Morgen in huis.", en: "Tomorrow at your door."}
      - id: returns
        questions:
          nl: ["Hoe stuur ik iets terug?"]
        answer: {nl: "Binnen 30 dagen."}
        channel_answers: {email: {nl: "Binnen 30 dagen, zie de bijlage."}}
        handoff_after: true
    """
)


def error_of(text: str) -> RulesError:
    with pytest.raises(RulesError) as caught:
        load_rules_yaml(text)
    return caught.value


def test_issue_shape_loads() -> None:
    rules = load_rules_yaml(GOOD)
    assert rules.default_language == "nl"
    assert rules.handoff_phrases["en"] == ("human", "agent", "talk to a person")
    assert [r.id for r in rules.rules] == ["delivery-time", "returns"]
    delivery = rules.rule("delivery-time")
    assert delivery is not None
    assert delivery.keywords["nl"] == ("levering", "bezorgen", "pakket")
    assert rules.rule("nope") is None


def test_answer_falls_back_to_default_language_and_prefers_channel_variant() -> None:
    rules = load_rules_yaml(GOOD)
    returns = rules.rule("returns")
    assert returns is not None and returns.handoff_after
    assert returns.answer_for("en", "nl") == "Binnen 30 dagen."
    assert returns.answer_for("nl", "nl", channel="email") == "Binnen 30 dagen, zie de bijlage."
    assert returns.answer_for("nl", "nl", channel="telegram") == "Binnen 30 dagen."
    delivery = rules.rule("delivery-time")
    assert delivery is not None
    assert delivery.answer_for("en", "nl", channel="email") == "Tomorrow at your door."


def test_title_defaults_to_first_question() -> None:
    rules = load_rules_yaml(GOOD)
    delivery = rules.rule("delivery-time")
    assert delivery is not None
    assert delivery.title_for("en", "nl") == "How long does delivery take?"
    assert delivery.title_for("de", "nl") == "Hoe lang duurt de levering?"


def test_texts_have_builtin_dutch_and_english_and_can_be_overridden() -> None:
    rules = load_rules_yaml(GOOD + 'texts:\n  did_you_mean: {nl: "Zocht je dit?"}\n')
    assert rules.text("did_you_mean", "nl") == "Zocht je dit?"
    assert rules.text("did_you_mean", "en") == "Did you mean one of these?"
    assert rules.text("handoff", "en") == "Let me get a colleague for you."
    assert "{when}" in rules.text("away", "nl")
    assert rules.text("no-such-text", "nl") == ""


def test_yaml_round_trip_keeps_everything() -> None:
    rules = load_rules_yaml(GOOD)
    assert load_rules_yaml(dump_rules_yaml(rules)) == rules
    assert RuleSet.from_dict(rules.to_dict()) == rules


def test_demo_rules_load_and_round_trip() -> None:
    rules = load_rules_yaml(DEMO.read_text(encoding="utf-8"))
    assert 15 <= len(rules.rules) <= 25
    for rule in rules.rules:
        assert rule.answer.get("nl") and rule.answer.get("en"), rule.id
        assert len(rule.questions["nl"]) >= 3 and len(rule.questions["en"]) >= 3, rule.id
    assert load_rules_yaml(dump_rules_yaml(rules)) == rules


def test_multiline_answer_exports_as_block() -> None:
    rules = load_rules_yaml(GOOD.replace('"Morgen in huis."', '"Morgen in huis.\\nOf overmorgen."'))
    text = dump_rules_yaml(rules)
    assert "nl: |" in text
    assert load_rules_yaml(text) == rules


def test_missing_handoff_section_gets_builtin_phrases() -> None:
    rules = load_rules_yaml("default_language: en\nrules: []\n")
    assert "agent" in rules.handoff_phrases["en"]
    assert rules.rules == ()


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("default_language: nl\nrules: [\n", 3, "invalid YAML"),
        ("default_language: nl\n  rules: x\n", 2, "invalid YAML"),
        ("", 1, "empty"),
        ("- a\n- b\n", 1, "mapping"),
        ("default_language: nl\nrulez: []\n", 2, "unknown key 'rulez'"),
        ("rules: []\n", 1, "default_language"),
        ("default_language: Dutch\n", 1, "language code"),
        ("default_language: nl\ndefault_language: en\n", 2, "twice"),
        ("default_language: nl\nanswer_threshold: 2\n", 2, "from 0 to 1"),
        ("default_language: nl\nenabled: maybe\n", 2, "true or false"),
        ("default_language: nl\nrules: {a: 1}\n", 2, "must be a list"),
    ],
)
def test_document_errors_name_the_line(text: str, line: int, words: str) -> None:
    error = error_of(text)
    assert error.line == line
    assert words in error.reason


def test_duplicate_rule_id_points_at_the_second() -> None:
    text = GOOD.replace("- id: returns", "- id: delivery-time")
    error = error_of(text)
    assert "duplicate rule id 'delivery-time'" in error.reason
    assert error.line == 12
    assert error.rule_id == "delivery-time"


def test_missing_default_language_answer() -> None:
    error = error_of(GOOD.replace('answer: {nl: "Binnen 30 dagen."}', 'answer: {en: "Within 30 days."}'))
    assert "no answer in the default language 'nl'" in error.reason
    assert error.line == 15
    assert error.rule_id == "returns"


def test_no_answer_at_all_points_at_the_rule() -> None:
    error = error_of(GOOD.replace('    answer: {nl: "Binnen 30 dagen."}\n', ""))
    assert "no answer" in error.reason
    assert error.line == 12


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("- id: returns", "- id: Returns!", 12, "slug"),
        ("handoff_after: true", "handoff_after: 3", 17, "true or false"),
        ("handoff_after: true", "handoff_afterwards: true", 17, "unknown key 'handoff_afterwards'"),
        ("keywords: {nl: [levering", "keywords: {nl: [42", 10, "must be text, not int"),
        ('nl: ["Hoe stuur ik iets terug?"]', 'nl: ""', 14, "must be a list"),
        ('nl: ["Hoe stuur ik iets terug?"]', 'nl: ["  "]', 14, "empty"),
        ('nl: ["Hoe stuur ik iets terug?"]', 'nld-NL: ["Hoe?"]', 14, "language code"),
        ("channel_answers: {email:", "channel_answers: {E-Mail:", 16, "channel name"),
    ],
)
def test_rule_errors_name_the_line(old: str, new: str, line: int, words: str) -> None:
    assert old in GOOD
    error = error_of(GOOD.replace(old, new))
    assert words in error.reason
    assert error.line == line


def test_aliases_are_refused() -> None:
    bomb = "default_language: nl\na: &a [x, x]\nb: &b [*a, *a]\nrules: []\n"
    error = error_of(bomb)
    assert "aliases" in error.reason


def test_from_dict_errors_carry_the_path() -> None:
    with pytest.raises(RulesError) as caught:
        RuleSet.from_dict({"default_language": "nl", "rules": [{"id": "x", "questions": {"nl": ["?"]}}]})
    assert caught.value.path == ("rules", 0, "id")
    assert caught.value.line is None
