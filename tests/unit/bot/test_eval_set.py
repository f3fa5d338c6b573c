"""The engine against tests/unit/bot/eval_set.yaml: how customers really ask, labeled by hand.

Run with ``-s`` to see the figures.  A wrong answer is worse than a handoff, so precision (answers
that are right, over all answers given — including answers to questions no rule should answer) must
stay ≥ 0.95, while at least 0.80 of the answerable questions get an answer.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from app.domain.bot.engine import BotEngine
from app.domain.bot.rules_yaml import load_rules_yaml

HERE = Path(__file__).parent
DEMO = HERE.parents[2] / "app" / "domain" / "bot" / "demo_rules.yaml"


def test_eval_set_precision_and_coverage() -> None:
    rules = load_rules_yaml(DEMO.read_text(encoding="utf-8"))
    engine = BotEngine(rules)
    items = yaml.safe_load((HERE / "eval_set.yaml").read_text(encoding="utf-8"))
    known = {rule.id for rule in rules.rules} | {"handoff"}
    assert len(items) >= 150
    assert {item["expect"] for item in items} <= known

    answered = right = answerable = answerable_answered = suggested_right = handoffs_kept = 0
    wrong: list[str] = []
    missed: list[str] = []
    for item in items:
        decision = engine.decide(item["text"])
        expect = item["expect"]
        top = ", ".join(f"{c.rule_id} {c.score:.2f}" for c in decision.candidates[:3])
        line = f"{item['text']!r}: expected {expect}, got {decision.outcome} {decision.rule_id or decision.reason or ''} [{top}]"
        if expect != "handoff":
            answerable += 1
        if decision.outcome == "answer":
            answered += 1
            if decision.rule_id == expect:
                right += 1
                answerable_answered += 1
            else:
                answerable_answered += expect != "handoff"
                wrong.append(line)
        else:
            if expect == "handoff":
                handoffs_kept += decision.outcome == "handoff"
            else:
                suggested_right += expect in decision.suggestions
                missed.append(line)

    precision = right / answered if answered else 0.0
    share = answerable_answered / answerable
    print(f"\neval set: {len(items)} phrasings, {answerable} answerable, {len(items) - answerable} handoff")
    print(f"precision on answered: {precision:.3f} ({right}/{answered})")
    print(f"answerable answered:   {share:.3f} ({answerable_answered}/{answerable})")
    print(
        f"unanswered but the right rule suggested: {suggested_right}; handoff items handed off: {handoffs_kept}"
    )
    print("wrong answers:\n  " + "\n  ".join(wrong or ["none"]))
    print("not answered:\n  " + "\n  ".join(missed or ["none"]))
    assert precision >= 0.95, "\n".join(wrong)
    assert share >= 0.80, "\n".join(missed)
