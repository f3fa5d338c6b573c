"""Deep-link tokens: a contact id, signed and expiring, that fits Telegram's ``start`` parameter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.channels.deep_links import (
    MAX_START_PARAMETER,
    TOKEN_TTL,
    continue_url,
    read_contact_token,
    sign_contact_token,
    start_parameter,
)

KEY = "instance-secret-key-for-tests"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("contact_id", [1, 42, 2**31 + 5, 2**63 - 1])
def test_a_token_names_its_contact_and_fits_telegrams_start_parameter(contact_id: int) -> None:
    token = sign_contact_token(KEY, contact_id, now=NOW)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token) and len(token) <= MAX_START_PARAMETER
    assert read_contact_token(KEY, token, now=NOW) == contact_id
    assert read_contact_token(KEY, token, now=NOW + TOKEN_TTL - timedelta(seconds=1)) == contact_id


def test_an_expired_token_names_nobody() -> None:
    token = sign_contact_token(KEY, 7, now=NOW, ttl=timedelta(hours=1))
    assert read_contact_token(KEY, token, now=NOW + timedelta(minutes=59)) == 7
    assert read_contact_token(KEY, token, now=NOW + timedelta(hours=1, seconds=1)) is None


def test_a_tampered_token_names_nobody() -> None:
    token = sign_contact_token(KEY, 7, now=NOW)
    for index in range(len(token)):
        replacement = "A" if token[index] != "A" else "B"
        changed = token[:index] + replacement + token[index + 1 :]
        assert read_contact_token(KEY, changed, now=NOW) is None, index
    # another contact's id in an otherwise genuine token, or a token of another installation
    other = sign_contact_token(KEY, 8, now=NOW)
    assert read_contact_token(KEY, other[:12] + token[12:], now=NOW) is None
    assert read_contact_token("another-installation", token, now=NOW) is None


@pytest.mark.parametrize("junk", ["", "order-4711_ref-web", "!!!", "A" * 40, "A" * 65, "a=b", "é" * 10])
def test_anything_else_names_nobody(junk: str) -> None:
    assert read_contact_token(KEY, junk, now=NOW) is None


def test_the_start_parameter_is_read_from_the_command() -> None:
    assert start_parameter("/start abc_DEF-1") == "abc_DEF-1"
    assert start_parameter("/start@shop_bot abc") == "abc"
    assert start_parameter("/start") is None
    assert start_parameter("/starting abc") is None
    assert start_parameter("hello /start abc") is None
    assert continue_url("shop_bot", "abc") == "https://t.me/shop_bot?start=abc"
