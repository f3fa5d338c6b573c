"""One parser for every way mail reaches us (SMTP, IMAP, the raw-MIME webhook): bytes in, facts out.

Built on the standard library's ``email`` package with ``policy.default`` (RFC 2047 headers, any
declared charset, quoted-printable and base64 bodies). What the standard library leaves to us:

- a body with no charset, or a charset Python does not know, is read as UTF-8 when it is valid
  UTF-8 and as Windows-1252 otherwise (what mail clients do), never refused;
- ``format=flowed`` text (RFC 3676, Thunderbird) is unwrapped into its paragraphs;
- the text of an HTML-only mail is derived from its HTML;
- a bounce names the recipients that failed and the ``Message-ID`` of our mail that bounced.

Nothing here decides threading or storage: that is the app's ingest, fed with ``ParsedMail``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.policy import EmailPolicy
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache

from integrations.email.classify import Classification, classify
from integrations.email.html_text import html_to_text
from integrations.email.quotes import Range, quoted_ranges
from integrations.types import InboundAttachment

REPLY_LOCAL_PART = re.compile(r"^reply\+([A-Za-z0-9_-]{16,64})$", re.IGNORECASE)
"""Our reply addresses: ``reply+<token>@<domain>``. Anchored: ``reply+to+<token>`` is not ours."""
_STRUCTURE_HEADERS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
_CACHED_VALUE_CHARS = 300


class _ParsingPolicy(EmailPolicy):
    """``policy.default``, remembering how its MIME structure headers parse.

    The standard library parses a header again on every read, and reading one mail asks a part's
    ``Content-Type`` a dozen times (``get_content_type``, ``get_payload``, charsets, the walk):
    that was two thirds of ``parse_mail``'s CPU. The parsed header depends on nothing but its name
    and value, and is immutable, so equal short values share one parse, across mails too
    (``text/plain; charset=utf-8`` comes back all the time)."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        if (
            isinstance(value, str)
            and not hasattr(value, "name")
            and len(value) <= _CACHED_VALUE_CHARS
            and name.lower() in _STRUCTURE_HEADERS
        ):
            return _parsed_header(name, value)
        return super().header_fetch_parse(name, value)  # type: ignore[no-any-return]


@lru_cache(maxsize=512)
def _parsed_header(name: str, value: str) -> str:
    return policy.default.header_fetch_parse(name, value)  # type: ignore[no-any-return]


_POLICY = _ParsingPolicy()

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,900})>")
_MAX_SUBJECT = 998  # RFC 5322's line limit; longer ones are cut, not refused
_MAX_EXTERNAL_ID = 255


class MalformedMailError(ValueError):
    """Mail we cannot take: no sender to answer, or not a mail at all. ``reason`` is for the SMTP
    5xx / HTTP 4xx answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Bounce:
    """What a delivery failure report tells about our mail that did not arrive."""

    failed_recipients: tuple[str, ...] = ()
    original_message_id: str | None = None
    diagnostic: str = ""


@dataclass(frozen=True, slots=True)
class ParsedMail:
    """One mail, decoded. Addresses are lower-cased; message ids are given without angle brackets."""

    external_id: str
    """The dedupe key: the ``Message-ID`` (hashed when longer than a database key), else a hash of
    the date, sender, subject and body, so the same mail seen by SMTP and IMAP is stored once."""
    message_id: str | None
    from_address: str
    from_name: str | None
    recipients: tuple[str, ...]
    """To, Cc, Delivered-To and X-Original-To, in that order, without duplicates."""
    subject: str
    sent_at: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str
    quotes: tuple[Range, ...]
    """Character ranges of ``text`` that are quoted history (the console folds them away)."""
    html: str | None
    attachments: tuple[InboundAttachment, ...]
    classification: Classification
    bounce: Bounce | None = None
    reply_tokens: tuple[str, ...] = field(default=())
    """Tokens of our ``reply+<token>@`` addresses found among the recipients."""


def parse_mail(raw: bytes, *, max_attachment_bytes: int = 20 * 1024 * 1024) -> ParsedMail:
    """Parse one RFC 5322 message. ``MalformedMailError`` when it has no usable sender."""
    if not raw.strip():
        raise MalformedMailError("empty message")
    message = message_from_bytes(raw, policy=_POLICY)
    if not isinstance(message, EmailMessage) or not message.keys():
        raise MalformedMailError("no headers: not an RFC 5322 message")
    from_name, from_address = _from(message)
    if not from_address:
        raise MalformedMailError("no From address: nobody to answer")
    classification = classify(message)
    text, html = _bodies(message)
    if not text.strip() and html:
        text = html_to_text(html)
    subject = _header(message, "Subject")[:_MAX_SUBJECT]
    message_id = _first_id(_header(message, "Message-ID"))
    recipients = _recipients(message)
    return ParsedMail(
        external_id=_external_id(message_id, message, from_address, subject, text),
        message_id=message_id,
        from_address=from_address,
        from_name=from_name,
        recipients=recipients,
        subject=subject,
        sent_at=_date(message),
        in_reply_to=tuple(_MESSAGE_ID.findall(_header(message, "In-Reply-To"))),
        references=tuple(_MESSAGE_ID.findall(_header(message, "References"))),
        text=text,
        quotes=quoted_ranges(text) if classification.kind == "mail" else (),
        html=html,
        attachments=tuple(_attachments(message, max_attachment_bytes)),
        classification=classification,
        bounce=_bounce(message, text) if classification.kind == "bounce" else None,
        reply_tokens=tuple(token for address in recipients if (token := _reply_token(address)) is not None),
    )


# ------------------------------------------------------------------------------------------------
# headers
# ------------------------------------------------------------------------------------------------
def _header(message: Message, name: str) -> str:
    """A header's decoded value; a header the policy cannot parse is read raw rather than lost."""
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):
        # get_all() parses with the same policy (an encoded word hiding CR/LF in a display name
        # fails it again): read the header as sent, its encoded words as plain words.
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
        value = _ENCODED_WORD.sub(_plain_words, raw) if raw is not None else None
    if value is None:
        return ""
    # Folded or injected line breaks never survive into a single-line field.
    return " ".join(str(value).split())


