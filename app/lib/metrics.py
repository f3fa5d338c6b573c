"""OneThread's own Prometheus metrics, beside the per-request ones of Litestar's plugin.

Domain code calls one of the small functions below at the moment something happened (a message
stored, a delivery failed, the bot decided); each is a single line at its call site, so edits of
those modules by others merge easily. Everything lives in ``prometheus_client``'s default registry,
one per process: every ``onethread serve`` serves its own counters at ``/metrics`` (and the worker
on ``ONETHREAD_WORKER_METRICS_PORT``); Prometheus scrapes each process and sums.

Label values come from small fixed sets (channel names, outcome names, reason classes, socket
kinds), never from ids or customer text, so the number of series stays bounded.
"""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, disable_created_metrics

T = TypeVar("T")

# ``*_created`` series (a timestamp per labelled counter) double what is scraped for no use here.
disable_created_metrics()  # type: ignore[no-untyped-call]

INGESTED = Counter(
    "onethread_messages_ingested",
    "Inbound customer messages stored (duplicates of stored ones not counted), by channel",
    ["channel"],
)
DELIVERY_FAILURES = Counter(
    "onethread_delivery_failures",
    "Failed outbound delivery attempts, by channel and reason class: temporary (retried later), "
    "permanent (the platform refused), exhausted (gave up after the last attempt), unavailable "
    "(no account or adapter to send with), bounced (a mail bounce after sending)",
    ["channel", "reason"],
)
BOT_OUTCOMES = Counter(
    "onethread_bot_outcomes", "The bot's decisions on customer messages, by outcome", ["outcome"]
)
WEBSOCKETS = Gauge(
    "onethread_websocket_connections",
    "Websocket connections open now, by kind: agent (/api/v1/events), console (/live), widget",
    ["kind"],
)
JOB_QUEUE_DEPTH = Gauge(
    "onethread_job_queue_depth",
    "Jobs not finished yet, computed when scraped: waiting (not yet taken by a worker) and "
    "running (taken, not acknowledged); embedded: the jobs running in this process",
    ["state"],
)

# Socket kinds by route template: anything else is counted as "other" (still a bounded set).
_SOCKET_KINDS = {"/api/v1/events": "agent", "/live": "console", "/widget/v1/ws": "widget"}
DELIVERY_REASONS = ("temporary", "permanent", "exhausted", "unavailable", "bounced")


def ingested(channel: str, result: T) -> T:
    """Count a stored inbound message (not a repeat of one already stored); returns ``result``."""
    if not getattr(result, "duplicate", False):
        INGESTED.labels(channel).inc()
    return result


def delivery_failed(channel: str, reason: str) -> None:
    """Count one failed delivery attempt; ``reason`` is one of :data:`DELIVERY_REASONS`."""
    DELIVERY_FAILURES.labels(channel, reason).inc()


def bot_turn(result: T) -> T:
    """Count a bot decision (``None``, not the bot's turn, counts nothing); returns ``result``."""
    outcome = getattr(result, "outcome", None)
    if isinstance(outcome, str):
        BOT_OUTCOMES.labels(outcome).inc()
    return result


def socket_kind(path_template: str) -> str:
    return _SOCKET_KINDS.get(path_template, "other")


def websocket_opened(kind: str) -> None:
    WEBSOCKETS.labels(kind).inc()


def websocket_closed(kind: str) -> None:
    WEBSOCKETS.labels(kind).dec()


def set_queue_depth(waiting: float, running: float) -> None:
    JOB_QUEUE_DEPTH.labels("waiting").set(waiting)
    JOB_QUEUE_DEPTH.labels("running").set(running)


def initialise(channels: Any = ()) -> None:
    """Create the labelled series that should read 0 before anything happened (a dashboard's
    rate() needs a first sample), for the given channel names."""
    for channel in channels:
        INGESTED.labels(channel)
    for kind in ("agent", "console", "widget"):
        WEBSOCKETS.labels(kind)
