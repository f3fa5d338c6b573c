"""Canonical forms of the identifiers that link a customer across channels.

Two channels only recognise the same person when they write the number or the address the same
way, so every path (adapters, phone notes, contact edits) goes through these two functions.
"""

from __future__ import annotations

import re

import phonenumbers

_EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")


class InvalidIdentifierError(ValueError):
    """The text is not a phone number or email address we can use."""


def normalize_phone(raw: str, default_region: str = "NL") -> str:
    """Return ``raw`` in E.164 (``+31612345678``) or raise ``InvalidIdentifierError``.

    Numbers without a ``+`` are read in ``default_region``; digits-only numbers that are valid
    international numbers with a ``+`` prepended (Telegram clients send ``31612345678``) are
    accepted as such when they are not valid in the default region.
    """
    text = raw.strip()
    if not text or len(text) > 40:
        raise InvalidIdentifierError(f"not a phone number: {raw[:40]!r}")
    candidates = [text]
    if not text.startswith("+") and text.isdigit():
        candidates.append("+" + text)
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, default_region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidIdentifierError(f"not a valid phone number: {raw[:40]!r}")


def normalize_email(raw: str) -> str:
    """Return the address lower-cased and trimmed, or raise ``InvalidIdentifierError``."""
    text = raw.strip().lower()
    if len(text) > 320 or not _EMAIL_RE.match(text):
        raise InvalidIdentifierError(f"not an email address: {raw[:80]!r}")
    return text
