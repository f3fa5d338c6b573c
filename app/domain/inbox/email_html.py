"""Showing email safely: an allow-list HTML sanitizer, remote images held back, quoted text found.

Email HTML is written by strangers, so it reaches the console only through :func:`sanitize_email_html`
(nh3, the Rust ``ammonia`` sanitizer): a short list of formatting tags and attributes, links only to
``http``/``https``/``mailto``, no scripts, event handlers, styles, frames, SVG or forms, no ``id`` or
``class`` (so a message cannot restyle or clobber the page around it). Remote images would tell the
sender when and where the agent opened the mail, so their ``src`` is dropped until the agent asks
for that message's images; even then only ``https`` images load (the page's CSP allows no ``http:``).

Plain text is split by :func:`split_quoted` into what the customer wrote and the quoted history
(``>`` lines, an ``On … wrote:`` block and everything after it) that the console folds away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import nh3
from markupsafe import Markup, escape

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "div", "dl",
        "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
        "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub", "sup", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "abbr": {"title"},
    "*": {"lang", "dir"},
}
# Removed with everything inside them, not just unwrapped: their text is not meant to be read.
DROPPED_WITH_CONTENT = frozenset({"script", "style", "title", "head", "template", "noscript", "svg", "math"})
LINK_SCHEMES = ("http:", "https:", "mailto:")
INLINE_IMAGE = re.compile(r"^data:image/(png|gif|jpeg|webp);base64,[a-z0-9+/=\s]+$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class EmailBody:
    """Sanitized HTML, safe to insert into the page, and how many remote images it refers to."""

    html: Markup
    remote_images: int
    images_shown: bool


# Opening tags may carry attributes (``dir`` and ``lang`` are allowed on every tag), so they are
# counted whatever follows the name; ``[^>]*`` cannot run past the tag because the sanitizer writes
# ``<`` and ``>`` inside attribute values as ``&lt;`` and ``&gt;`` (a unit test holds it to that).
_BLOCKQUOTE_TAG = re.compile(r"<(/?)blockquote\b[^>]*>")


def fold_blockquotes(html: str, summary: str) -> str:
    """Wrap each outermost ``<blockquote>`` of sanitized ``html`` in a closed ``<details>``.

    Mail clients quote the history they reply to in blockquotes; folding them keeps the new words
    in view. ``html`` must be the sanitizer's output (balanced lower-case tags, no ``<``/``>`` in attributes);
    ``summary`` is plain text and is escaped here.
    """
    opening = f'<details class="quoted"><summary>{escape(summary)}</summary>'
    out: list[str] = []
    depth = 0
    position = 0
    for tag in _BLOCKQUOTE_TAG.finditer(html):
        closing = tag.group(1) == "/"
        if not closing and depth == 0:
            out.append(html[position : tag.start()] + opening)
            position = tag.start()
        depth += -1 if closing else 1
        if closing and depth == 0:
            out.append(html[position : tag.end()] + "</details>")
            position = tag.end()
        depth = max(depth, 0)
    out.append(html[position:])
    return "".join(out) if depth == 0 else html


def sanitize_email_html(
    raw: str, *, show_remote_images: bool = False, quoted_summary: str | None = None
) -> EmailBody:
    """``raw`` email HTML reduced to the allow-list; remote image sources kept only when asked.

    With ``quoted_summary`` the quoted history (outermost blockquotes) is folded under that label.
    """
    remote = 0

    def keep(tag: str, attribute: str, value: str) -> str | None:
        nonlocal remote
        lowered = value.strip().lower()
        if tag == "img" and attribute == "src":
            if lowered.startswith(("http://", "https://", "//")):
                remote += 1
                return value.strip() if show_remote_images and lowered.startswith("https://") else None
            return value if INLINE_IMAGE.match(lowered) else None
        if tag == "a" and attribute == "href":
            return value if lowered.startswith(LINK_SCHEMES) else None
        return value

    cleaned = nh3.clean(
        raw,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=keep,
        url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}, "img": {"referrerpolicy": "no-referrer"}},
        strip_comments=True,
    )
    if quoted_summary is not None:
        cleaned = fold_blockquotes(cleaned, quoted_summary)
    # nh3's output is sanitized HTML by construction: the one place email HTML becomes Markup.
    return EmailBody(html=Markup(cleaned), remote_images=remote, images_shown=show_remote_images)  # noqa: S704


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of a plain-text message: the customer's own words, or quoted history."""

    kind: Literal["text", "quote"]
    text: str


# "On Mon, 3 Nov 2026 at 10:02, Ada <ada@example.com> wrote:" (one line, or wrapped onto two), and
# the Dutch and Outlook equivalents, begin a quoted reply that runs to the end of the message.
_ATTRIBUTION = re.compile(r"^\s*(On\s.+\swrote|Op\s.+\sschreef\s.+)\s*:\s*$", re.IGNORECASE)
_ORIGINAL = re.compile(r"^\s*-{2,}\s*(Original Message|Oorspronkelijk bericht)\s*-{2,}\s*$", re.IGNORECASE)


def _starts_quoted_history(lines: list[str], index: int) -> bool:
    line = lines[index]
    if _ATTRIBUTION.match(line) or _ORIGINAL.match(line):
        return True
    following = lines[index + 1] if index + 1 < len(lines) else ""
    return line.lstrip().startswith("On ") and bool(_ATTRIBUTION.match(f"{line} {following}"))


def split_quoted(text: str) -> list[Segment]:
    """``text`` as alternating own-text and quote segments, in order; joining them gives ``text`` back.

    Runs of lines starting with ``>`` are quotes; an attribution line (``On … wrote:``) or an
    ``-----Original Message-----`` line starts a quote that runs to the end.
    """
    lines = text.splitlines(keepends=True)
    bare = [line.rstrip("\r\n") for line in lines]
    segments: list[Segment] = []

    def add(kind: Literal["text", "quote"], chunk: str) -> None:
        if not chunk:
            return
        if segments and segments[-1].kind == kind:
            segments[-1] = Segment(kind, segments[-1].text + chunk)
        else:
            segments.append(Segment(kind, chunk))

    for index, line in enumerate(lines):
        if _starts_quoted_history(bare, index):
            add("quote", "".join(lines[index:]))
            break
        add("quote" if bare[index].lstrip().startswith(">") else "text", line)
    # A blank line between two quoted runs belongs to the quote; trailing blanks to nothing visible.
    merged: list[Segment] = []
    for segment in segments:
        if (
            merged
            and segment.kind == "text"
            and not segment.text.strip()
            and merged[-1].kind == "quote"
            and segment is not segments[-1]
        ):
            merged[-1] = Segment("quote", merged[-1].text + segment.text)
            continue
        if merged and merged[-1].kind == segment.kind:
            merged[-1] = Segment(segment.kind, merged[-1].text + segment.text)
        else:
            merged.append(segment)
    return merged
