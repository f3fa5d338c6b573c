"""IMAP polling against a real dovecot: new mail only, exact bytes, nothing marked read, and a
changed UIDVALIDITY reads everything again."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.email.imap import ImapLoginError, ImapMailbox, InvalidImapUrlError, poll
from integrations.email.parse import parse_mail
from tests.fakes.dovecot import Dovecot

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"
USER = "support@acme.example"


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot().start({USER: "s3cret-pass"})
    yield server
    server.stop()


def test_new_mail_is_read_in_uid_order_with_its_exact_bytes(dovecot: Dovecot) -> None:
    mailbox = ImapMailbox.from_url(dovecot.url(USER))
    names = sorted(FIXTURES.glob("*.eml"))[:4]
    for path in names:
        dovecot.append(USER, path.read_bytes())
    first = poll(mailbox, uidvalidity=None, after_uid=0)
    assert [m.uid for m in first.mails] == [1, 2, 3, 4]
    for fetched, path in zip(first.mails, names, strict=True):
        assert parse_mail(fetched.raw).external_id == parse_mail(path.read_bytes()).external_id
    assert dovecot.mark_seen_count(USER) == 0, "polling never marks the customer's mail read"

    dovecot.append(USER, (FIXTURES / "html_only_no_text_part__chatwoot.eml").read_bytes())
    second = poll(mailbox, uidvalidity=first.uidvalidity, after_uid=4)
    assert [m.uid for m in second.mails] == [5]
    assert poll(mailbox, uidvalidity=first.uidvalidity, after_uid=5).mails == ()


def test_a_limit_leaves_the_rest_for_the_next_poll(dovecot: Dovecot) -> None:
    mailbox = ImapMailbox.from_url(dovecot.url(USER))
    for path in sorted(FIXTURES.glob("*.eml"))[:3]:
        dovecot.append(USER, path.read_bytes())
    first = poll(mailbox, uidvalidity=None, after_uid=0, limit=2)
    rest = poll(mailbox, uidvalidity=first.uidvalidity, after_uid=first.mails[-1].uid, limit=2)
    assert [m.uid for m in first.mails] == [1, 2] and [m.uid for m in rest.mails] == [3]


def test_a_changed_uidvalidity_reads_everything_again(dovecot: Dovecot) -> None:
    mailbox = ImapMailbox.from_url(dovecot.url(USER))
    dovecot.append(USER, (FIXTURES / "html_only_no_text_part__chatwoot.eml").read_bytes())
    result = poll(mailbox, uidvalidity=12345, after_uid=99)
    assert result.uidvalidity != 12345 and [m.uid for m in result.mails] == [1]


def test_a_wrong_password_says_so(dovecot: Dovecot) -> None:
    wrong = ImapMailbox.from_url(dovecot.url(USER).replace("s3cret-pass", "nope"))
    with pytest.raises(ImapLoginError):
        poll(wrong, uidvalidity=None, after_uid=0, timeout=5)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "imaps://u%40x:pw@mail.example.com",
            ImapMailbox("mail.example.com", 993, "u@x", "pw", "INBOX", "tls"),
        ),
        ("imap://u:pw@h:1143/Support", ImapMailbox("h", 1143, "u", "pw", "Support", "plain")),
        ("imap://u:pw@h?starttls=require", ImapMailbox("h", 143, "u", "pw", "INBOX", "starttls")),
    ],
)
def test_imap_urls(url: str, expected: ImapMailbox) -> None:
    assert ImapMailbox.from_url(url) == expected


@pytest.mark.parametrize("url", ["http://u:p@h", "imap://h", "imap://u:p@", "imap://u:p@h:x"])
def test_bad_imap_urls_say_what_is_wrong(url: str) -> None:
    with pytest.raises(InvalidImapUrlError):
        ImapMailbox.from_url(url)


def test_dovecot_is_installed() -> None:
    assert shutil.which("dovecot") or Path("/usr/sbin/dovecot").exists()
