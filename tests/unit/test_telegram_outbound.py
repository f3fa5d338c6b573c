"""Splitting long replies at Telegram's 4096-character limit, where a reader would break them; a
reply's buttons as the inline keyboard Telegram accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.base import DeliveryContext
from integrations.telegram import TelegramAdapter, split_text
from integrations.telegram.outbound import MAX_MESSAGE_LENGTH, keyboard
from integrations.types import AccountConfig, OutboundMessage


def with_buttons(buttons: object) -> OutboundMessage:
    return OutboundMessage(
        message_id=9, thread_id=1, recipient_id="42", text="Bedoel je…?", metadata={"buttons": buttons}
    )


def test_buttons_become_one_inline_button_a_row_with_the_payload_as_callback_data() -> None:
    markup = keyboard(
        with_buttons(
            [
                {"label": "Levertijd", "payload": "bot:rule:delivery-time"},
                {"label": "Mens", "payload": "bot:person"},
            ]
        )
    )
    assert markup is not None
    assert markup.to_dict() == {
        "inline_keyboard": [
            [{"text": "Levertijd", "callback_data": "bot:rule:delivery-time"}],
            [{"text": "Mens", "callback_data": "bot:person"}],
        ]
    }


def test_a_payload_over_64_bytes_is_left_out_never_cut() -> None:
    fits = "bot:rule:" + "é" * 27  # 9 + 54 = 63 bytes (é is two)
    too_long = "bot:rule:" + "é" * 28  # 65 bytes, though only 37 characters
    markup = keyboard(with_buttons([{"label": "A", "payload": too_long}, {"label": "B", "payload": fits}]))
    assert markup is not None
    assert [[b.callback_data for b in row] for row in markup.inline_keyboard] == [[fits]]
    assert keyboard(with_buttons([{"label": "A", "payload": too_long}])) is None


def test_a_long_label_is_shortened_visibly() -> None:
    markup = keyboard(with_buttons([{"label": "w" * 80, "payload": "p"}]))
    assert markup is not None
    assert markup.inline_keyboard[0][0].text == "w" * 63 + "…"


@pytest.mark.parametrize(
    "buttons",
    [
        None,
        "bot:person",
        [],
        [{"label": "", "payload": "p"}],
        [{"label": "x"}],
        [{"label": 3, "payload": "p"}],
        ["x"],
    ],
)
def test_no_buttons_or_malformed_ones_give_no_keyboard(buttons: object) -> None:
    assert keyboard(with_buttons(buttons)) is None


def test_short_text_is_one_part_unchanged() -> None:
    assert split_text("hello\n\nthere ") == ["hello\n\nthere "]
    assert split_text("x" * MAX_MESSAGE_LENGTH) == ["x" * MAX_MESSAGE_LENGTH]
    assert split_text("") == [""]


def test_prefers_paragraph_then_line_then_space_in_the_second_half() -> None:
    paragraph, line, words = "p" * 2500, "l" * 1000, "w" * 500
    text = f"{paragraph}\n\n{line}\n{words} {'z' * 2000}"
    assert split_text(text) == [paragraph, f"{line}\n{words} {'z' * 2000}"]

    # a paragraph break in the first half would leave a short message: the line break wins
    early = "p" * 1200
    text = f"{early}\n\n{line}\n{words} {'z' * 3000}"
    assert split_text(text) == [f"{early}\n\n{line}", f"{words} {'z' * 3000}"]

    # no line break either: the last space
    assert split_text(f"{'a' * 3000} {'b' * 500} {'c' * 1000}") == [f"{'a' * 3000} {'b' * 500}", "c" * 1000]

    # only an early break: better than cutting a word
    assert split_text(f"{'a' * 10} {'b' * 50}", limit=40) == ["a" * 10, "b" * 40, "b" * 10]


def test_a_word_longer_than_the_limit_is_cut_hard() -> None:
    parts = split_text("y" * 9000)
    assert parts == ["y" * 4096, "y" * 4096, "y" * 808]


def test_emoji_count_twice_as_telegram_counts_them() -> None:
    text = "🙂" * 3000  # 6000 UTF-16 code units
    parts = split_text(text)
    assert [len(part) for part in parts] == [2048, 952]
    assert "".join(parts) == text


def test_nothing_is_lost_but_the_breaks_cut_at() -> None:
    words = " ".join(f"word{i}" for i in range(2000))
    parts = split_text(words, limit=100)
    assert " ".join(parts) == words
    assert all(0 < len(part) <= 100 for part in parts)


def test_an_account_without_a_bot_token_says_why_replies_cannot_go_out() -> None:
    context = DeliveryContext(now=datetime.now(UTC), last_inbound_at=None)
    adapter = TelegramAdapter()
    without = AccountConfig(id="a", channel="telegram", name="Bot")
    assert adapter.unavailable_reason(without, context)
    with_token = AccountConfig(id="a", channel="telegram", name="Bot", secrets={"bot_token": "1:x"})
    assert adapter.unavailable_reason(with_token, context) is None
