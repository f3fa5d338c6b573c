"""The bot benchmark's inputs: 1,000 valid rules made the same way every run, and its percentile."""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import bot as bench_bot  # bench/ is not a package: found through the line above

from app.domain.bot.engine import BotEngine
from app.domain.bot.rules import RuleSet
from app.domain.bot.rules_yaml import dump_rules_yaml, load_rules_yaml


def demo() -> RuleSet:
    return load_rules_yaml((bench_bot.ROOT / "app/domain/bot/demo_rules.yaml").read_text(encoding="utf-8"))


def test_generated_rules_are_deterministic_valid_and_keep_the_demo_first() -> None:
    first = bench_bot.generated_rules(demo(), 1000, random.Random(7))
    again = bench_bot.generated_rules(demo(), 1000, random.Random(7))
    assert first == again
    assert len(first.rules) == 1000
    assert first.rules[: len(demo().rules)] == demo().rules
    assert load_rules_yaml(dump_rules_yaml(first)) == first  # every generated rule passes the checks


def test_messages_mix_eval_generated_and_bad_input() -> None:
    rng = random.Random(7)
    rules = bench_bot.generated_rules(demo(), 400, rng)
    texts = bench_bot.messages(rules, rng)
    assert "" in texts and any(len(t) >= 20_000 for t in texts)
    engine = BotEngine(rules)
    outcomes = {engine.decide(t).outcome for t in texts}
    assert outcomes == {"answer", "suggest", "handoff"}


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert bench_bot.percentile(values, 0.5) == 51.0
    assert bench_bot.percentile(values, 0.99) == 100.0
