"""The whole benchmark suite in one command (``make bench``), on PostgreSQL + Redis, one table.

    python bench/suite.py [--only ingest-api,…] [--skip …] [--list]

Runs the deep-dive scripts one after another with phases shorter than their own defaults (the
whole suite takes about 12 minutes on 2 cores), reads the JSON each one writes under
``bench/results/``, and prints ONE table: per channel (api, widget, telegram, messenger, email)
ingest msgs/s at saturation and p50/p99 POST→agent-websocket latency at 200 msg/s and at
saturation, each beside the floor measured in the same run and the ratio; widget sockets held and
the server's RSS; the thread page and the inbox at 10,000 threads / 1,000,000 messages; the bot's
decision p99 with 1,000 rules; the worker's delivery throughput. Goals (pass/fail): ingest ≥ 0.5 x
floor, p99 ≤ 25 ms at 200 msg/s. The last column is the cores other processes on the machine took
while OneThread was measured (0 = quiet; figures with more are pessimistic).

The table also goes to ``bench/results/suite-<timestamp>.md`` and ``.json`` (with each step's
command, exit status, duration and result file); each step's output to ``suite-<timestamp>-<step>.log``.
The exit status is 1 when a step failed (its rows then read "failed"), not when a goal is missed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from common import REPO, RESULTS_DIR, fmt, machine_info, markdown_table, text_table  # noqa: E402

GOAL_RATIO = 0.5
GOAL_P99_MS = 25.0
RATE = 200


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    script: str
    args: tuple[str, ...]
    result_prefix: str
    """The result file is the newest ``bench/results/<prefix>-2*.json`` written during the step."""


SHORT = ("--saturation-seconds", "6", "--duration", "6", "--rate", str(RATE))
STEPS = (
    Step("ingest-api", "ingest.py", (*SHORT, "--warmup", "300", "--warmup-seconds", "5"), "ingest"),
    Step(
        "ingest-widget",
        "ingest.py",
        (*SHORT, "--channel", "widget", "--contacts", "1000", "--warmup", "1000", "--warmup-seconds", "6"),
        "ingest-widget",
    ),
    Step(
        "webhooks",
        "webhooks.py",
        (
            *SHORT,
            "--contacts",
            "200",
            "--warmup",
            "400",
            "--warmup-seconds",
            "8",
            "--retry-updates",
            "20",
            "--retry-copies",
            "5",
            "--settle-seconds",
            "30",
        ),
        "webhooks",
    ),
    Step(
        "email",
        "email_ingest.py",
        (
            "--paths",
            "webhook",
            "--saturation-seconds",
            "6",
            "--duration",
            "4",
            "--rate",
            str(RATE),
            "--warmup",
            "300",
            "--warmup-seconds",
            "8",
            "--noise-copies",
            "2",
            "--parse-seconds",
            "1",
            "--settle-seconds",
            "30",
        ),
        "email",
    ),
    Step(
        "widget-sockets",
        "widget.py",
        ("--visitors", "2000", "--replies", "50", "--rate", "5", "--hold-seconds", "5"),
        "widget",
    ),
    Step(
        "console",
        "console.py",
        ("--only", "pg,floor", "--requests", "150", "--warmup", "15", "--total-messages", "1000000"),
        "console",
    ),
    Step("bot", "bot.py", ("--decisions", "5000", "--warmup", "500"), "bot"),
    Step("delivery", "delivery.py", ("--messages", "500", "--customers", "50"), "delivery"),
)


# ------------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------------
def run_step(step: Step, stamp: str) -> dict[str, Any]:
    """Run one script to completion; its exit status, duration, log and parsed result."""
    command = [sys.executable, str(BENCH_DIR / step.script), *step.args]
    log = RESULTS_DIR / f"suite-{stamp}-{step.name}.log"
    started = time.time()
    print(f"[{datetime.now():%H:%M:%S}] {step.name}: {' '.join(command[1:])}", flush=True)
    with log.open("wb") as out:
        status = subprocess.run(
            command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode
    seconds = time.time() - started
    candidates = [
        path
        for path in glob.glob(str(RESULTS_DIR / f"{step.result_prefix}-2*.json"))
        if os.path.getmtime(path) >= started - 1
    ]
    result_file = max(candidates, key=os.path.getmtime) if candidates else None
    result = json.loads(Path(result_file).read_text()) if result_file else None
    print(
        f"[{datetime.now():%H:%M:%S}] {step.name}: exit {status} in {seconds:.0f}s"
        + ("" if result_file else f" — no result file; see {log.relative_to(REPO)}"),
        flush=True,
    )
    return {
        "command": " ".join(command[1:]),
        "status": status,
        "seconds": round(seconds, 1),
        "log": str(log.relative_to(REPO)),
        "result_file": str(Path(result_file).relative_to(REPO)) if result_file else None,
        "result": result,
    }


# ------------------------------------------------------------------------------------------------
# the table
# ------------------------------------------------------------------------------------------------
Row = list[str]


def _ratio(ours: float | None, floor: float | None, digits: int = 2) -> str:
    if ours is None or not floor:
        return "—"
    return f"{ours / floor:.{digits}f}x"


def _pair(phase: dict[str, Any] | None, key: str = "latency_ms") -> str:
    """``p50 / p99`` of a phase; ``≥`` when messages without an event were counted as lower bounds."""
    if not phase:
        return "—"
    lat = phase[key]
    mark = "≥" if phase.get("latency_censored") else ""
    return f"{mark}{fmt(lat['p50'])} / {mark}{fmt(lat['p99'])}"


def _others(*phases: dict[str, Any] | None) -> str:
    values = [p["cpu_seconds"]["other_cores"] for p in phases if p and "cpu_seconds" in p]
    return "/".join(f"{v:.2f}" for v in values) or "—"


def ingest_rows(
    channel: str, ours: dict[str, Any] | None, floor: dict[str, Any] | None, *, ran: bool = True
) -> tuple[list[Row], dict[str, bool]]:
    """Three rows per channel (saturation throughput, latency at 200/s, latency at saturation)."""
    if not ours:
        return [[f"{channel}: ingest", "failed" if ran else "not run", "", "", "", ""]], {}
    sat, rate = ours["saturation"], ours["rate"]
    fsat, frate = (floor or {}).get("saturation"), (floor or {}).get("rate")
    ratio = sat["events_per_s"] / fsat["events_per_s"] if fsat else None
    p99 = rate["latency_ms"]["p99"]
    kept = bool(rate.get("kept_up"))
    goals = {
        f"{channel} ingest ≥ {GOAL_RATIO} x floor": ratio is not None and ratio >= GOAL_RATIO,
        f"{channel} p99 ≤ {GOAL_P99_MS:g} ms at {RATE}/s": p99 is not None and p99 <= GOAL_P99_MS and kept,
    }
    rows = [
        [
            f"{channel}: msgs/s at saturation",
            fmt(sat["events_per_s"]),
            fmt(fsat["events_per_s"]) if fsat else "—",
            f"{ratio:.2f}x" if ratio is not None else "—",
            f"≥ {GOAL_RATIO}x: " + ("PASS" if goals[f"{channel} ingest ≥ {GOAL_RATIO} x floor"] else "FAIL"),
            _others(sat),
        ],
        [
            f"{channel}: p50 / p99 ms at {RATE}/s" + ("" if kept else " (fell behind)"),
            _pair(rate),
            _pair(frate),
            _ratio(p99, frate["latency_ms"]["p99"] if frate else None, 1) + " (p99)",
            f"p99 ≤ {GOAL_P99_MS:g}: "
            + ("PASS" if goals[f"{channel} p99 ≤ {GOAL_P99_MS:g} ms at {RATE}/s"] else "FAIL"),
            _others(rate),
        ],
        [f"{channel}: p50 / p99 ms at saturation", _pair(sat), _pair(fsat), "", "", ""],
    ]
    return rows, goals


def build_table(steps: dict[str, dict[str, Any]]) -> tuple[list[Row], dict[str, bool]]:
    rows: list[Row] = []
    goals: dict[str, bool] = {}

    def missing(name: str) -> str:
        return "failed" if name in steps else "not run"

    def result(name: str) -> dict[str, Any] | None:
        step = steps.get(name)
        return step["result"] if step and step["result"] else None

    def add(channel: str, ours: dict[str, Any] | None, floor: dict[str, Any] | None, step: str) -> None:
        more_rows, more_goals = ingest_rows(channel, ours, floor, ran=step in steps)
        rows.extend(more_rows)
        goals.update(more_goals)

    for channel, name in (("api", "ingest-api"), ("widget", "ingest-widget")):
        r = result(name)
        add(
            channel,
            (r or {}).get("results", {}).get("onethread"),
            (r or {}).get("results", {}).get("floor"),
            name,
        )
    wh = (result("webhooks") or {}).get("results", {})
    for channel in ("telegram", "messenger"):
        add(channel, wh.get(channel, {}).get("onethread"), wh.get(channel, {}).get("floor"), "webhooks")
    em = (result("email") or {}).get("results", {}).get("webhook", {})
    add("email", em.get("onethread"), em.get("floor"), "email")

    widget = (result("widget-sockets") or {}).get("results", {})
    ot, fl = widget.get("onethread"), widget.get("floor")
    if ot:
        held, fheld = ot["hold"], (fl or {}).get("hold")
        rows += [
            [
                f"widget sockets held (of {ot['open']['sockets'] + ot['open']['failed']})",
                f"{ot['open']['sockets']:,}",
                f"{fl['open']['sockets']:,}" if fl else "—",
                "",
                "",
                _others(held),
            ],
            [
                "server RSS MB idle / sockets held",
                f"{fmt(ot['idle']['memory_mb'].get('rss'))} / {fmt(held['memory_mb'].get('rss'))}",
                f"{fmt(fl['idle']['memory_mb'].get('rss'))} / {fmt(fheld['memory_mb'].get('rss'))}"
                if fl
                else "—",
                _ratio(held["memory_mb"].get("rss"), fheld["memory_mb"].get("rss") if fheld else None),
                "",
                "",
            ],
            [
                "RSS KiB per socket",
                fmt(held.get("per_socket_kib")),
                fmt(fheld.get("per_socket_kib")) if fheld else "—",
                _ratio(held.get("per_socket_kib"), fheld.get("per_socket_kib") if fheld else None),
                "",
                "",
            ],
        ]
        if "fanout" in ot:
            f = ot["fanout"]
            ff = (fl or {}).get("fanout")
            rows.append(
                [
                    f"agent reply → visitor socket p50 / p99 ms ({f.get('offered_per_s', 5):g}/s)",
                    f"{fmt(f['latency_ms']['p50'])} / {fmt(f['latency_ms']['p99'])}",
                    f"{fmt(ff['latency_ms']['p50'])} / {fmt(ff['latency_ms']['p99'])}" if ff else "—",
                    "",
                    "",
                    _others(f),
                ]
            )
    else:
        rows.append(["widget sockets", missing("widget-sockets"), "", "", "", ""])

    console = (result("console") or {}).get("results", {})
    pg, floor_page = console.get("pg"), console.get("floor", {}).get("page")
    if pg:
        size = f"{pg['rows'].get('threads', 0):,} threads / {pg['rows'].get('messages', 0):,} msgs"
        for page, label in (("thread", "thread page"), ("inbox", "inbox list")):
            p = pg[page]
            rows.append(
                [
                    f"{label} p50 / p99 ms ({size})",
                    f"{fmt(p['ms']['p50'])} / {fmt(p['ms']['p99'])}",
                    f"{fmt(floor_page['ms']['p50'])} / {fmt(floor_page['ms']['p99'])}" if floor_page else "—",
                    _ratio(p["ms"]["p50"], floor_page["ms"]["p50"] if floor_page else None, 1) + " (p50)",
                    "",
                    f"{p.get('other_cores', 0):.2f}",
                ]
            )
    else:
        rows.append(["console pages", missing("console"), "", "", "", ""])

    bot = (result("bot") or {}).get("results", {})
    decide = next((v for k, v in bot.items() if k.startswith("decide,") and "1000 rules (wall" in k), None)
    decide_cpu = next((v for k, v in bot.items() if k.startswith("decide,") and "1000 rules (CPU" in k), None)
    norm = next((v for k, v in bot.items() if k.startswith("floor: normalization") and "wall" in k), None)
    if decide:
        rows.append(
            [
                "bot decision p50 / p99 ms, 1,000 rules (wall; CPU p99)",
                f"{decide['p50_ms']:.2f} / {decide['p99_ms']:.2f}"
                + (f" ({decide_cpu['p99_ms']:.2f})" if decide_cpu else ""),
                f"{norm['p50_ms']:.3f} / {norm['p99_ms']:.3f}" if norm else "—",
                "",
                "",
                f"load {(result('bot') or {}).get('load_average', 0):.1f}",
            ]
        )
    else:
        rows.append(["bot decision", missing("bot"), "", "", "", ""])

    dl = (result("delivery") or {}).get("results", {})
    if dl.get("onethread"):
        d, df = dl["onethread"], dl.get("floor")
        rows.append(
            [
                f"delivery msgs/s, 1 worker → fake Bot API ({d['delivered']:,} sent, {d['duplicates']} dup.)",
                fmt(d["delivered_per_s"]),
                fmt(df["delivered_per_s"]) if df else "—",
                _ratio(d["delivered_per_s"], df["delivered_per_s"] if df else None),
                "",
                f"{d['cpu_seconds'].get('other_cores', 0):.2f}",
            ]
        )
    else:
        rows.append(["delivery", missing("delivery"), "", "", "", ""])
    return rows, goals


HEADERS = ["figure", "OneThread", "floor", "ratio", "goal", "others (cores)"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = [step.name for step in STEPS]
    parser.add_argument("--only", default="", help=f"comma-separated steps to run: {', '.join(names)}")
    parser.add_argument("--skip", default="", help="comma-separated steps to leave out")
    parser.add_argument("--list", action="store_true", help="print the steps and their commands, run nothing")
    args = parser.parse_args(argv)
    only = {s for s in args.only.split(",") if s}
    skip = {s for s in args.skip.split(",") if s}
    unknown = (only | skip) - set(names)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    args.steps = [step for step in STEPS if (not only or step.name in only) and step.name not in skip]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for step in args.steps:
            print(f"{step.name:15} python bench/{step.script} {' '.join(step.args)}")
        return 0
    RESULTS_DIR.mkdir(exist_ok=True)
    started = datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    t0 = time.monotonic()
    load_before = os.getloadavg()
    print(
        f"benchmark suite: {len(args.steps)} steps on {os.cpu_count()} cores, PostgreSQL + Redis; "
        f"load average before {load_before[0]:.2f}",
        flush=True,
    )
    steps: dict[str, dict[str, Any]] = {}
    try:
        for step in args.steps:
            steps[step.name] = run_step(step, stamp)
    except KeyboardInterrupt:
        print("suite interrupted; the table shows the steps that finished", file=sys.stderr)
    rows, goals = build_table(steps)
    seconds = time.monotonic() - t0
    machine = machine_info()
    print()
    print(text_table(HEADERS, rows))
    print()
    passed = sum(goals.values())
    print(f"goals: {passed} of {len(goals)} met")
    for goal, ok in goals.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {goal}")
    failed = [name for name, step in steps.items() if step["status"] != 0 or not step["result"]]
    if failed:
        print(f"steps that failed (see their logs): {', '.join(failed)}")
    print(
        f"whole suite {seconds / 60:.1f} min; commit {machine['git_commit']}; "
        f"load average after {machine['load_average_after'][0]:.2f}. 'others (cores)': CPU taken by "
        "processes outside the benchmark while OneThread was measured (saturation/rate)."
    )
    md = "\n".join(
        [
            f"# Benchmark suite {started:%Y-%m-%d %H:%M} (commit {machine['git_commit']}, {seconds / 60:.1f} min)",
            "",
            markdown_table(HEADERS, rows),
            "",
            *(f"- {'PASS' if ok else 'FAIL'} {goal}" for goal, ok in goals.items()),
            "",
        ]
    )
    (RESULTS_DIR / f"suite-{stamp}.md").write_text(md)
    report = {
        "benchmark": "suite",
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "machine": machine,
        "load_average_before": load_before,
        "goals": goals,
        "table": {"headers": HEADERS, "rows": rows},
        "steps": {name: {k: v for k, v in step.items() if k != "result"} for name, step in steps.items()},
    }
    (RESULTS_DIR / f"suite-{stamp}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"results: bench/results/suite-{stamp}.md, .json")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
