"""Mail for ``bench/email_ingest.py``: the .eml fixture corpus made into unique customer mail.

Pure functions, no I/O beyond reading the fixtures once. Every fixture of ``tests/fixtures/email``
is used as recorded (bodies, charsets, transfer encodings, MIME structure, quoting, the mbox
``From`` line of one of them), and only the top-level headers that differ between real
deliveries are replaced:

- ``Message-ID``: a fresh one per copy, ``<otb.<tag>.<seq>@bench.onethread.test>``; it carries the
  benchmark's marker (``loadgen.mail_marker``), which is how the mail's ``message.created`` event is
  found again on the agent websocket (``meta.email.message_id``), and it is the stored row's key;
- ``From``: one of ``contacts`` customers (``customer-<n>@customers.bench.test``, a name that is
  RFC 2047-encoded when not ASCII). Bounces keep their mailer daemon: that is who sends them;
- ``To`` (and ``Cc``, ``Delivered-To``, ``X-Original-To``, dropped): the account's support address;
- ``Date``: the clock's when the copy is made, so each customer's mail comes in time order.

Which fixture a customer sends is fixed per customer (``customer % len(mix)``), so a customer's
next mail continues their conversation (same subject) instead of starting a new episode each time,
as in real traffic. Customer mail is weighted over auto-replies (``MAIL_WEIGHT``); bounces and read
receipts are never stored as messages, so they are not in the throughput mix and are checked apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formataddr, formatdate
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "email"
DOMAIN = "bench.onethread.test"
CUSTOMER_DOMAIN = "customers.bench.test"
MAIL_WEIGHT = 3
"""Copies of each customer-mail fixture per copy of an auto-reply in the throughput mix."""
REPLACED = frozenset({"message-id", "from", "to", "cc", "date", "delivered-to", "x-original-to"})
"""Top-level headers every copy gets afresh (the rest are kept byte for byte)."""
FIRST_NAMES = ("Anna", "Bram", "Chen", "Dana", "Émile", "Fatima", "Giulia", "Hiro", "Ingrid", "Jonas")

KINDS = ("mail", "auto_reply", "bounce", "read_receipt")
STORED_KINDS = frozenset({"mail", "auto_reply"})
"""Kinds stored as messages (an auto-reply is stored, marked automatic)."""


@dataclass(frozen=True, slots=True)
class Template:
    """One fixture: its name, what kind of mail it is, and its bytes."""

    name: str
    kind: str
    raw: bytes


def kind_of(name: str) -> str:
    """The fixture's kind, from its file name (the corpus names them by what they are)."""
    for kind in ("auto_reply", "bounce", "read_receipt"):
        if name.startswith(kind):
            return kind
    return "mail"


def load_templates(fixtures: Path = FIXTURES) -> list[Template]:
    """Every .eml fixture, sorted by name."""
    return [
        Template(path.name, kind_of(path.name), path.read_bytes()) for path in sorted(fixtures.glob("*.eml"))
    ]


def throughput_mix(templates: list[Template]) -> list[Template]:
    """What customers send in the throughput phases: each customer mail ``MAIL_WEIGHT`` times, each
    auto-reply once (about one mail in eight an out-of-office)."""
    mix: list[Template] = []
    for template in templates:
        if template.kind == "mail":
            mix += [template] * MAIL_WEIGHT
        elif template.kind == "auto_reply":
            mix.append(template)
    return mix


def message_id(tag: str, seq: int) -> str:
    """The Message-ID (without angle brackets) of copy ``seq`` of run ``tag``: its stored key."""
    return f"otb.{tag}.{seq}@{DOMAIN}"


def customer_address(customer: int) -> str:
    return f"customer-{customer}@{CUSTOMER_DOMAIN}"


def customer_name(customer: int) -> str:
    return f"{FIRST_NAMES[customer % len(FIRST_NAMES)]} {customer}"


def split_head(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(header block, the blank line's line ending, body): the body untouched, byte for byte."""
    newline = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    end = raw.find(newline + newline)
    if end < 0:
        return raw, newline, b""
    return raw[:end], newline, raw[end + 2 * len(newline) :]


def header_fields(head: bytes, newline: bytes) -> list[bytes]:
    """The header block as fields, each with its folded continuation lines (an mbox ``From `` line
    is a field of its own, kept first)."""
    fields: list[bytes] = []
    for line in head.split(newline):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += newline + line
        else:
            fields.append(line)
    return fields


def field_name(field: bytes) -> str:
    name, colon, _ = field.partition(b":")
    return name.strip().decode("ascii", "replace").lower() if colon and b" " not in name.strip() else ""


def rewrite(template: Template, *, mid: str, support: str, customer: int, when: float | None = None) -> bytes:
    """``template`` as customer ``customer`` sends it to ``support``, with Message-ID ``mid``."""
    head, newline, body = split_head(template.raw)
    fields = header_fields(head, newline)
    keep_from = template.kind == "bounce"
    fresh = [
        f"Message-ID: <{mid}>".encode(),
        f"Date: {formatdate(when, localtime=False)}".encode(),
        f"To: {support}".encode(),
    ]
    if not keep_from:
        fresh.append(
            f"From: {formataddr((customer_name(customer), customer_address(customer)), 'utf-8')}".encode()
        )
    kept: list[bytes] = []
    mbox_line: list[bytes] = []
    for field in fields:
        name = field_name(field)
        if not name and field.startswith(b"From "):
            mbox_line.append(field)
        elif name not in REPLACED or (name == "from" and keep_from):
            kept.append(field)
    return newline.join([*mbox_line, *fresh, *kept]) + newline + newline + body


@dataclass(slots=True)
class MailStream:
    """Unique mail from the corpus for one account: message ``seq`` of a phase tagged ``tag``."""

    support: str
    contacts: int
    mix: list[Template]

    def customer(self, seq: int) -> int:
        return seq % self.contacts if self.contacts > 0 else seq

    def template(self, seq: int) -> Template:
        return self.mix[self.customer(seq) % len(self.mix)]

    def generate(self, tag: str, seq: int, when: float | None = None) -> bytes:
        customer = self.customer(seq)
        return rewrite(
            self.template(seq), mid=message_id(tag, seq), support=self.support, customer=customer, when=when
        )

    def sender(self, seq: int) -> str:
        """The envelope sender (SMTP ``MAIL FROM``) of message ``seq``."""
        template = self.template(seq)
        return "" if template.kind == "bounce" else customer_address(self.customer(seq))


SMTP_LINE_LIMIT = 998
"""RFC 5322's line limit; aiosmtpd answers ``500 Line too long`` to DATA with a longer line."""


def smtp_data(raw: bytes) -> bytes:
    """The mail as a sending MTA puts it in SMTP ``DATA``: CRLF line endings, lines over 998 bytes
    broken with CRLF + space (what Postfix does: one fixture has a 1,000-byte line), dot-stuffed,
    ended by ``.``."""
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out: list[bytes] = []
    for line in lines:
        while len(line) > SMTP_LINE_LIMIT:
            out.append(line[:SMTP_LINE_LIMIT])
            line = b" " + line[SMTP_LINE_LIMIT:]
        out.append(line)
    stuffed = [b"." + line if line.startswith(b".") else line for line in out]
    return b"\r\n".join(stuffed) + b"\r\n.\r\n"
