"""The mail parser over every recorded .eml: what an agent and the threading code get out of each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.email.parse import MalformedMailError, parse_mail
from integrations.email.quotes import new_text, quoted_ranges

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"
EML = sorted(FIXTURES.glob("*.eml"))


def _mail(name: str, **options: int):  # type: ignore[no-untyped-def]
    return parse_mail((FIXTURES / name).read_bytes(), **options)


@pytest.mark.parametrize("path", EML, ids=lambda p: p.name)
def test_every_fixture_parses_with_a_sender_and_a_dedupe_key(path: Path) -> None:
    mail = parse_mail(path.read_bytes())
    assert "@" in mail.from_address and mail.from_address == mail.from_address.lower()
    assert mail.external_id and len(mail.external_id) <= 255
    assert "\x00" not in mail.text and "\n" not in mail.subject


def test_fixture_kinds_are_told_apart() -> None:
    kinds = {path.name: parse_mail(path.read_bytes()).classification.kind for path in EML}
    assert {name for name, kind in kinds.items() if kind == "auto_reply"} == {
        "auto_reply_all_headers_plus_token_base64_arabic__chatwoot.eml",
        "auto_reply_exchange_no_auto_submitted_header__sisimai.eml",
        "auto_reply_exchange_windows-1252_qp__sisimai.eml",
        "auto_reply_out_of_office_auto_submitted__sisimai.eml",
    }
    assert {name for name, kind in kinds.items() if kind == "bounce"} == {
        "bounce_gmail_plaintext_x_failed_recipients__sisimai.eml",
        "bounce_postfix_dsn_multipart_report__sisimai.eml",
    }
    assert kinds["read_receipt_mdn_disposition_notification__flanker.eml"] == "read_receipt"
    people = [name for name, kind in kinds.items() if kind == "mail"]
    assert all(name.startswith(("reply_", "multipart_", "html_only", "attachment_")) for name in people)


def test_rfc2047_headers_and_iso_8859_1_quoted_printable_body() -> None:
    mail = _mail("multipart_alternative_iso-8859-1_qp_rfc2047__mikel-mail.eml")
    assert mail.subject == "Nicolas Fouché has accepted your invitation to Gmail"
    assert mail.text.startswith("Nicolas Fouché has accepted") and mail.html and "Fouch" in mail.html
    assert mail.sent_at == datetime(2005, 6, 28, 8, 2, 11, tzinfo=UTC)


def test_base64_arabic_subject_and_sender_name() -> None:
    mail = _mail("auto_reply_all_headers_plus_token_base64_arabic__chatwoot.eml")
    assert mail.subject == "أهلين عميلنا الكريم"
    assert mail.from_name == "متجر سوق نت" and mail.from_address == "example@gmail.com"
    assert mail.reply_tokens == ("6bdc3f4d-0bec-4515-a284-5d916fdde489",)
    assert mail.classification.reason.startswith("Auto-Submitted")


def test_windows_1252_quoted_printable_out_of_office_without_auto_submitted() -> None:
    mail = _mail("auto_reply_exchange_windows-1252_qp__sisimai.eml")
    assert mail.classification.kind == "auto_reply"
    assert "\ufffd" not in mail.text


def test_html_only_mail_gets_text_derived_from_its_html() -> None:
    mail = _mail("html_only_no_text_part__chatwoot.eml")
    assert mail.text == "This is html only mail" and mail.html is not None


def test_pdf_attachment_and_an_mbox_from_line() -> None:
    mail = _mail("attachment_pdf_iso-8859-1_mbox_from_line__mikel-mail.eml")
    assert mail.subject == "Another PDF with 🎉 Unicode chars in it 🍿"
    [pdf] = mail.attachments
    assert (pdf.filename, pdf.content_type) == ("broken.pdf", "application/pdf")
    assert pdf.data is not None and pdf.data.startswith(b"%PDF") and pdf.size == len(pdf.data)


def test_an_attachment_over_the_cap_keeps_its_size_but_not_its_bytes() -> None:
    mail = _mail("attachment_pdf_iso-8859-1_mbox_from_line__mikel-mail.eml", max_attachment_bytes=100)
    [pdf] = mail.attachments
    assert pdf.data is None and pdf.size > 100


def test_blank_body_with_an_attachment_keeps_the_file() -> None:
    mail = _mail("attachment_blank_body__django-helpdesk.eml")
    [file] = mail.attachments
    assert file.filename == "baf" and file.data == b"You shouldn't see this.\n"
    assert not mail.text.strip()


def test_postfix_dsn_names_the_failed_recipient_and_our_bounced_message() -> None:
    bounce = _mail("bounce_postfix_dsn_multipart_report__sisimai.eml").bounce
    assert bounce is not None
    assert bounce.failed_recipients == ("kijitora@2jo.example.jp",)
    assert bounce.original_message_id == "20150213024813.DE9FF20C16@2jo.example.jp"
    assert "unknown user" in bounce.diagnostic


def test_gmail_plaintext_bounce_is_read_from_its_headers_and_text() -> None:
    bounce = _mail("bounce_gmail_plaintext_x_failed_recipients__sisimai.eml").bounce
    assert bounce is not None and bounce.failed_recipients == ("kijitora@example.co.jp",)
    assert bounce.original_message_id == "CBA48452-0888-4AAC-AA4E-0F54D382117F@gmail.com"


def test_threading_headers_are_message_ids_without_brackets() -> None:
    mail = _mail("reply_gmail_plus_addressed_token_quoted__chatwoot.eml")
    assert mail.in_reply_to == (
        "0100017b5d8efc70-c7f18809-aa55-48f6-91fd-b626092ed8b3-000000@email.amazonses.com",
    )
    assert mail.references[-1] == mail.in_reply_to[0] and len(mail.references) == 2


@pytest.mark.parametrize(
    ("name", "new"),
    [
        ("reply_gmail_multipart_alternative_quoted__talon.eml", "Hello"),
        (
            "reply_gmail_plus_addressed_token_quoted__chatwoot.eml",
            "Yes, I am providing you step how to reproduce this issue",
        ),
        ("reply_outlook_iso-8859-1_header_block_quote__talon.eml", "Hello"),
        ("reply_thunderbird_plain_flowed_quoted__talon.eml", "Hello"),  # bottom-posted
    ],
)
def test_replies_separate_the_new_words_from_the_quoted_history(name: str, new: str) -> None:
    mail = _mail(name)
    assert new_text(mail.text, mail.quotes) == new
    assert mail.quotes, "the history stays in the text, marked as quoted"


@pytest.mark.parametrize(
    ("name", "new"),
    [
        (
            "reply_body_gmail_en__email-reply-parser.txt",
            "This is a test for inbox replying to a github message.",
        ),
        ("reply_body_outlook_dutch__mail-parser-reply.txt", "Outlook met een antwoord"),
    ],
)
def test_reply_bodies_in_english_and_dutch(name: str, new: str) -> None:
    text = (FIXTURES / name).read_text()
    assert new_text(text, quoted_ranges(text)) == new


@pytest.mark.parametrize(
    "attribution",
    [
        "Op ma 3 mei 2021 om 10:00 schreef Support <reply+abcdefabcdefabcdef@example.com>:",
        "Op 3 mei 2021, om 10:00 heeft Support <support@example.com> het volgende geschreven:",
        "On Mon, 3 May 2021 at 10:00, Support <support@example.com> wrote:",
    ],
)
def test_dutch_and_english_attributions_above_quoted_lines(attribution: str) -> None:
    text = f"Hoi,\n\nDank je, het werkt nu!\n\n{attribution}\n> Probeer het opnieuw.\n> Groet, Support\n"
    assert new_text(text, quoted_ranges(text)) == "Hoi,\n\nDank je, het werkt nu!"


def test_inline_answers_between_quotes_stay_visible() -> None:
    text = "> Which order?\nOrder 1234.\n\n> And the address?\nDamrak 1, Amsterdam.\n"
    assert new_text(text, quoted_ranges(text)) == "Order 1234.\n\nDamrak 1, Amsterdam."


def test_a_header_injection_attempt_stays_inside_the_subject() -> None:
    raw = (
        b"From: mallory@example.com\r\nTo: support@example.com\r\n"
        b"Subject: =?utf-8?q?hi=0D=0ABcc:_victim@example.com?=\r\nMessage-ID: <inject@example.com>\r\n\r\nbody\r\n"
    )
    mail = parse_mail(raw)
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert mail.recipients == ("support@example.com",)


def test_a_body_without_charset_that_is_not_utf8_is_read_as_windows_1252() -> None:
    raw = b"From: a@example.com\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9 \x80 5\r\n"
    assert parse_mail(raw).text.strip() == "Café € 5"


def test_an_unknown_charset_is_guessed_not_refused() -> None:
    raw = b"From: a@example.com\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nhello\r\n"
    assert parse_mail(raw).text.strip() == "hello"


def test_no_message_id_gets_a_stable_content_hash() -> None:
    raw = b"From: a@example.com\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nSubject: x\r\n\r\nhello\r\n"
    first, again = parse_mail(raw), parse_mail(raw)
    assert first.message_id is None and first.external_id.startswith("sha256:")
    assert first.external_id == again.external_id


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n",
        b"Subject: no sender\r\n\r\nhello",
        b"From: not an address\r\n\r\nhello",
        b"\xff\xfe\x00garbage",
    ],
)
def test_mail_without_a_usable_sender_is_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(MalformedMailError) as refused:
        parse_mail(raw)
    assert refused.value.reason


def test_reply_tokens_only_from_our_exact_address_shape() -> None:
    raw = (
        b"From: a@example.com\r\nTo: reply+to+6bdc3f4d-0bec-4515-a284-5d916fdde489@example.com\r\n"
        b"Cc: Support <REPLY+abcdefghijklmnop1234@Example.com>\r\n\r\nhi\r\n"
    )
    assert parse_mail(raw).reply_tokens == ("abcdefghijklmnop1234",)


def test_format_flowed_paragraphs_are_joined() -> None:
    raw = (
        b"From: a@example.com\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n"
        b"This line is wrapped \r\nby the client.\r\n\r\n-- \r\nSig\r\n"
    )
    assert parse_mail(raw).text == "This line is wrapped by the client.\n\n-- \nSig\n"


def test_html_text_drops_scripts_styles_and_keeps_lines() -> None:
    raw = (
        b"From: a@example.com\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{color:red}</style><title>t</title></head><body>"
        b"<p>Hallo,</p><script>alert(1)</script><p>Mijn bestelling<br>is niet aangekomen.</p>"
        b"<ul><li>order 1234</li></ul><img src='https://tracker.example/p.gif'></body></html>"
    )
    assert parse_mail(raw).text == "Hallo,\n\nMijn bestelling\nis niet aangekomen.\n\n• order 1234"


def test_auto_submitted_no_is_a_person() -> None:
    raw = b"From: a@example.com\r\nAuto-Submitted: no\r\n\r\nhello\r\n"
    assert parse_mail(raw).classification.kind == "mail"
