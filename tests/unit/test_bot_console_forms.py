"""The bot console's pure parts: how questions are grouped, and how a form's typing becomes a rule."""

from __future__ import annotations

import pytest

from app.domain.bot.queries import question_key
from app.domain.bot.rules import RuleSet
from app.domain.console.bot_rule_form import FORM_ERROR, FormErrors, RuleForm, SettingsForm


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Waar is mijn pakket?!", "waar is mijn  PAKKET"),
        ("Kán ik met PayPal betalen?", "kan ik met paypal betalen"),
        ("Order 12345 missing", "order 99 missing"),
        ("café\u00a0open?", "Cafe open"),
    ],
)
def test_phrasings_that_differ_only_in_case_accents_punctuation_and_numbers_are_one_question(
    a: str, b: str
) -> None:
    assert question_key(a) == question_key(b) != ""


def test_a_question_of_only_punctuation_has_no_key() -> None:
    assert question_key("?!… 🙂") == ""


def test_the_form_becomes_the_rules_document_with_lists_split() -> None:
    form = RuleForm.from_form(
        {
            "id": " opening-hours ",
            "enabled": "1",
            "questions_nl": "Wanneer open?\n\n  Hoe laat dicht? \n",
            "keywords_nl": "open, dicht\nuren",
            "answer_nl": "  9 tot 5 ",
            "answer_en": "",
            "questions_EN": "ignored: not a language code",
            "csrf": "x",
        }
    )
    rule = form.rule("nl")
    assert rule.id == "opening-hours" and rule.enabled and not rule.handoff_after
    assert rule.questions == {"nl": ("Wanneer open?", "Hoe laat dicht?")}
    assert rule.keywords == {"nl": ("open", "dicht", "uren")}
    assert rule.answer == {"nl": "9 tot 5"}
    assert (
        RuleForm.from_rule(rule).with_question("nl", " Wanneer  open? ").value("questions", "nl").count("\n")
        == 1
    )
    assert RuleForm.from_rule(rule).with_question("en", "When open?").value("questions", "en") == "When open?"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"answer_nl": ""}, "answer_nl"),
        ({"questions_nl": ""}, "questions_nl"),
        ({"id": "No Slug"}, "id"),
        ({"answer_en": "x" * 5000}, "answer_en"),
        ({"keywords_en": "a\x00b"}, "keywords_en"),
    ],
)
def test_a_refusal_names_the_field_at_fault(changes: dict[str, str], field: str) -> None:
    form = {"id": "a", "questions_nl": "Vraag?", "answer_nl": "Antwoord.", **changes}
    with pytest.raises(FormErrors) as refused:
        RuleForm.from_form(form).rule("nl")
    assert list(refused.value.errors) == [field]


def test_settings_keep_the_bots_texts_and_name_a_bad_number() -> None:
    current = RuleSet.from_dict({"default_language": "nl", "texts": {"did_you_mean": {"nl": "Bedoel je?"}}})
    form = SettingsForm.from_form(
        {
            "enabled": "1",
            "default_language": "nl",
            "answer_threshold": "0,55",
            "ambiguity_margin": "0.1",
            "handoff_phrases_nl": "mens\nmedewerker",
            "greeting_en": "Hi",
        }
    )
    settings = form.settings(current)
    assert settings.answer_threshold == 0.55 and settings.texts == {"did_you_mean": {"nl": "Bedoel je?"}}
    assert settings.handoff_phrases == {"nl": ("mens", "medewerker")} and dict(settings.greeting) == {
        "en": "Hi"
    }
    with pytest.raises(FormErrors) as refused:
        SettingsForm.from_form(
            {"default_language": "nl", "answer_threshold": "1.5", "ambiguity_margin": "0"}
        ).settings(current)
    assert list(refused.value.errors) == ["answer_threshold"]
    with pytest.raises(FormErrors) as refused:
        SettingsForm.from_form(
            {"default_language": "", "answer_threshold": "0.5", "ambiguity_margin": "0"}
        ).settings(current)
    assert set(refused.value.errors) <= {"default_language", FORM_ERROR}
