"""The privacy settings read from the environment: a mistyped erase mode refuses to start."""

from __future__ import annotations

import pytest

from app.settings import Settings


def test_privacy_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("ONETHREAD_SECRET_KEY", "k")
    monkeypatch.setenv("ONETHREAD_EVENT_RETENTION_DAYS", "7")
    monkeypatch.setenv("ONETHREAD_RETENTION_INTERVAL_HOURS", "0")
    monkeypatch.setenv("ONETHREAD_ERASE_MODE", "Delete")
    settings = Settings.from_env()
    assert (settings.event_retention_days, settings.retention_interval_hours, settings.erase_mode) == (
        7,
        0.0,
        "delete",
    )
    monkeypatch.delenv("ONETHREAD_ERASE_MODE")
    assert Settings.from_env().erase_mode == "anonymize"


def test_an_unknown_erase_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONETHREAD_SECRET_KEY", "k")
    monkeypatch.setenv("ONETHREAD_ERASE_MODE", "shred")
    with pytest.raises(ValueError, match="anonymize or delete"):
        Settings.from_env()
