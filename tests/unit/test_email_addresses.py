"""Reply tokens and Message-IDs: ours are recognised, forged or altered ones are not."""

from __future__ import annotations

import pytest

from app.domain.channels.email_addresses import (
    is_ours,
    new_message_id,
    reply_address,
    reply_token,
    thread_from_token,
)
from integrations.email.parse import REPLY_LOCAL_PART

KEY = "instance-secret"


def test_a_reply_address_names_its_thread_and_fits_our_address_shape() -> None:
    address = reply_address(KEY, 42, "support@acme.example")
    local, domain = address.split("@")
    assert domain == "acme.example"
    found = REPLY_LOCAL_PART.match(local)
    assert found is not None and thread_from_token(KEY, found.group(1)) == 42


def test_tokens_survive_a_mail_client_upper_casing_them() -> None:
    assert thread_from_token(KEY, reply_token(KEY, 7).upper()) == 7


@pytest.mark.parametrize(
    "token",
    [
        reply_token(KEY, 42).replace("t42", "t43"),  # another thread, same signature
        reply_token("another-key", 42),  # signed by another instance
        "t42-0000000000000000",
        "t0-abcdefabcdefabcd",
        "6bdc3f4d-0bec-4515-a284-5d916fdde489",
        "",
    ],
)
def test_forged_or_foreign_tokens_name_no_thread(token: str) -> None:
    assert thread_from_token(KEY, token) is None


def test_message_ids_are_unique_and_recognisable() -> None:
    first, second = new_message_id(9, "support@acme.example"), new_message_id(9, "support@acme.example")
    assert first != second and first.endswith("@acme.example")
    assert is_ours(first) and not is_ours("CAF123@mail.gmail.com")
