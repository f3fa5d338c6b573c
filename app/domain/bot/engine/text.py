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
_ALNUM = re.compile(r"[^\W_]")  # a letter or digit in any script; a regex so 20,000 emoji scan in C


def fold(text: str) -> str:
    """Lower case without accents: "Café Ñandú" → "cafe nandu" (other scripts are dropped)."""
    # After NFKD an accent is a separate non-ASCII mark; dropping non-ASCII drops exactly those (and
    # letters of other scripts, which the bot does not match on anyway).
    return unicodedata.normalize("NFKD", text.casefold()).encode("ascii", "ignore").decode("ascii")


def words(text: str) -> list[str]:
    """The folded words of ``text``; punctuation and anything with a digit (amounts, order numbers) dropped."""
    folded = _SHORT_HYPHEN.sub(r"\1", _APOSTROPHES.sub("", fold(text)))
    return [w for w in _NON_WORD.split(folded) if w.isalpha()]  # only a-z and 0-9 are left


def has_content(text: str) -> bool:
    """Whether there is any letter or digit at all (emoji, punctuation and whitespace are not content)."""
    return _ALNUM.search(text) is not None
