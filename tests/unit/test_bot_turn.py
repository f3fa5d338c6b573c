"""The bot's turn as plain rules: what it sends, records and hands over for each engine decision.

``plan_for_decision`` gets the engine's ``Decision`` (built here as the engine builds it) and what the
thread remembers; ``plan_turn`` adds pressed buttons and numbered replies. No database.
"""

from __future__ import annotations

from app.domain.bot.engine import BotEngine, Candidate, Decision
from app.domain.bot.rules import Rule, RuleSet
from app.domain.bot.turn import Previous, picked_payload, plan_for_decision, plan_turn

RULES = RuleSet(
    default_language="nl",
    handoff_phrases={"nl": ("medewerker",), "en": ("agent",)},
    handoff_message={"nl": "Ik verbind je met een collega.", "en": "Let me get a colleague for you."},
    greeting={"nl": "Hoi! Stel je vraag.", "en": "Hi! Ask away."},
    rules=(
        Rule(
            id="delivery-time",
            questions={"nl": ("Hoe lang duurt de levering?",), "en": ("How long does delivery take?",)},
            answer={"nl": "Morgen in huis.", "en": "Tomorrow at your door."},
            title={"nl": "Levertijd", "en": "Delivery time"},
        ),
        Rule(
            id="returns",
            questions={"nl": ("Hoe stuur ik iets terug?",), "en": ("How do I return something?",)},
            answer={"nl": "30 dagen bedenktijd.", "en": "30 days to change your mind."},
            title={"nl": "Retourneren", "en": "Returns"},
        ),
        Rule(
            id="warranty-claim",
            questions={"nl": ("Mijn product is kapot",)},
            answer={"nl": "Stuur een foto, dan kijken we ernaar."},
            handoff_after=True,
        ),
    ),
)
ENGINE = BotEngine(RULES)


def answer(rule_id: str, score: float = 0.9, lang: str = "nl") -> Decision:
    rule = RULES.rule(rule_id)
    assert rule is not None
    return Decision(
        outcome="answer",
        language=lang,
        rule_id=rule_id,
        answer=rule.answer_for(lang, "nl"),
        score=score,
        candidates=(Candidate(rule_id, score), Candidate("returns", 0.2)),
        reason=None,
    )


SUGGEST = Decision(
    outcome="suggest",
    language="en",
    rule_id=None,
    answer=None,
    score=0.55,
    candidates=(Candidate("delivery-time", 0.55), Candidate("returns", 0.5)),
    reason=None,
)
NO_MATCH = Decision("handoff", "nl", None, None, 0.1, (Candidate("returns", 0.1),), "no_match")


def plan(
    decision: Decision, previous: Previous = Previous(), *, buttons: bool = True, channel: str = "webchat"
):  # type: ignore[no-untyped-def]
    return plan_for_decision(
        RULES, decision, question="q", channel=channel, buttons=buttons, previous=previous
    )


def test_a_clear_answer_is_sent_with_a_this_did_not_help_button() -> None:
    result = plan(answer("delivery-time"))

    assert result.outcome == "answered" and result.rule_id == "delivery-time"
    [message] = result.messages
    assert message.text == "Morgen in huis."
    assert [b["label"] for b in message.buttons] == ["Dit hielp niet"]
    assert message.buttons[0]["payload"] == "bot:not_helpful:{decision}"
    assert result.handoff is None


def test_on_a_channel_without_buttons_the_answer_is_plain_text() -> None:
    [message] = plan(answer("delivery-time"), buttons=False, channel="email").messages
    assert message.buttons == () and message.choices == ()
    assert message.text == "Morgen in huis."


def test_close_candidates_ask_did_you_mean_with_buttons_and_a_person() -> None:
    result = plan(SUGGEST)

    assert result.outcome == "suggested" and result.handoff is None
    [message] = result.messages
    assert message.text == "Did you mean one of these?"
    assert [(b["label"], b["payload"]) for b in message.buttons] == [
        ("Delivery time", "bot:rule:delivery-time"),
        ("Returns", "bot:rule:returns"),
        ("Talk to a person", "bot:person"),
    ]


def test_without_buttons_did_you_mean_is_numbered_and_a_number_picks() -> None:
    result = plan(SUGGEST, buttons=False, channel="email")
    [message] = result.messages
    assert "1. Delivery time\n2. Returns\n3. Talk to a person" in message.text
    assert message.choices == ("bot:rule:delivery-time", "bot:rule:returns", "bot:person")

    previous = Previous(outcome="suggested", language="en", choices=message.choices)
    picked = plan_turn(
        RULES, ENGINE, text=" 2 ", metadata={}, channel="email", buttons=False, previous=previous
    )
    assert picked.outcome == "answered" and picked.rule_id == "returns"
    assert picked.messages[0].text == "30 days to change your mind."
    # A number nobody offered is just words.
    assert picked_payload("7", {}, previous) is None


