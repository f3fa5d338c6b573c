"""The ``onethread`` command line as an operator uses it: real processes, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from app.settings import Settings
from tests.conftest import SECRET, base_settings, truncate_postgres


def run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_with(settings, {}, *args)


def run_with(settings: Settings, extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ONETHREAD_DATABASE_URL": settings.database_url,
        "ONETHREAD_SECRET_KEY": SECRET,
        "ONETHREAD_VAR_DIR": str(settings.var_dir),
        **extra_env,
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
async def production(pg_url: str, tmp_path: Path) -> Settings:
    await truncate_postgres(pg_url)
    return base_settings(database_url=pg_url, var_dir=tmp_path / "var")


def test_agent_create_and_bad_input_exit_codes(embedded: Settings) -> None:
    ok = run(
        embedded,
        "agent",
        "create",
        "--email",
        "Agent@Example.com",
        "--name",
        "Agent",
        "--password",
        "long enough password",
    )
    assert ok.returncode == 0, ok.stderr
    assert "agent@example.com" in ok.stdout
    again = run(
        embedded, "agent", "create", "--email", "agent@example.com", "--name", "A", "--password", "x" * 10
    )
    assert again.returncode == 2
    assert again.stderr.strip().count("\n") == 0 and "exists" in again.stderr
    weak = run(embedded, "agent", "create", "--email", "b@example.com", "--name", "B", "--password", "short")
    assert weak.returncode == 2 and "at least 8" in weak.stderr
    bad_email = run(embedded, "agent", "create", "--email", "nope", "--name", "B", "--password", "x" * 10)
    assert bad_email.returncode == 2 and "email" in bad_email.stderr
    missing = run(embedded, "agent", "create", "--email", "c@example.com")
    assert missing.returncode == 2


def test_channel_add_api_prints_what_the_source_needs(embedded: Settings) -> None:
    result = run(
        embedded,
        "channel",
        "add",
        "api",
        "--name",
        "SMS gateway",
        "--callback-url",
        "https://sms.example/hook",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["channel"] == "api" and out["name"] == "SMS gateway"
    assert out["inbound_url"].endswith(f"/api/v1/channels/{out['id']}/inbound")
    assert out["token"].startswith("ot_in_") and out["signing_secret"].startswith("ot_sig_")
    assert out["callback_url"] == "https://sms.example/hook"
    bad = run(embedded, "channel", "add", "api", "--name", "X", "--callback-url", "ftp://nope")
    assert bad.returncode == 2 and "http" in bad.stderr


def test_demo_loads_customers_across_channels_and_is_repeatable(embedded: Settings) -> None:
    first = run(embedded, "demo")
    assert first.returncode == 0, first.stderr
    assert "admin@onethread.local" in first.stdout
    second = run(embedded, "demo")
    assert second.returncode == 0, second.stderr
    password = json.loads((Path(embedded.var_dir) / "demo-credentials.json").read_text())["password"]
    assert password in first.stdout and password in second.stdout


async def test_channel_credentials_are_encrypted_at_rest(production: Settings) -> None:
    result = run(production, "channel", "add", "api", "--name", "Secret holder", "--json")
    assert result.returncode == 0, result.stderr
    token = json.loads(result.stdout)["token"]
    conn = await asyncpg.connect(production.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        raw = await conn.fetchval("SELECT secrets FROM channel_accounts")
    finally:
        await conn.close()
    assert token not in raw and "inbound_token" not in raw


def test_serve_and_worker_refuse_to_start_in_one_line_when_redis_is_down(embedded: Settings) -> None:
    """An operator whose Redis is down reads which service and which variable, not a traceback."""
    closed = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there
    for command in ("serve", "worker"):
        env_settings = embedded.with_overrides(redis_url=closed)
        answer = run_with(env_settings, {"ONETHREAD_REDIS_URL": closed, "ONETHREAD_PORT": "9"}, command)
        assert answer.returncode == 2, answer.stderr
        last = answer.stderr.strip().splitlines()[-1]
        assert last.startswith("onethread: cannot start: redis unreachable"), answer.stderr
        assert "ONETHREAD_REDIS_URL" in last and "Traceback" not in answer.stderr
