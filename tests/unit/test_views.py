"""Small display helpers of the console."""

from __future__ import annotations

from app.domain.console.views import identity_label


def test_custom_channel_ids_are_shown_without_their_account_scope() -> None:
    assert identity_label("59d88bbe-2232-4c0c-b2f8-3ddf3191197c:c-1") == "c-1"
    assert identity_label("59d88bbe-2232-4c0c-b2f8-3ddf3191197c:a:b") == "a:b"


def test_other_ids_are_shown_as_they_are() -> None:
    assert identity_label("page-1:psid-7788") == "page-1:psid-7788"
    assert identity_label("anna@example.nl") == "anna@example.nl"
