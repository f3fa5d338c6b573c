"""Canonical forms of the identifiers that link a customer across channels.

Two channels only recognise the same person when they write the number or the address the same
way, so every path (adapters, phone notes, contact edits) goes through these two functions.
"""

from __future__ import annotations

import re

import phonenumbers

from integrations.text import N_

_EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")


class InvalidIdentifierError(ValueError):
    """The text is not a phone number or email address we can use.

    ``template`` (English, marked for translation) and ``value`` (what was given, quoted) let the
    console say it in the agent's language; ``str()`` is the English sentence.
    """

    def __init__(self, template: str, raw: str, limit: int) -> None:
        self.template = template
        self.value = repr(raw[:limit])
        super().__init__(template % {"value": self.value})


def normalize_phone(raw: str, default_region: str = "NL") -> str:
    """Return ``raw`` in E.164 (``+31612345678``) or raise ``InvalidIdentifierError``.

    Numbers without a ``+`` are read in ``default_region``; digits-only numbers that are valid
    international numbers with a ``+`` prepended (Telegram clients send ``31612345678``) are
    accepted as such when they are not valid in the default region.
    """
    text = raw.strip()
    if not text or len(text) > 40:
        raise InvalidIdentifierError(N_("not a phone number: %(value)s"), raw, 40)
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
    raise InvalidIdentifierError(N_("not a valid phone number: %(value)s"), raw, 40)


def normalize_email(raw: str) -> str:
    """Return the address lower-cased and trimmed, or raise ``InvalidIdentifierError``."""
    text = raw.strip().lower()
    if len(text) > 320 or not _EMAIL_RE.match(text):
        raise InvalidIdentifierError(N_("not an email address: %(value)s"), raw, 80)
    return text