def test_a_second_miss_in_a_row_hands_over() -> None:
    result = plan(SUGGEST, Previous(outcome="suggested", language="en"))

    assert result.outcome == "handoff" and result.handoff == "second_miss"
    assert [m.text for m in result.messages] == ["Let me get a colleague for you."]


def test_no_confident_match_hands_over_at_once() -> None:
    result = plan(NO_MATCH, Previous(outcome="answered"))
    assert (result.outcome, result.handoff) == ("handoff", "no_match")
    assert [m.text for m in result.messages] == ["Ik verbind je met een collega."]


def test_a_new_conversation_that_opens_with_hello_is_greeted_and_the_next_miss_hands_over() -> None:
    first = plan(NO_MATCH, Previous(new_conversation=True))
    assert first.outcome == "greeted" and first.handoff is None
    assert [m.text for m in first.messages] == ["Hoi! Stel je vraag."]

    second = plan(NO_MATCH, Previous(outcome="greeted", reason="no_match"))
    assert (second.outcome, second.handoff) == ("handoff", "second_miss")


def test_a_new_conversation_with_a_question_is_greeted_before_the_answer() -> None:
    result = plan(answer("delivery-time"), Previous(new_conversation=True))
    assert result.greeting_first and result.outcome == "answered"


def test_asking_for_a_person_hands_over_without_a_greeting() -> None:
    asked = Decision("handoff", "nl", None, None, 0.0, (), "asked_for_person")
    result = plan(asked, Previous(new_conversation=True))
    assert (result.outcome, result.handoff, result.greeting_first) == ("handoff", "asked_for_person", False)


def test_a_rule_marked_handoff_after_answers_then_hands_over_without_a_feedback_button() -> None:
    result = plan(answer("warranty-claim"))

    assert result.outcome == "answered" and result.handoff == "handoff_after"
    assert [m.text for m in result.messages] == [
        "Stuur een foto, dan kijken we ernaar.",
        "Ik verbind je met een collega.",
    ]
    assert all(m.buttons == () for m in result.messages)


def test_presses_this_did_not_help_and_talk_to_a_person_hand_over_and_record_feedback() -> None:
    not_helpful = plan_turn(
        RULES,
        ENGINE,
        text="Dit hielp niet",
        metadata={"button_payload": "bot:not_helpful:41"},
        channel="telegram",
        buttons=True,
        previous=Previous(outcome="answered", language="nl"),
    )
    assert (not_helpful.outcome, not_helpful.handoff, not_helpful.feedback) == (
        "handoff",
        "not_helpful",
        (41, "not_helpful"),
    )

    person = plan_turn(
        RULES,
        ENGINE,
        text="Talk to a person",
        metadata={"button_payload": "bot:person"},
        channel="telegram",
        buttons=True,
        previous=Previous(outcome="suggested", language="en"),
    )
    assert (person.handoff, [m.text for m in person.messages]) == (
        "asked_for_person",
        ["Let me get a colleague for you."],
    )

    helpful = plan_turn(
        RULES,
        ENGINE,
        text="Dit hielp",
        metadata={"button_payload": "bot:helpful:41"},
        channel="telegram",
        buttons=True,
        previous=Previous(outcome="answered", language="nl"),
    )
    assert (helpful.outcome, helpful.messages, helpful.feedback) == ("skipped", (), (41, "helpful"))


def test_a_pick_of_a_rule_removed_since_is_read_as_the_words_it_came_with() -> None:
    result = plan_turn(
        RULES,
        ENGINE,
        text="medewerker",
        metadata={"button_payload": "bot:rule:gone"},
        channel="telegram",
        buttons=True,
        previous=Previous(outcome="suggested", language="nl"),
    )
    assert (result.outcome, result.handoff) == ("handoff", "asked_for_person")


def test_a_forged_feedback_payload_is_not_a_number_and_is_ignored() -> None:
    result = plan_turn(
        RULES,
        ENGINE,
        text="medewerker",
        metadata={"button_payload": "bot:not_helpful:'; drop table"},
        channel="telegram",
        buttons=True,
        previous=Previous(),
    )
    assert result.feedback is None and result.handoff == "asked_for_person"


def test_an_unsupported_language_is_told_so_in_the_bots_languages() -> None:
    decision = Decision("handoff", "nl", None, None, 0.0, (), "unsupported_language")
    result = plan(decision)
    assert result.handoff == "unsupported_language"
    assert "Nederlands" in result.messages[0].text
