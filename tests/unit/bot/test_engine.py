"""The engine on its own: normalization, language, stems, typos, scoring, handoffs and bad input."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from app.domain.bot.engine import MAX_QUESTION_CHARS, BotEngine, Decision
from app.domain.bot.engine.handoff import HandoffMatcher
from app.domain.bot.engine.lexicon import stemmer
from app.domain.bot.engine.text import has_content, words
from app.domain.bot.rules import RuleSet
from app.domain.bot.rules_yaml import load_rules_yaml

DEMO = Path(__file__).parents[3] / "app" / "domain" / "bot" / "demo_rules.yaml"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules_yaml(DEMO.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def engine(rules: RuleSet) -> BotEngine:
    return BotEngine(rules)


# --- normalization ---------------------------------------------------------------------------------


def test_case_accents_and_punctuation_fold_away() -> None:
    assert words("Wánneer komt mijn PAKKET?!") == words("wanneer komt mijn pakket")
    assert words("Ça coûte combien?") == ["ca", "coute", "combien"]


def test_numbers_and_order_numbers_are_dropped_apostrophes_joined() -> None:
    assert words("Order NL12345 cost €4,95 on 12-03") == ["order", "cost", "on"]
    assert words("I haven\u2019t got my e-mail") == ["i", "havent", "got", "my", "email"]
    assert words("track-en-trace") == ["track", "en", "trace"]


def test_content_means_a_letter_or_digit() -> None:
    assert not has_content("  \n\t ")
    assert not has_content("😀🎉👍 !!! ???")
    assert has_content("ok")
    assert has_content("12345")


def test_snowball_stems_join_word_forms() -> None:
    nl, en = stemmer("nl"), stemmer("en")
    assert nl("bestelling") == nl("bestellingen")
    assert nl("bezorgen") == nl("bezorg")
    assert en("refunds") == en("refunded") == en("refund")
    assert stemmer("xx")("Unchanged") == "Unchanged"


# --- language --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Hoe lang duurt de levering?", "nl"),
        ("How long does delivery take?", "en"),
        ("levertijd?", "nl"),  # no stop word at all: the rules' vocabulary tells
        ("refund", "en"),
        ("Wann kommt meine Bestellung an?", "de"),
        ("Quand est-ce que ma commande arrivera ?", "fr"),
        ("¿Dónde está mi pedido?", "es"),
        ("ok", None),
        ("asdfghjkl", None),
    ],
)
def test_detect_language(engine: BotEngine, text: str, lang: str | None) -> None:
    assert engine.detect_language(text) == lang


def test_answers_in_the_customers_language(engine: BotEngine) -> None:
    dutch = engine.decide("Hoe lang duurt de levering?")
    english = engine.decide("How long does delivery take?")
    assert (dutch.outcome, dutch.rule_id, dutch.language) == ("answer", "delivery-time", "nl")
    assert (english.outcome, english.rule_id, english.language) == ("answer", "delivery-time", "en")
    assert dutch.answer is not None and "volgende dag" in dutch.answer
    assert english.answer is not None and "next day" in english.answer


def test_forced_language_is_used_and_an_unknown_one_ignored(engine: BotEngine) -> None:
    assert engine.decide("refund", language="en").language == "en"
    assert engine.decide("Hoe lang duurt de levering?", language="xx").language == "nl"


def test_one_look_alike_word_does_not_turn_a_question_away(engine: BotEngine) -> None:
    # "die" is German too, "de" French and Spanish: still a Dutch question.
    decision = engine.decide("Die kortingscode van de nieuwsbrief werkt niet")
    assert decision.language == "nl"
    assert decision.rule_id == "discount-codes"


def test_third_language_hands_off_as_unsupported(engine: BotEngine) -> None:
    for text in ("Wo ist meine Bestellung? Ich warte schon eine Woche.", "Je voudrais retourner mon colis"):
        decision = engine.decide(text)
        assert decision.outcome == "handoff"
        assert decision.reason == "unsupported_language"
        assert decision.answer is None


def test_rules_only_in_dutch_hand_english_off(rules: RuleSet) -> None:
    dutch_only = replace(
        rules, rules=tuple(replace(r, questions={"nl": r.questions["nl"]}, keywords={}) for r in rules.rules)
    )
    decision = BotEngine(dutch_only).decide("How long does the delivery take, and what does it cost?")
    assert (decision.outcome, decision.reason, decision.language) == ("handoff", "unsupported_language", "en")


# --- typos, compounds, scoring ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule_id"),
    [
        ("wachtwoord vergeetn", "account-password"),
        ("I forgot my pasword", "account-password"),
        ("retourneeren", "returns"),
        ("kortings code werkt niet", "discount-codes"),  # two words the rules write as one
        ("ik heb het geretourneerd, wanneer krijg ik mijn geld terug", "refund"),
    ],
)
def test_typos_and_word_forms_still_answer(engine: BotEngine, text: str, rule_id: str) -> None:
    decision = engine.decide(text)
    assert (decision.outcome, decision.rule_id) == ("answer", rule_id)


def test_scores_are_confidences_best_first(engine: BotEngine) -> None:
    decision = engine.decide("Wat zijn de verzendkosten?")
    scores = [c.score for c in decision.candidates]
    assert decision.outcome == "answer" and decision.rule_id == "shipping-costs"
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert len(decision.candidates) <= 5
    assert decision.score == scores[0]


def test_two_close_rules_are_suggested_not_answered(engine: BotEngine) -> None:
    shipping = engine.decide("Wat kost verzenden naar Duitsland?")
    assert shipping.outcome == "suggest"
    assert set(shipping.suggestions) == {"shipping-costs", "international-shipping"}
    assert shipping.rule_id is None and shipping.answer is None


def test_off_topic_hands_off_with_no_match(engine: BotEngine) -> None:
    decision = engine.decide("What's the weather like in Amsterdam tomorrow?")
    assert (decision.outcome, decision.reason) == ("handoff", "no_match")


def test_disabled_rules_are_never_candidates(rules: RuleSet) -> None:
    off = replace(rules, rules=tuple(replace(r, enabled=r.id != "refund") for r in rules.rules))
    decision = BotEngine(off).decide("Wanneer krijg ik mijn geld terug?")
    assert decision.rule_id != "refund"
    assert all(c.rule_id != "refund" for c in decision.candidates)


def test_channel_variant_and_threshold_come_from_the_rule_set(rules: RuleSet) -> None:
    delivery = rules.rule("delivery-time")
    assert delivery is not None
    variant = replace(delivery, channel_answers={"email": {"nl": "Per mail: morgen."}})
    with_variant = replace(rules, rules=tuple(variant if r.id == "delivery-time" else r for r in rules.rules))
    engine = BotEngine(with_variant)
    assert engine.decide("Hoe lang duurt de levering?", channel="email").answer == "Per mail: morgen."
    assert engine.decide("Hoe lang duurt de levering?", channel="telegram").answer == delivery.answer["nl"]
    strict = BotEngine(replace(rules, answer_threshold=1.0))
    assert strict.decide("Hoe lang duurt de levering?").outcome != "answer"


def test_decision_to_dict_is_json_ready(engine: BotEngine) -> None:
    data = engine.decide("Hoe kan ik betalen?").to_dict()
    assert data["outcome"] == "answer" and data["rule_id"] == "payment-methods"
    assert data["candidates"][0] == {"rule_id": "payment-methods", "score": data["score"]}
    assert data["reason"] is None


def test_no_rules_at_all_hands_off(rules: RuleSet) -> None:
    decision = BotEngine(replace(rules, rules=())).decide("Hoe lang duurt de levering?")
    assert (decision.outcome, decision.reason) == ("handoff", "no_match")


# --- asking for a person ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "medewerker",
        "Ik wil een MEDEWERKER spreken!",
        "medewerkr aub",  # one typo
        "medewerkers graag",  # another form
        "kan ik een mens spreken",
        "I want to talk to a person about my refund",  # a person wins over a matching rule
        "agents please",
        "human",
    ],
)
def test_handoff_phrases(engine: BotEngine, text: str) -> None:
    decision = engine.decide(text)
    assert (decision.outcome, decision.reason) == ("handoff", "asked_for_person")


@pytest.mark.parametrize(
    "text",
    [
        "Staat de levering in mijn agenda?",  # "agent" inside "agenda"
        "Is management reachable by phone?",
        "Our travel agency booked it",
        "Leveren jullie ook in Gent?",  # the city, one letter from "agent"
    ],
)
def test_handoff_phrases_match_whole_words_only(text: str) -> None:
    matcher = HandoffMatcher({"en": ("agent", "talk to a person"), "nl": ("medewerker",)})
    assert not matcher.matches(words(text))


def test_handoff_phrase_words_in_order_with_typos() -> None:
    matcher = HandoffMatcher({"en": ("agent", "talk to a person"), "nl": ("medewerker",)})
    assert not matcher.matches(words("a person to talk to"))  # order matters
    assert matcher.matches(words("can I talk to a persn"))  # typo in a long-enough word


def test_short_phrase_words_need_exact_match() -> None:
    matcher = HandoffMatcher({"nl": ("mens spreken",)})
    assert matcher.matches(words("mens spreken"))
    assert not matcher.matches(words("mans spreken"))


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "😀", "👍👍👍 🎉", "?!...", "\u200b\u200b"])
def test_empty_and_emoji_only_hand_off_as_empty(engine: BotEngine, text: str) -> None:
    decision = engine.decide(text)
    assert (decision.outcome, decision.reason, decision.candidates) == ("handoff", "empty", ())
    assert decision.language == "nl"


def test_twenty_thousand_characters_hand_off_fast(engine: BotEngine) -> None:
    text = "Hoe lang duurt de levering? " * 715  # 20,020 characters
    started = time.perf_counter()
    decision = engine.decide(text)
    elapsed = time.perf_counter() - started
    assert (decision.outcome, decision.reason) == ("handoff", "too_long")
    assert elapsed < 0.01


def test_the_cap_is_exact(engine: BotEngine) -> None:
    question = "Hoe lang duurt de levering?"
    at_cap = question + " " * (MAX_QUESTION_CHARS - len(question))
    assert (engine.decide(at_cap).outcome, engine.decide(at_cap).rule_id) == ("answer", "delivery-time")
    assert engine.decide(at_cap + "?").reason == "too_long"


def test_garbage_and_digits_only_never_answer(engine: BotEngine) -> None:
    for text in ("asdfghjkl qwerty", "123456789", "\x00\x01\x02 abc", "<script>alert(1)</script>"):
        decision: Decision = engine.decide(text)
        assert decision.outcome == "handoff"


def test_twenty_thousand_emoji_hand_off_fast(engine: BotEngine) -> None:
    started = time.perf_counter()
    decision = engine.decide("😀" * 20_000)
    assert time.perf_counter() - started < 0.01
    assert decision.outcome == "handoff"
    assert decision.reason == "empty"  # nothing to read comes before too long to read
