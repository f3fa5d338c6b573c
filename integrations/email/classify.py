"""What kind of mail this is: a person writing, an automatic reply, a bounce, or a read receipt.

Only a person's mail may wake the bot or reopen a thread; an auto-reply answered automatically is
how two robots mail each other forever (RFC 3834). The signals, in the order they are checked:

- ``multipart/report`` with ``report-type=disposition-notification`` (RFC 8098): a read receipt;
- ``multipart/report; report-type=delivery-status`` (RFC 3464), ``X-Failed-Recipients``, or a
  ``MAILER-DAEMON`` / "Mail Delivery" sender with an empty return path: a bounce;
- ``Auto-Submitted`` other than ``no``; ``X-Autoreply`` / ``X-Autorespond``;
  ``Precedence: bulk/junk/list``; ``X-Auto-Response-Suppress`` (Exchange marks its out-of-office
  replies with it, and with nothing else standard) or a null return path with an "Automatic reply"
  subject: an automatic reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Literal

MailKind = Literal["mail", "auto_reply", "bounce", "read_receipt"]

_DAEMON = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
_DAEMON_NAME = re.compile(r"mail delivery (subsystem|system)", re.IGNORECASE)
# Exchange localises the subject of out-of-office replies; these are the common ones.
_AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?reply|out of office|automatisch antwoord|"
    r"afwezigheidsbericht|abwesenheitsnotiz|automatische antwort|réponse automatique)\s*:",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Classification:
    """The kind of a mail and the header that decided it (shown to agents, written to the log)."""

    kind: MailKind
    reason: str = ""

    @property
    def is_automatic(self) -> bool:
        """Never answered by the bot, never reopens a thread."""
        return self.kind != "mail"


def classify(message: EmailMessage) -> Classification:
    content_type = message.get_content_type()
    report_type = str(message.get_param("report-type", "", header="content-type") or "").lower()
    if content_type == "multipart/report" and report_type == "disposition-notification":
        return Classification("read_receipt", "multipart/report; report-type=disposition-notification")
    if content_type == "multipart/report" and report_type == "delivery-status":
        return Classification("bounce", "multipart/report; report-type=delivery-status")
    if message.get("X-Failed-Recipients"):
        return Classification("bounce", "X-Failed-Recipients")
    null_return_path = _is_null_return_path(message)
    sender = _sender(message)
    if _DAEMON.match(sender[1]) or (null_return_path and _DAEMON_NAME.search(sender[0])):
        return Classification("bounce", "From: " + (sender[1] or sender[0]))
    auto_submitted = _header(message, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return Classification("auto_reply", f"Auto-Submitted: {auto_submitted}")
    for name in ("X-Autoreply", "X-Autorespond"):
        if _header(message, name):
            return Classification("auto_reply", name)
    precedence = _header(message, "Precedence").lower()
    if precedence in {"bulk", "junk", "list", "auto_reply"}:
        return Classification("auto_reply", f"Precedence: {precedence}")
    if _header(message, "X-Auto-Response-Suppress"):
        return Classification("auto_reply", "X-Auto-Response-Suppress")
    if null_return_path and _AUTO_SUBJECT.match(_header(message, "Subject")):
        return Classification("auto_reply", "Return-Path: <> with an automatic-reply subject")
    return Classification("mail")


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError):  # a header the policy cannot fold back into a value
        return ""
    return str(value).strip() if value is not None else ""


def _is_null_return_path(message: EmailMessage) -> bool:
    return _header(message, "Return-Path").replace(" ", "") == "<>"


def _sender(message: EmailMessage) -> tuple[str, str]:
    pairs = getaddresses([_header(message, "From")])
    return pairs[0] if pairs else ("", "")
