"""When a Messenger identity is (still) looked up: the rule the webhook and the job share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.channels.messenger_profile import RECORD_KEY, profile_wanted
from integrations.messenger.profile import Profile

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def record(status: str, hours_ago: float) -> dict[str, object]:
    return {RECORD_KEY: {"status": status, "at": (NOW - timedelta(hours=hours_ago)).isoformat()}}


@pytest.mark.parametrize(
    ("display_name", "attributes", "wanted"),
    [
        (None, {}, "now"),
        (None, {"other": 1}, "now"),
        ("Lena Lind", {}, "never"),  # Telegram-style identities come named
        (None, record("stored", 1), "never"),  # Meta gave no name: asking again gives none either
        (None, record("refused", 24 * 30), "never"),
        (None, record("failed", 2), "later"),
        (None, record("failed", 25), "now"),
        (None, {RECORD_KEY: {"status": "failed", "at": "yesterday-ish"}}, "now"),
    ],
)
def test_who_is_looked_up(display_name: str | None, attributes: dict[str, object], wanted: str) -> None:
    assert profile_wanted(display_name, attributes, NOW) == wanted


@pytest.mark.parametrize(
    ("first", "last", "name"),
    [
        ("Lena", "Lind", "Lena Lind"),
        ("Lena", "", "Lena"),
        ("", "", None),
        ("  Ana  ", " de  Vries ", "Ana de Vries"),
    ],
)
def test_the_name_people_read(first: str, last: str, name: str | None) -> None:
    assert Profile(first_name=first, last_name=last).name == name
