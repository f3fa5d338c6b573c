"""Which parts of a mail's text are quoted history rather than the sender's new words.

Two sources, combined:

- ``mail-parser-reply`` finds where a top-posted reply ends: the attribution and header blocks of
  Gmail, Outlook and Apple Mail in Dutch, English, German and French ("Van: … Verzonden: …",
  "On … wrote:"), also when the history below them carries no ``>`` marks;
- our own rule for ``>``-quoted runs anywhere in the text, with the attribution line above them:
  it keeps bottom-posted and inline answers (Thunderbird, mailing-list style) visible, and knows
  the Dutch Gmail and Apple Mail attributions the parser misses ("Op ma 3 mei 2021 om 10:00
  schreef Support <…>:", "… heeft … het volgende geschreven:").

The whole text is always kept; only character ranges are recorded, so a wrong guess shows too much
behind the console's toggle, never loses a word.
"""

from __future__ import annotations

import logging
import re

from mailparser_reply import EmailReplyParser  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

LANGUAGES = ("nl", "en", "de", "fr")
_TRAILING_RULES = re.compile(r"(?:\s*(?:-{5,}|_{5,}|={5,}))+\s*$")
_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"on\s.{4,250}\swrote:"
    r"|op\s.{4,250}\sschreef\b.{0,250}:"
    r"|op\s.{4,250}\sheeft\s.{1,250}\shet\svolgende\sgeschreven:"
    r"|am\s.{4,250}\sschrieb\b.{0,250}:"
    r"|le\s.{4,250}\sa\sécrit\s?:"
    r"|-{2,}\s*(?:original message|oorspronkelijk bericht|origineel bericht|"
    r"ursprüngliche nachricht|message d'origine)\s*-{2,}"
    r")\s*$",
    re.IGNORECASE | re.DOTALL,
)
_parser = EmailReplyParser(languages=list(LANGUAGES))

Range = tuple[int, int]


def quoted_ranges(text: str) -> tuple[Range, ...]:
    """``(start, end)`` character ranges of ``text`` that are quoted history, in order, disjoint."""
    if not text.strip():
        return ()
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    found: list[Range] = []
    index = 0
    while index < len(lines):
        if _is_quoted(lines[index]):
            end = index
            while end + 1 < len(lines) and (_is_quoted(lines[end + 1]) or _blank_inside_run(lines, end + 1)):
                end += 1
            first = _attribution_above(lines, index)
            found.append((starts[first], starts[end + 1]))
            index = end + 1
            continue
        span = _attribution_at(lines, index)
        if span and not _quote_follows(lines, index + span):
            found.append((starts[index], len(text)))  # history without > marks runs to the end
            break
        index += 1
    cut = _top_posting_cut(text)
    if cut < len(text):
        found.append((cut, len(text)))
    return _tidy(found, text)


def new_text(text: str, ranges: tuple[Range, ...]) -> str:
    """The text without its quoted ranges (what the bot reads and the inbox previews)."""
    kept: list[str] = []
    position = 0
    for start, end in ranges:
        kept.append(text[position:start])
        position = end
    kept.append(text[position:])
    return re.sub(r"\n{3,}", "\n\n", "".join(kept)).strip()


def _is_quoted(line: str) -> bool:
    return line.lstrip(" ").startswith(">")


def _blank_inside_run(lines: list[str], index: int) -> bool:
    """A blank line between two quoted lines belongs to the quote."""
    if lines[index].strip():
        return False
    following = next((line for line in lines[index + 1 :] if line.strip()), None)
    return following is not None and _is_quoted(following)


def _attribution_at(lines: list[str], index: int) -> int:
    """How many lines (1 or 2: Gmail wraps long ones) form an attribution starting at ``index``."""
    if not lines[index].strip():
        return 0
    if _ATTRIBUTION.match(lines[index].strip()):
        return 1
    if index + 1 < len(lines) and _ATTRIBUTION.match(lines[index].strip() + " " + lines[index + 1].strip()):
        return 2
    return 0


def _attribution_above(lines: list[str], index: int) -> int:
    """The first line of the attribution above the quoted run at ``index`` (blank lines between
    them included), or ``index`` itself when there is none."""
    above = index - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    for first in (above - 1, above):
        if first >= 0 and _attribution_at(lines, first) == above - first + 1:
            return first
    return index


def _quote_follows(lines: list[str], index: int) -> bool:
    following = next((line for line in lines[index:] if line.strip()), None)
    return following is not None and _is_quoted(following)


def _top_posting_cut(text: str) -> int:
    try:
        latest = _parser.read(text).latest_reply or ""
    except Exception:  # a third-party heuristic must never lose the mail
        log.warning("reply parser failed; keeping the whole mail as new text", exc_info=True)
        return len(text)
    latest = _TRAILING_RULES.sub("", latest).strip()
    if not latest:
        return len(text)
    start = text.find(latest.splitlines()[0])
    if start < 0:
        return len(text)
    pattern = r"\s+".join(re.escape(word) for word in latest.split())
    found = re.compile(pattern).match(text, start)
    return found.end() if found else len(text)


def _tidy(ranges: list[Range], text: str) -> tuple[Range, ...]:
    merged: list[Range] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif merged and not text[merged[-1][1] : start].strip():
            merged[-1] = (merged[-1][0], end)  # only whitespace between two quotes: one quote
        else:
            merged.append((start, end))
    if merged and not text[merged[-1][1] :].strip():
        merged[-1] = (merged[-1][0], len(text))
    return tuple((start, end) for start, end in merged if text[start:end].strip())
