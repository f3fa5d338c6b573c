"""Read new mail from an account's IMAP mailbox (``imap-tools``), without changing the mailbox.

A poll asks for the messages whose UID is above the last one we stored, in one folder. UIDs only
mean something while the folder's ``UIDVALIDITY`` stays the same: when the server changes it (a
mailbox rebuilt or restored), every message is read again and the ``Message-ID`` dedupe of ingest
keeps the ones we have. Messages are fetched with ``BODY.PEEK[]`` so they stay unread for people
reading the same mailbox, and as the exact bytes the server holds (a re-serialised copy could differ
from what SMTP delivered, and the dedupe key must not).

Blocking (imaplib underneath): the app runs a poll in a thread.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError

_UID = re.compile(rb"UID (\d+)")


class InvalidImapUrlError(ValueError):
    """An ``imap_url`` we cannot connect with; the message says which part is wrong."""


class ImapLoginError(Exception):
    """The server refused the account's user name or password."""


@dataclass(frozen=True, slots=True)
class ImapMailbox:
    """Where to poll, parsed from ``imaps://user:password@host:993/INBOX`` (TLS),
    ``imap://…?starttls=require`` or ``imap://…`` (plain: loopback and tests only)."""

    host: str
    port: int
    username: str
    password: str
    folder: str = "INBOX"
    security: str = "tls"
    """``tls`` (from the first byte), ``starttls`` or ``plain``."""

    @classmethod
    def from_url(cls, url: str) -> ImapMailbox:
        parts = urlsplit(url.strip())
        if parts.scheme not in {"imap", "imaps"}:
            raise InvalidImapUrlError("the IMAP URL must start with imap:// or imaps://")
        if not parts.hostname:
            raise InvalidImapUrlError("the IMAP URL has no host")
        if not parts.username or parts.password is None:
            raise InvalidImapUrlError("the IMAP URL needs a user name and a password")
        try:
            port = parts.port
        except ValueError as error:
            raise InvalidImapUrlError("the IMAP URL's port is not a number") from error
        if parts.scheme == "imaps":
            security = "tls"
        else:
            security = "starttls" if "starttls=require" in parts.query.lower() else "plain"
        return cls(
            host=parts.hostname,
            port=port or (993 if security == "tls" else 143),
            username=unquote(parts.username),
            password=unquote(parts.password),
            folder=unquote(parts.path.strip("/")) or "INBOX",
            security=security,
        )


@dataclass(frozen=True, slots=True)
class FetchedMail:
    uid: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class PollResult:
    uidvalidity: int
    mails: tuple[FetchedMail, ...]
    """New messages in UID order; at most the ``limit`` asked for (the next poll takes the rest)."""


def poll(
    mailbox: ImapMailbox,
    *,
    uidvalidity: int | None,
    after_uid: int,
    limit: int = 50,
    timeout: float = 30.0,
    tls_context: ssl.SSLContext | None = None,
) -> PollResult:
    """The messages above ``after_uid`` (all of them when ``uidvalidity`` changed)."""
    with _connect(mailbox, timeout, tls_context) as box:
        status = box.folder.status(mailbox.folder, ["UIDVALIDITY"])
        current = int(status["UIDVALIDITY"])
        box.folder.set(mailbox.folder, readonly=True)
        start = after_uid + 1 if uidvalidity == current else 1
        uids = sorted(int(uid) for uid in box.uids(f"UID {start}:*"))
        # "n:*" always matches the highest UID, even below n: keep only the new ones.
        wanted = [uid for uid in uids if uid >= start][:limit]
        mails = [FetchedMail(uid, raw) for uid in wanted if (raw := _fetch_raw(box, uid)) is not None]
        return PollResult(uidvalidity=current, mails=tuple(mails))


def _connect(mailbox: ImapMailbox, timeout: float, tls_context: ssl.SSLContext | None) -> MailBox:
    box: MailBox | MailBoxUnencrypted | MailBoxStartTls
    if mailbox.security == "tls":
        box = MailBox(mailbox.host, mailbox.port, timeout=timeout, ssl_context=tls_context)
    elif mailbox.security == "starttls":
        box = MailBoxStartTls(mailbox.host, mailbox.port, timeout=timeout, ssl_context=tls_context)
    else:
        box = MailBoxUnencrypted(mailbox.host, mailbox.port, timeout=timeout)
    try:
        box.login(mailbox.username, mailbox.password, initial_folder=None)
    except MailboxLoginError as error:
        raise ImapLoginError("the IMAP server refused the user name or password") from error
    return box  # type: ignore[return-value]


def _fetch_raw(box: MailBox, uid: int) -> bytes | None:
    status, data = box.client.uid("FETCH", str(uid), "(UID BODY.PEEK[])")
    if status != "OK":
        return None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and _UID.search(item[0]):
            return bytes(item[1])
    return None