_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def _plain_words(match: re.Match[str]) -> str:
    """An encoded word's text without what address syntax gives meaning to (``:<>@,;"``, line
    breaks): decoded as is, a display name could spell out another address for the parser."""
    try:
        text = str(make_header(decode_header(match.group(0))))
    except (ValueError, LookupError, UnicodeError):
        return ""
    return re.sub(r'[\s:<>@,;"\\()\[\]]+', " ", text).strip()


def _addresses(message: Message, *names: str) -> list[tuple[str, str]]:
    values = [_header(message, name) for name in names]
    return [
        (name.strip(), address.strip().lower()) for name, address in getaddresses([v for v in values if v])
    ]


def _from(message: Message) -> tuple[str | None, str]:
    for name, address in _addresses(message, "From"):
        if "@" in address and " " not in address:
            return (name or None), address
    return None, ""


def _recipients(message: Message) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for _, address in _addresses(message, "To", "Cc", "Delivered-To", "X-Original-To"):
        if "@" in address:
            seen.setdefault(address, None)
    return tuple(seen)


def _reply_token(address: str) -> str | None:
    local = address.rsplit("@", 1)[0]
    found = REPLY_LOCAL_PART.match(local)
    return found.group(1) if found else None


def _first_id(value: str) -> str | None:
    found = _MESSAGE_ID.search(value)
    if found:
        return found.group(1)
    bare = value.strip()
    return bare[:900] if bare and " " not in bare else None


def _date(message: Message) -> datetime | None:
    value = _header(message, "Date")
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _external_id(message_id: str | None, message: Message, sender: str, subject: str, text: str) -> str:
    if message_id and len(message_id) <= _MAX_EXTERNAL_ID:
        return message_id
    if message_id:
        return "sha256:" + hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()
    basis = "\n".join((_header(message, "Date"), sender, subject, text))
    return "sha256:" + hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()


# ------------------------------------------------------------------------------------------------
# bodies
# ------------------------------------------------------------------------------------------------
def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment":
        return True
    # Images and other binary parts, inline or not, are files.
    return part.get_content_maintype() not in {"text", "multipart", "message"}


def _bodies(message: EmailMessage) -> tuple[str, str | None]:
    """The first plain-text and the first HTML body part that are not attachments."""
    text: str | None = None
    html: str | None = None
    for part in _walk_own(message):
        if part.is_multipart() or _is_attachment(part):
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and text is None:
            text = _unflow(part, _decode_text(part))
        elif kind == "text/html" and html is None:
            html = _decode_text(part)
    return (text or "").replace("\r\n", "\n").replace("\x00", ""), html.replace("\x00", "") if html else None


