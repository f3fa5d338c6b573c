"""A value in the environment OneThread cannot use stops every command with one line, exit 2.

The operator who typed ``ONETHREAD_ERASE_MODE=shred`` or a port that is not a number reads which
variable is wrong and why, not a traceback, whatever command they ran.
"""

from __future__ import annotations

import pytest

from app import cli

BAD_VALUES = [
    ("ONETHREAD_ERASE_MODE", "shred", "anonymize or delete"),
    ("ONETHREAD_LOG_FORMAT", "xml", "text or json"),
    ("ONETHREAD_EVENT_RETENTION_DAYS", "abc", "whole number"),
    ("ONETHREAD_RETENTION_INTERVAL_HOURS", "x", "a number"),
    ("ONETHREAD_WORKER_METRICS_PORT", "abc", "whole number"),
    ("ONETHREAD_PORT", "80a", "whole number"),
    ("ONETHREAD_DELIVERY_BACKOFF_BASE", "fast", "a number"),
]


@pytest.mark.parametrize(("name", "value", "reason"), BAD_VALUES, ids=[name for name, _, _ in BAD_VALUES])
def test_a_bad_setting_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str, reason: str
) -> None:
    monkeypatch.setenv("ONETHREAD_SECRET_KEY", "k")
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["audit", "list"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert name in err and repr(value) in err and reason in err


def test_an_empty_value_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONETHREAD_SECRET_KEY", "k")
    monkeypatch.setenv("ONETHREAD_PORT", "")
    assert cli.Settings.from_env().port == 8000
