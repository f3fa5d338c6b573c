"""Text normalization and tokenizing: case, accents, punctuation, numbers.

"Wánneer komt mijn PAKKET?!" and "wanneer komt mijn pakket" give the same tokens.  Numbers (order
numbers, amounts, dates) say nothing about what a customer asks, so they are left out of the tokens.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = re.compile("['`\u2018\u2019\u00b4]")
# A letter joined by a hyphen to a word ("e-mail", "t-shirt") is one word; other hyphens split.
_SHORT_HYPHEN = re.compile(r"\b([a-z])-(?=[a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lower case without accents or marks: "Café Ñandú" → "cafe nandu" (other scripts are dropped)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """The folded words of ``text``; punctuation and anything with a digit (amounts, order numbers) dropped."""
    folded = _SHORT_HYPHEN.sub(r"\1", _APOSTROPHES.sub("", fold(text)))
    return [w for w in _NON_WORD.split(folded) if w and not any(ch.isdigit() for ch in w)]


def has_content(text: str) -> bool:
    """Whether there is any letter or digit at all (emoji, punctuation and whitespace are not content)."""
    return any(ch.isalnum() for ch in text)
