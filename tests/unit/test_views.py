"""Small display helpers of the console."""

from __future__ import annotations

from app.domain.console.views import duration, file_size, identity_label

ENGLISH = {"language": "en"}
DUTCH = {"language": "nl"}


def test_custom_channel_ids_are_shown_without_their_account_scope() -> None:
    assert identity_label("59d88bbe-2232-4c0c-b2f8-3ddf3191197c:c-1") == "c-1"
    assert identity_label("59d88bbe-2232-4c0c-b2f8-3ddf3191197c:a:b") == "a:b"


def test_other_ids_are_shown_as_they_are() -> None:
    assert identity_label("page-1:psid-7788") == "page-1:psid-7788"
    assert identity_label("anna@example.nl") == "anna@example.nl"


def test_call_lengths_are_written_with_the_readers_numbers() -> None:
    assert duration(ENGLISH, 245) == "4 min 05 s"
    assert duration(ENGLISH, 7) == "7 s"
    assert duration(ENGLISH, 86_400) == "1,440 min 00 s"
    assert duration(DUTCH, 86_400) == "1.440 min 00 s"
    assert duration(DUTCH, 245) == "4 min 05 s"
    assert duration(ENGLISH, None) == "" and duration(ENGLISH, -1) == "" and duration(ENGLISH, True) == ""


def test_file_sizes_are_written_with_the_readers_numbers() -> None:
    assert file_size(ENGLISH, 812) == "812 B"
    assert file_size(ENGLISH, 179 * 1024) == "179 KB"
    assert file_size(ENGLISH, int(2.3 * 1024 * 1024)) == "2.3 MB"
    assert file_size(DUTCH, int(2.3 * 1024 * 1024)) == "2,3 MB"
    assert file_size(DUTCH, 1500 * 1024 * 1024) == "1.500,0 MB"
    assert file_size(ENGLISH, 1024 * 1024 - 1) == "1.0 MB"  # not "1024 KB"
    assert file_size(ENGLISH, "12") == "" and file_size(ENGLISH, -5) == ""


def test_snooze_presets_are_in_the_agents_time_zone() -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from app.domain.console.thread_pages import snooze_presets

    # Sunday 29 November 2026, 22:30 UTC is Monday 11:30 in Auckland (UTC+13 in summer).
    now = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)
    auckland = snooze_presets(SimpleNamespace(timezone="Pacific/Auckland"), now)  # type: ignore[arg-type]
    assert [value for _, value in auckland] == ["2026-11-30T14:30", "2026-12-01T09:00", "2026-12-07T09:00"]
    amsterdam = snooze_presets(SimpleNamespace(timezone="Europe/Amsterdam"), now)  # type: ignore[arg-type]
    assert [value for _, value in amsterdam] == ["2026-11-30T02:30", "2026-11-30T09:00", "2026-11-30T09:00"]
