"""Marking the English text adapters give agents (reasons, refusals) for the console's catalogs.

Integrations import nothing from ``app``, so they cannot use its gettext; they mark text with
:func:`N_` instead, ``make messages`` extracts it, and the console translates it where it is shown.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Return ``message`` unchanged; its only job is to be found by the extractor."""
    return message
