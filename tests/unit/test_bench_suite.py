"""``make bench``'s one table: the goals read from the scripts' results, and a failed step shown as
failed rather than breaking the table; the widget ingest body a visitor would send."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import common  # bench/ is not a package: found through the line above
import ingest
import suite


def phase(per_s: float, p50: float, p99: float, *, kept_up: bool = True, censored: int = 0) -> dict[str, Any]:
    return {
        "events_per_s": per_s,
        "latency_ms": {"p50": p50, "p99": p99},
        "latency_censored": censored,
        "kept_up": kept_up,
        "cpu_seconds": {"other_cores": 0.1},
    }


def target(sat: float, p99_rate: float, *, kept_up: bool = True) -> dict[str, Any]:
    return {"saturation": phase(sat, 20, 60), "rate": phase(200, 2, p99_rate, kept_up=kept_up)}


def test_ingest_goals_pass_and_fail_on_the_issue_thresholds() -> None:
    steps = {
        "ingest-api": {"result": {"results": {"onethread": target(600, 12), "floor": target(1000, 8)}}},
        "ingest-widget": {"result": {"results": {"onethread": target(400, 12), "floor": target(1000, 8)}}},
        "webhooks": {
            "result": {
                "results": {
                    "telegram": {"onethread": target(900, 30), "floor": target(1000, 8)},
                    "messenger": {"onethread": target(900, 10, kept_up=False), "floor": target(1000, 8)},
                }
            }
        },
        "email": {"result": None},  # ran, wrote nothing
    }
    rows, goals = suite.build_table(steps)
    assert goals["api ingest ≥ 0.5 x floor"] and goals["api p99 ≤ 25 ms at 200/s"]
    assert not goals["widget ingest ≥ 0.5 x floor"]  # 0.4 x
    assert not goals["telegram p99 ≤ 25 ms at 200/s"]  # 30 ms
    assert not goals["messenger p99 ≤ 25 ms at 200/s"]  # fast but fell behind
    labels = [row[0] for row in rows]
    assert "api: msgs/s at saturation" in labels
    assert ["email: ingest", "failed", "", "", "", ""] in rows
    assert ["delivery", "not run", "", "", "", ""] in rows
    assert all(len(row) == len(suite.HEADERS) for row in rows)
    assert common.markdown_table(suite.HEADERS, rows).count("\n") == len(rows) + 1


def test_widget_ingest_bodies_carry_each_visitors_token_and_address() -> None:
    body_for = ingest.widget_body_factory("t1", ["tok-a", "tok-b"])
    first, second, third = body_for(0), body_for(1), body_for(2)
    assert dict(first.headers)["Authorization"] == "Bearer tok-a"
    assert dict(second.headers)["Authorization"] == "Bearer tok-b"
    assert dict(third.headers) == dict(first.headers)  # round-robin: the same visitor, same address
    assert dict(first.headers)["X-Forwarded-For"] != dict(second.headers)["X-Forwarded-For"]
    sent = json.loads(first.body)
    assert ingest.loadgen.marker("t1", 0) in sent["text"]
    assert sent["client_id"] != json.loads(third.body)["client_id"]


def test_percentile_is_nearest_rank() -> None:
    assert common.percentile([], 0.5) is None
    assert common.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert common.percentile([float(i) for i in range(1, 101)], 0.99) == 99.0
