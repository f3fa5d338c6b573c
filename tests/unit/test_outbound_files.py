"""What a file sent with a reply becomes: its kept name and type, and the platform messages it goes
out as (Telegram's method and caption rule, Messenger's attachment type), pure functions only."""

from __future__ import annotations

from app.domain.inbox.uploads import content_type, safe_filename
from integrations.messenger.outbound import attachment_type
from integrations.messenger.outbound import plan_parts as messenger_parts
from integrations.telegram.outbound import MAX_PHOTO_BYTES, file_method
from integrations.telegram.outbound import plan_parts as telegram_parts
from integrations.types import OutboundAttachment


def _file(content_type: str, size: int = 10) -> OutboundAttachment:
    return OutboundAttachment("f", content_type, size, b"x" * min(size, 10))


def test_a_file_name_keeps_only_its_last_segment_without_control_characters() -> None:
    assert safe_filename("C:\\Users\\ann\\Desktop\\bon.pdf") == "bon.pdf"
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("evil\x00\r\nname?.txt") == "evil_name_.txt"
    assert safe_filename("   ") == "file"
    assert safe_filename("..") == "file"
    long = safe_filename("a" * 400 + ".jpeg")
    assert len(long) == 255 and long.endswith(".jpeg")


def test_the_type_is_what_the_bytes_show_before_what_the_client_says() -> None:
    assert content_type(b"\xff\xd8\xff\xe0rest", "text/html", "x.html") == "image/jpeg"
    assert content_type(b"%PDF-1.7", "application/octet-stream", "x") == "application/pdf"
    assert content_type(b"OggS\x00", None, "voice.ogg") == "audio/ogg"
    assert content_type(b"\x00\x00\x00\x18ftypmp42", None, "clip") == "video/mp4"
    assert content_type(b"plain", "text/plain; charset=utf-8", "a.txt") == "text/plain"
    assert content_type(b"plain", "not a type", "notes.csv") == "text/csv"
    assert content_type(b"plain", "", "noext") == "application/octet-stream"


def test_telegram_picks_the_method_that_shows_a_file_best() -> None:
    assert file_method(_file("image/jpeg")) == "photo"
    assert file_method(_file("image/png", MAX_PHOTO_BYTES + 1)) == "document"  # too big for a photo
    assert file_method(_file("image/gif")) == "document"
    assert file_method(_file("audio/ogg")) == "voice"
    assert file_method(_file("audio/mpeg")) == "audio"
    assert file_method(_file("video/mp4")) == "video"
    assert file_method(_file("application/pdf")) == "document"


def test_telegram_captions_the_first_file_when_the_text_fits_else_sends_it_first() -> None:
    files = (_file("image/jpeg"), _file("application/pdf"))
    short = telegram_parts("Look", files)
    assert [(p.text, p.attachment is not None) for p in short] == [("Look", True), ("", True)]
    long = telegram_parts("x" * 1025, files)
    assert [(len(p.text), p.attachment is not None) for p in long] == [(1025, False), (0, True), (0, True)]
    assert [p.text for p in telegram_parts("", files)] == ["", ""]
    assert len(telegram_parts("y" * 5000, ())) == 2


def test_messenger_sends_the_text_then_each_file_typed_by_its_kind() -> None:
    files = (_file("image/webp"), _file("audio/mpeg"), _file("video/mp4"), _file("application/zip"))
    assert [attachment_type(f) for f in files] == ["image", "audio", "video", "file"]
    parts = messenger_parts("Here", files)
    assert [p.text for p in parts] == ["Here", "", "", "", ""]
    assert [p.attachment for p in parts[1:]] == list(files)
    assert [p.attachment for p in messenger_parts("", files)] == list(files)
