"""Phone numbers and email addresses in the canonical forms that link channels."""

from __future__ import annotations

import pytest

from integrations.identifiers import InvalidIdentifierError, normalize_email, normalize_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("06 1234 5678", "NL", "+31612345678"),
        ("+31 6 12345678", "NL", "+31612345678"),
        ("0031612345678", "NL", "+31612345678"),
        ("31612345678", "NL", "+31612345678"),  # Telegram contacts often lack the +
        ("(415) 555-2671", "US", "+14155552671"),
        ("+44 20 7946 0958", "NL", "+442079460958"),
    ],
)
def test_phone_numbers_become_e164(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "12", "not a number", "+999 123", "0612" * 20])
def test_invalid_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        normalize_phone(raw, "NL")


def test_emails_are_lower_cased_and_checked() -> None:
    assert normalize_email("  Anna.de.Vries@Example.NL ") == "anna.de.vries@example.nl"
    for bad in ("", "anna", "anna@", "@example.com", "a b@example.com", "a@b", "x" * 330 + "@example.com"):
        with pytest.raises(InvalidIdentifierError):
            normalize_email(bad)
