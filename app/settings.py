"""Settings, read once from the environment (API.md "Environment").

Every variable is optional: the defaults give the embedded shape (SQLite file, in-process realtime
and jobs) so ``make run`` works on a fresh clone. Tests build their own ``Settings`` and pass it to
``app.core.create_app`` instead of touching ``os.environ``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/onethread.db"


class SettingsError(ValueError):
    """An environment variable holds a value OneThread cannot use; the message names it."""


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _int(name: str, default: int) -> int:
    value = _env(name) or str(default)
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {value!r}") from None


def _float(name: str, default: float) -> float:
    value = _env(name) or str(default)
    try:
        return float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {value!r}") from None


def _load_or_create_secret(path: Path) -> str:
    """The embedded shape keeps its secret in ./var so restarts keep sessions and credentials."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    return key


def _log_format(value: str) -> str:
    if value.lower() not in ("text", "json"):
        raise SettingsError(f"ONETHREAD_LOG_FORMAT must be text or json, not {value!r}")
    return value.lower()


ERASE_MODES = ("anonymize", "delete")


def _erase_mode(value: str) -> str:
    """A mistyped mode must not silently pick one: refuse to start instead."""
    mode = value.lower() or "anonymize"
    if mode not in ERASE_MODES:
        raise SettingsError(f"ONETHREAD_ERASE_MODE must be anonymize or delete, not {value!r}")
    return mode


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the process needs to know about its environment."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = ""
    secret_key: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    smtp_listen: str = ""
    var_dir: Path = Path("var")
    storage_dir: Path | None = None
    """Where attachment bytes are kept (``var_dir/files`` when unset); shared by every process."""
    max_attachment_bytes: int = 20 * 1024 * 1024
    """Largest file fetched from a platform or uploaded by an agent; larger ones stay a link.
    (Telegram's Bot API serves bots files up to 20 MB.)"""
    default_phone_region: str = "NL"
    """Region used to read phone numbers written without a country code (ISO 3166 alpha-2)."""
    db_pool_size: int = 10
    db_max_overflow: int = 5
    """Per process: the ORM pool (size + overflow) and the ingest fast path's own pool (size again);
    keep processes * (2 * size + overflow) under PostgreSQL's max_connections."""
    max_request_bytes: int = 1_048_576
    """Request bodies above this are refused with 413 (webhook bodies and API calls alike)."""
    max_mail_bytes: int = 50 * 1024 * 1024
    """Largest raw mail accepted (SMTP answers 552, the webhook 413); its attachments are then
    kept up to ``max_attachment_bytes`` each and the rest marked too large."""
    max_text_chars: int = 65_536
    """Longest message text accepted from any source, in characters."""
    event_retention_days: int = 30
    """Realtime events older than this are pruned (``onethread retention prune``); a client resuming
    from a cursor before what is left gets ``resync`` and reloads its state."""
    retention_interval_hours: float = 24.0
    """How often the job worker runs the retention prune by itself (0: never; use cron instead)."""
    erase_mode: str = "anonymize"
    """What ``contact erase`` does without ``--mode``: ``anonymize`` (keep the thread's shape for
    statistics, no personal data) or ``delete`` (remove the contact and its thread outright)."""
    delivery_max_attempts: int = 8
    delivery_backoff_base: float = 2.0
    """Seconds before the first retry; each further retry waits twice as long (capped)."""
    delivery_backoff_cap: float = 300.0
    delivery_lease_seconds: float = 30.0
    """How long a delivery's per-message lock outlives its holder: a worker that dies mid-delivery
    leaves its messages to another worker after this long (the sweep runs this often too)."""
    login_rate_limit_per_minute: int = 10
    """Login attempts allowed per client address, and per account, in each window."""
    login_rate_window_seconds: int = 60
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose X-Forwarded-For is believed (uvicorn); behind compose's nginx, ``*``."""
    ws_heartbeat_seconds: float = 25.0
    """Idle sockets get a ``{"type": "ping"}`` this often so proxies keep them open."""
    redis_prefix: str = "onethread"
    """Namespace of this instance's keys in a shared Redis (rate limits, stores)."""
    job_queue: str = "onethread:jobs"
    """The Redis stream delivery jobs go through (tests give each run its own)."""
    run_worker_in_process: bool = True
    """The embedded shape runs jobs inside ``serve``; with Redis, ``onethread worker`` runs them."""
    log_format: str = "text"
    """``text`` (a person at a terminal) or ``json`` (one object per line, for a log collector)."""
    metrics_token: str = ""
    """When set, ``/metrics`` wants it as a bearer token; empty leaves ``/metrics`` open."""
    worker_metrics_port: int = 0
    """Where ``onethread worker`` serves ``/metrics``, ``/health`` and ``/ready`` (0: nowhere)."""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def files_dir(self) -> Path:
        return self.storage_dir or self.var_dir / "files"

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url)

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls) -> Settings:
        var_dir = Path(_env("ONETHREAD_VAR_DIR", "var"))
        redis_url = _env("ONETHREAD_REDIS_URL")
        secret = _env("ONETHREAD_SECRET_KEY") or _load_or_create_secret(var_dir / "secret.key")
        port = _int("ONETHREAD_PORT", 8000)
        host = _env("ONETHREAD_HOST", "127.0.0.1")
        return cls(
            database_url=_env("ONETHREAD_DATABASE_URL", DEFAULT_DATABASE_URL),
            redis_url=redis_url,
            secret_key=secret,
            host=host,
            port=port,
            public_url=_env("ONETHREAD_PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
            smtp_listen=_env("ONETHREAD_SMTP_LISTEN"),
            var_dir=var_dir,
            storage_dir=Path(_env("ONETHREAD_STORAGE_DIR")) if _env("ONETHREAD_STORAGE_DIR") else None,
            max_attachment_bytes=_int("ONETHREAD_MAX_ATTACHMENT_BYTES", 20 * 1024 * 1024),
            max_mail_bytes=_int("ONETHREAD_MAX_MAIL_BYTES", 50 * 1024 * 1024),
            default_phone_region=_env("ONETHREAD_DEFAULT_PHONE_REGION", "NL").upper(),
            delivery_backoff_base=_float("ONETHREAD_DELIVERY_BACKOFF_BASE", 2.0),
            delivery_max_attempts=_int("ONETHREAD_DELIVERY_MAX_ATTEMPTS", 8),
            event_retention_days=_int("ONETHREAD_EVENT_RETENTION_DAYS", 30),
            retention_interval_hours=_float("ONETHREAD_RETENTION_INTERVAL_HOURS", 24),
            erase_mode=_erase_mode(_env("ONETHREAD_ERASE_MODE", "anonymize")),
            db_pool_size=_int("ONETHREAD_DB_POOL_SIZE", 10),
            db_max_overflow=_int("ONETHREAD_DB_MAX_OVERFLOW", 5),
            delivery_backoff_cap=_float("ONETHREAD_DELIVERY_BACKOFF_CAP", 300),
            delivery_lease_seconds=_float("ONETHREAD_DELIVERY_LEASE_SECONDS", 30),
            login_rate_limit_per_minute=_int("ONETHREAD_LOGIN_RATE_LIMIT", 10),
            login_rate_window_seconds=_int("ONETHREAD_LOGIN_RATE_WINDOW", 60),
            forwarded_allow_ips=_env("ONETHREAD_FORWARDED_ALLOW_IPS", "127.0.0.1"),
            ws_heartbeat_seconds=_float("ONETHREAD_WS_HEARTBEAT_SECONDS", 25),
            job_queue=_env("ONETHREAD_JOB_QUEUE", "onethread:jobs"),
            redis_prefix=_env("ONETHREAD_REDIS_PREFIX", "onethread"),
            run_worker_in_process=_env("ONETHREAD_WORKER_IN_PROCESS", "" if redis_url else "1") == "1",
            log_format=_log_format(_env("ONETHREAD_LOG_FORMAT", "text")),
            metrics_token=_env("ONETHREAD_METRICS_TOKEN"),
            worker_metrics_port=_int("ONETHREAD_WORKER_METRICS_PORT", 0),
        )
