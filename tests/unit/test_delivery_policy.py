"""The retry policy and the per-message delivery locks."""

from __future__ import annotations

import pytest

from app.domain.channels.delivery import LocalLocks, RetryPolicy


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=2.0, max_delay=60.0)
    assert [policy.delay(attempt) for attempt in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_defaults_match_the_settings_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay) == (8, 2.0, 300.0)
    assert [policy.delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 64, 128]


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert RetryPolicy(max_delay=300.0).delay(10_000) == 300.0
    assert RetryPolicy(base_delay=0.5).delay(0) == 0.5


@pytest.mark.parametrize(
    ("attempt", "retry_after", "expected"),
    [
        (1, None, 0.05),
        (1, 0.0, 0.05),  # asking for less than the backoff does not shorten it
        (3, 0.1, 0.2),
        (1, 1.0, 1.0),  # longer than the backoff: honoured ...
        (1, 30.0, 30.0),  # ... even beyond the backoff cap (0.5 s here)
        (1, 10_000.0, 3600.0),  # ... up to max_retry_after
    ],
)
def test_retry_after_wins_when_longer(attempt: int, retry_after: float | None, expected: float) -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.5)
    assert policy.delay(attempt, retry_after) == pytest.approx(expected)


async def test_local_locks_admit_one_holder_per_message() -> None:
    locks = LocalLocks()
    async with locks.hold(1) as first:
        assert first
        assert await locks.is_held(1)
        async with locks.hold(1) as second, locks.hold(2) as other:
            assert not second
            assert other
        assert await locks.is_held(1)  # the refused second entry does not release the first
    assert not await locks.is_held(1)
    async with locks.hold(1) as again:
        assert again
