"""docker/ and docs/ keep up with the code: every setting documented, the compose shape complete."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def settings_env_names() -> set[str]:
    """Every ``ONETHREAD_*`` variable ``Settings.from_env`` reads."""
    source = (ROOT / "app" / "settings.py").read_text()
    names = set(re.findall(r"\"(ONETHREAD_[A-Z0-9_]+)\"", source))
    assert len(names) > 20, names  # the pattern still finds them
    return names


def test_every_setting_is_in_env_example_and_the_docs() -> None:
    documents = ("docker/.env.example", "docs/API.md", "README.md")
    missing = {
        document: sorted(
            name
            for name in settings_env_names()
            if not re.search(rf"\b{name}\b", (ROOT / document).read_text())
        )
        for document in documents
    }
    assert missing == {document: [] for document in documents}


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DOCKER / "compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _health_test(service: dict[str, Any]) -> str:
    check = service.get("healthcheck") or {}
    assert not check.get("disable"), service
    test = check.get("test")
    return " ".join(test) if isinstance(test, list) else str(test)


def test_compose_has_the_production_shape() -> None:
    services = compose()["services"]
    assert {"db", "redis", "migrate", "app", "proxy", "worker"} <= set(services)
    assert services["app"]["deploy"]["replicas"] == 2
    assert services["migrate"]["command"] == ["onethread", "migrate"]
    assert services["worker"]["command"] == ["onethread", "worker"]
    for name in ("app", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["proxy"]["depends_on"]["app"]["condition"] == "service_healthy"
    # Healthchecks: the databases, readiness for the app replicas and the worker, the proxy.
    assert "pg_isready" in _health_test(services["db"])
    assert "ping" in _health_test(services["redis"])
    assert "/ready" in _health_test(services["app"])
    assert "9100/ready" in _health_test(services["worker"])
    assert "/health" in _health_test(services["proxy"])
    assert services["worker"]["environment"]["ONETHREAD_WORKER_METRICS_PORT"] == "9100"
    # Every process shares one database, one Redis and one secret.
    for name in ("migrate", "app", "worker"):
        env = services[name]["environment"]
        assert env["ONETHREAD_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["ONETHREAD_REDIS_URL"] == "redis://redis:6379/0"
        assert "ONETHREAD_SECRET_KEY" in env


def test_nginx_passes_websockets_and_request_ids_and_keeps_metrics_inside() -> None:
    conf = (DOCKER / "nginx.conf").read_text()
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert re.search(r"proxy_read_timeout (\d+)s;", conf)
    assert int(re.search(r"proxy_read_timeout (\d+)s;", conf)[1]) > 25  # above the heartbeat  # type: ignore[index]
    assert "proxy_set_header X-Request-ID $onethread_request_id;" in conf
    assert re.search(r"location = /metrics \{\s*return 404;", conf)
    assert "$uri" in conf and "$request_uri" not in conf  # no query strings (tokens) in its log


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    assert re.search(r"^FROM \S+ AS runtime", text, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text and "/health" in text
    assert "-slim" in text