def _walk_own(message: Message) -> list[Message]:
    """Every part except those inside attached messages (a bounce's copy of our mail, a forward
    attached as a file): their text is not the sender's."""
    found: list[Message] = []

    def visit(part: Message) -> None:
        found.append(part)
        if part.get_content_maintype() == "message" or part.get_content_type() == "text/rfc822-headers":
            return
        if part.is_multipart():
            for child in part.get_payload():  # type: ignore[union-attr]
                if isinstance(child, Message):
                    visit(child)

    visit(message)
    return found


def _decode_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")
    charset = part.get_content_charset()
    if charset:
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:
            pass  # a charset Python does not know: guess as for an undeclared one
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("cp1252", errors="replace")


def _unflow(part: Message, text: str) -> str:
    """RFC 3676: in ``format=flowed`` text a line ending in a space continues on the next line (at
    the same quote depth), so a paragraph arrives wrapped and is joined back here."""
    if str(part.get_param("format", "", header="content-type") or "").lower() != "flowed":
        return text
    delete_space = str(part.get_param("delsp", "", header="content-type") or "").lower() == "yes"
    out: list[str] = []
    paragraph: list[str] = []
    paragraph_depth = 0
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        if body.startswith(" "):  # space-stuffing
            body = body[1:]
        if paragraph and depth != paragraph_depth:  # a flowed line must not run into another depth
            out.append(_quoted(paragraph_depth, "".join(paragraph)))
            paragraph = []
        flowed = body.endswith(" ") and body != "-- "
        if flowed:
            paragraph.append(body[:-1] if delete_space else body)
            paragraph_depth = depth
            continue
        out.append(_quoted(depth, "".join(paragraph) + body))
        paragraph = []
    if paragraph:
        out.append(_quoted(paragraph_depth, "".join(paragraph)))
    return "\n".join(out)


def _quoted(depth: int, body: str) -> str:
    return (">" * depth + " " + body) if depth else body


# ------------------------------------------------------------------------------------------------
# attachments
# ------------------------------------------------------------------------------------------------
def _attachments(message: EmailMessage, limit: int) -> list[InboundAttachment]:
    found: list[InboundAttachment] = []
    for part in _walk_own(message):
        if part.is_multipart() or not _is_attachment(part):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        content_type = part.get_content_type()
        filename = _filename(part, content_type, len(found) + 1)
        found.append(
            InboundAttachment(
                filename=filename,
                content_type=content_type[:255],
                size=len(data),
                data=data if len(data) <= limit else None,
            )
        )
    return found


def _filename(part: Message, content_type: str, number: int) -> str:
    try:
        name = part.get_filename()
    except (ValueError, IndexError, TypeError):
        name = None
    cleaned = "".join(ch for ch in (name or "") if ch.isprintable() and ch not in '/\\"').strip(" .")
    if cleaned:
        return cleaned[:255]
    extension = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "application/pdf": ".pdf"}
    return f"attachment-{number}{extension.get(content_type, '')}"


# ------------------------------------------------------------------------------------------------
# bounces
# ------------------------------------------------------------------------------------------------
_BODY_MESSAGE_ID = re.compile(r"^Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)


def _bounce(message: EmailMessage, text: str) -> Bounce:
    failed = [a.strip().lower() for a in _header(message, "X-Failed-Recipients").split(",") if a.strip()]
    diagnostic = ""
    original: str | None = None
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            for block in part.get_payload() or []:  # type: ignore[union-attr]
                if not isinstance(block, Message):
                    continue
                recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
                if ";" in recipient:
                    failed.append(recipient.split(";", 1)[1].strip().lower())
                diagnostic = diagnostic or " ".join(str(block.get("Diagnostic-Code") or "").split())
        elif kind in {"message/rfc822", "message/rfc822-headers", "text/rfc822-headers"} and original is None:
            inner = part.get_payload(0) if part.is_multipart() else None
            if isinstance(inner, Message):
                original = _first_id(_header(inner, "Message-ID"))
            else:
                found = _BODY_MESSAGE_ID.search(str(part.get_payload()))
                original = found.group(1).strip("<>") if found else None
    if original is None:
        found = _BODY_MESSAGE_ID.search(text)
        original = found.group(1).strip("<>") if found else None
    return Bounce(
        failed_recipients=tuple(dict.fromkeys(failed)),
        original_message_id=original,
        diagnostic=diagnostic[:500],
    )
