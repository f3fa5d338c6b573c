"""The email benchmark sends the fixture corpus as real, unique customer mail, and our parser reads
it as intended.

``bench/email_payloads.py`` makes the mail of ``bench/email_ingest.py``; these tests hold it to our
own parser (``integrations.email.parse.parse_mail``): each copy has its own Message-ID (the stored
key, carrying the marker the websocket receiver matches), comes from the intended customer, is
addressed to the account, is classified as the fixture is (customer mail, auto-reply, bounce, read
receipt), and keeps the fixture's body. SMTP's DATA form must come back byte-identical after
aiosmtpd's un-stuffing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from integrations.email.parse import parse_mail

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import email_payloads as ep  # bench/ is not a package: found through the line above
from loadgen import MAIL_MARKER, _marker_of

SUPPORT = "support-x1@bench.onethread.test"
TEMPLATES = ep.load_templates()


def test_every_fixture_is_used_and_the_mix_is_mostly_customer_mail() -> None:
    on_disk = sorted(path.name for path in ep.FIXTURES.glob("*.eml"))
    assert [t.name for t in TEMPLATES] == on_disk
    assert {t.kind for t in TEMPLATES} == set(ep.KINDS)
    mix = ep.throughput_mix(TEMPLATES)
    assert {t.kind for t in mix} == {"mail", "auto_reply"}
    auto = sum(t.kind == "auto_reply" for t in mix)
    assert 0 < auto < len(mix) / 4
    assert {t.name for t in mix} == {t.name for t in TEMPLATES if t.kind in ep.STORED_KINDS}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name.split("__")[0])
def test_a_copy_parses_as_the_fixture_from_the_customer_to_the_account(template: ep.Template) -> None:
    original = parse_mail(template.raw)
    raw = ep.rewrite(template, mid=ep.message_id("t1", 7), support=SUPPORT, customer=4)
    mail = parse_mail(raw)
    assert mail.message_id == mail.external_id == "otb.t1.7@bench.onethread.test"
    assert mail.classification.kind == template.kind
    assert mail.recipients == (SUPPORT,)
    if template.kind == "bounce":  # the mailer daemon sends a bounce, not a customer
        assert mail.from_address == original.from_address
    else:
        assert mail.from_address == "customer-4@customers.bench.test"
        assert mail.from_name == "Émile 4"
    assert mail.subject == original.subject
    assert mail.text == original.text
    assert len(mail.attachments) == len(original.attachments)
    assert mail.sent_at is not None and mail.sent_at.year >= 2026


def test_copies_are_unique_and_each_customer_keeps_one_conversation() -> None:
    stream = ep.MailStream(SUPPORT, contacts=50, mix=ep.throughput_mix(TEMPLATES))
    parsed = [parse_mail(stream.generate("t2", seq)) for seq in range(120)]
    assert len({mail.external_id for mail in parsed}) == 120
    assert len({mail.from_address for mail in parsed}) == 50
    by_sender: dict[str, set[str]] = {}
    for mail in parsed:
        by_sender.setdefault(mail.from_address, set()).add(mail.subject)
    assert all(len(subjects) == 1 for subjects in by_sender.values())
    assert stream.sender(3) == parsed[3].from_address


def test_the_marker_is_found_in_the_event_of_the_mail() -> None:
    mid = ep.message_id("oWs1a2b3c4d", 42)
    found = MAIL_MARKER.match(mid)
    assert found is not None and found.groups() == ("oWs1a2b3c4d", "42")
    event_message = {"text": "Hello, no marker here", "meta": {"email": {"message_id": mid}}}
    match = _marker_of(event_message)
    assert match is not None and match.groups() == ("oWs1a2b3c4d", "42")
    assert _marker_of({"text": "plain", "meta": {}}) is None


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t.name.split("__")[0])
def test_smtp_data_is_the_mail_again_after_unstuffing(template: ep.Template) -> None:
    raw = ep.rewrite(template, mid=ep.message_id("t3", 1), support=SUPPORT, customer=9)
    data = ep.smtp_data(raw)
    assert data.endswith(b"\r\n.\r\n")
    lines = data[: -len(b".\r\n")].split(b"\r\n")[:-1]
    assert all(len(line) <= ep.SMTP_LINE_LIMIT + 1 for line in lines)  # +1: a stuffed dot
    assert not any(line == b"." for line in lines)
    received = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines) + b"\r\n"
    mail = parse_mail(received)
    assert mail.external_id == "otb.t3.1@bench.onethread.test"
    assert mail.classification.kind == template.kind
    if all(len(line) <= ep.SMTP_LINE_LIMIT for line in raw.splitlines()):
        assert mail.text.rstrip("\n") == parse_mail(raw).text.rstrip("\n")  # DATA ends in CRLF
