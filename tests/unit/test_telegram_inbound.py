"""``parse_update``: a Telegram webhook body in; a message, a reason to ignore it, or an error out.

Every fixture in ``tests/fixtures/telegram`` has its expected outcome here (a test fails when a
fixture is added without one). Shapes the fixtures lack (voice, location, a contact of someone
else, an edit in today's shape) are built from them by changing the fields the test is about.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from integrations.telegram import (
    IgnoredUpdate,
    UnreadableUpdateError,
    UpdateJSONError,
    bot_id_from_token,
    callback_query_id,
    parse_update,
    webhook_secret,
)
from integrations.types import ContactClaim, InboundAttachment, InboundEdit, InboundMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
ACCOUNT = "5b0a7c1e-2d3f-4a5b-8c9d-0e1f2a3b4c5d"
BOT = "7000001"
LARGEST_PHOTO_ID = "AgACAgQAAxkBAAINhGKvijUVSn2i3980bQIIc1fqWGNCAAJpvDEbEmaBUfuA43fR-BnlAQADAgADeQADJAQ"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def parse(data: dict[str, Any] | bytes, **options: Any) -> InboundMessage | InboundEdit | IgnoredUpdate:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return parse_update(ACCOUNT, body, bot_id=options.pop("bot_id", BOT), **options)


def message(data: dict[str, Any] | bytes, **options: Any) -> InboundMessage:
    result = parse(data, **options)
    assert isinstance(result, InboundMessage), result
    return result


def current_shape(update: dict[str, Any]) -> dict[str, Any]:
    """A docs sample in today's shape: Telegram now always sends ``is_bot`` on users and
    ``file_unique_id`` on files."""
    fixed = copy.deepcopy(update)
    for key in ("message", "edited_message"):
        if key in fixed:
            fixed[key]["from"]["is_bot"] = False
            if "document" in fixed[key]:
                fixed[key]["document"]["file_unique_id"] = "AgADdocument"
    return fixed


def private_text(text: str = "hello", **message_fields: Any) -> dict[str, Any]:
    update = fixture("update_message_text_private__teloxide.json")
    update["message"].pop("text")
    update["message"].update(text=text, **message_fields)
    return update


# -------------------------------------------------------------------------------------------------
# every fixture
# -------------------------------------------------------------------------------------------------
STALE_DOCS_SAMPLES = {
    "update_message_text_start__telegram_docs.json": 10000,
    "update_edited_message__telegram_docs.json": 10000,
    "update_message_document__telegram_docs.json": 10000,
    "update_message_reply__telegram_docs.json": 10000,
    "update_callback_query_inline_message__telegram_docs.json": 10000,
}
IGNORED = {
    "update_message_command_in_supergroup_reply__teloxide.json": "supergroup chat",
}
BUTTON_PRESSES = {"update_callback_query_inline_keyboard__telegram-bot-php.json"}
MESSAGES = {
    "update_message_text_private__teloxide.json": ("892252934", "218485655", "Waffle", "hello there"),
    "update_message_text_private_minimal__teloxide.json": ("306197398", "408258968", "Hirrolot", "4"),
    "update_message_photo_with_caption__teloxide_wrapped.json": (
        "10003",
        "27433968",
        "Crax | rats addict",
        "www.example.com",
    ),
    "update_message_contact_own_phone__composed_from_spec.json": (
        "10001",
        "1111111",
        "Test Firstname Test Lastname",
        "📇 Test Firstname Test Lastname, +31612345678",
    ),
    "update_message_start_deeplink_payload__composed_from_spec.json": (
        "10002",
        "1111111",
        "Test Firstname Test Lastname",
        "/start order-4711_ref-web",
    ),
}
NOT_AN_UPDATE = {"message_object_photo_with_caption__teloxide.json"}


def test_every_fixture_has_an_expected_outcome() -> None:
    names = {path.name for path in FIXTURES.glob("*.json")}
    assert names == set(STALE_DOCS_SAMPLES) | set(IGNORED) | set(MESSAGES) | NOT_AN_UPDATE | BUTTON_PRESSES


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_fixture_messages(name: str) -> None:
    update_id, user_id, sender_name, text = MESSAGES[name]
    parsed = message(fixture(name))
    assert parsed.channel == "telegram" and parsed.account_id == ACCOUNT
    assert parsed.external_id == f"{BOT}:{update_id}"
    assert parsed.sender.channel == "telegram" and parsed.sender.external_id == user_id
    assert parsed.sender.name == sender_name and parsed.sender.verified
    assert parsed.text == text
    assert parsed.sent_at is not None and parsed.sent_at.tzinfo is not None
    assert parsed.metadata["telegram"]["update_id"] == int(update_id)
    assert "edited" not in parsed.metadata


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_fixture_updates_the_inbox_ignores(name: str) -> None:
    assert parse(fixture(name)) == IgnoredUpdate(fixture(name)["update_id"], IGNORED[name])


@pytest.mark.parametrize("name", sorted(STALE_DOCS_SAMPLES))
def test_stale_docs_samples_are_unreadable_with_their_update_id(name: str) -> None:
    """Telegram's docs still publish users without ``is_bot``; PTB refuses them (channels.md §1.5)."""
    with pytest.raises(UnreadableUpdateError) as caught:
        parse(fixture(name))
    assert caught.value.update_id == STALE_DOCS_SAMPLES[name]
    assert caught.value.error == "TypeError"  # the class only: the log line repeats no content


def test_a_bare_message_object_is_unreadable_without_an_update_id() -> None:
    with pytest.raises(UnreadableUpdateError) as caught:
        parse(fixture("message_object_photo_with_caption__teloxide.json"))
    assert caught.value.update_id is None


# -------------------------------------------------------------------------------------------------
# button presses (callback queries)
# -------------------------------------------------------------------------------------------------
PRESS = "update_callback_query_inline_keyboard__telegram-bot-php.json"


def test_a_button_press_is_the_label_with_the_payload_from_the_same_user() -> None:
    pressed = message(fixture(PRESS))
    assert pressed.external_id == "cb:1115664380233733737"  # the query's id: a retry is the same one
    assert pressed.sender.external_id == "259760855" and pressed.sender.name == "Shahrad Elahi"
    assert pressed.sender.verified
    assert pressed.text == "Task Alerts"  # what the customer saw on the button, not its data
    assert pressed.metadata["button_payload"] == "tasks-settings"
    assert pressed.metadata["telegram"] == {
        "update_id": 226394498,
        "callback_query_id": "1115664380233733737",
        "message_id": 4071,
        "chat_id": 259760855,
        "username": "ShahradElahi",
    }
    assert pressed.sent_at is None  # Telegram gives no time for a press: the arrival is the time
    assert callback_query_id(pressed) == "1115664380233733737"


def test_the_label_is_found_among_several_rows_and_buttons() -> None:
    update = fixture(PRESS)
    update["callback_query"]["message"]["reply_markup"]["inline_keyboard"] = [
        [{"text": "Levertijd", "callback_data": "bot:rule:delivery-time"}],
        [
            {"text": "Open the shop", "url": "https://shop.example"},
            {"text": "Een medewerker", "callback_data": "bot:person"},
        ],
    ]
    update["callback_query"]["data"] = "bot:person"
    pressed = message(update)
    assert (pressed.text, pressed.metadata["button_payload"]) == ("Een medewerker", "bot:person")


def test_a_press_whose_button_is_no_longer_in_the_keyboard_keeps_the_payload_as_text() -> None:
    """Telegram sends an inaccessible message (``date`` 0, no keyboard) for old ones."""
    update = fixture(PRESS)
    update["callback_query"]["message"] = {
        "message_id": 4071,
        "date": 0,
        "chat": {"id": 259760855, "type": "private", "first_name": "Shahrad"},
    }
    pressed = message(update)
    assert (pressed.text, pressed.metadata["button_payload"]) == ("tasks-settings", "tasks-settings")


def test_an_ordinary_message_answers_no_callback_query() -> None:
    assert callback_query_id(message(private_text())) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda q: q.pop("message"), "button press on an inline-mode message"),
        (lambda q: q.pop("data"), "button press without callback data (a game)"),
        (lambda q: q["from"].update(is_bot=True), "button press not made by a person"),
        (
            lambda q: q["message"].update(chat={"id": -100123, "type": "supergroup", "title": "Shop"}),
            "button press in a supergroup chat",
        ),
    ],
)
def test_presses_the_inbox_has_no_use_for_are_ignored(change: Any, reason: str) -> None:
    update = fixture(PRESS)
    change(update["callback_query"])
    assert parse(update) == IgnoredUpdate(226394498, reason)


def test_the_inline_mode_docs_sample_in_todays_shape_is_ignored() -> None:
    update = fixture("update_callback_query_inline_message__telegram_docs.json")
    update["callback_query"]["from"] = {"id": 1111111, "is_bot": False, "first_name": "Test Firstname"}
    update["callback_query"]["chat_instance"] = "42"
    assert parse(update) == IgnoredUpdate(10000, "button press on an inline-mode message")


# -------------------------------------------------------------------------------------------------
# content kinds
# -------------------------------------------------------------------------------------------------
def test_photo_keeps_the_largest_rendition_and_its_file_id() -> None:
    parsed = message(fixture("update_message_photo_with_caption__teloxide_wrapped.json"))
    assert parsed.attachments == (
        InboundAttachment(
            "photo.jpg",
            "image/jpeg",
            162061,
            source={"telegram_file_id": LARGEST_PHOTO_ID, "file_unique_id": "AQADabwxGxJmgVF-"},
        ),
    )
    assert parsed.metadata["telegram"]["files"] == [
        {
            "kind": "photo",
            "file_id": "AgACAgQAAxkBAAINhGKvijUVSn2i3980bQIIc1fqWGNCAAJpvDEbEmaBUfuA43fR-BnlAQADAgADeQADJAQ",
            "file_unique_id": "AQADabwxGxJmgVF-",
            "file_size": 162061,
        }
    ]


def test_photo_without_caption_is_a_message_with_only_the_attachment() -> None:
    update = fixture("update_message_photo_with_caption__teloxide_wrapped.json")
    del update["message"]["caption"], update["message"]["caption_entities"]
    parsed = message(update)
    assert parsed.text == "" and len(parsed.attachments) == 1


def test_document_in_todays_shape() -> None:
    parsed = message(current_shape(fixture("update_message_document__telegram_docs.json")))
    assert parsed.text == ""
    assert parsed.attachments == (
        InboundAttachment(
            "Testfile.pdf",
            "application/pdf",
            536392,
            source={"telegram_file_id": "AwADBAADbXXXXXXXXXXXGBdhD2l6_XX", "file_unique_id": "AgADdocument"},
        ),
    )
    files = parsed.metadata["telegram"]["files"]
    assert [(f["kind"], f["file_id"]) for f in files] == [("document", "AwADBAADbXXXXXXXXXXXGBdhD2l6_XX")]


def test_voice_note() -> None:
    update = private_text()
    del update["message"]["text"]
    update["message"]["voice"] = {
        "file_id": "AwACAgQAAxkBAAIBvoice",
        "file_unique_id": "AgADvoice",
        "duration": 4,
        "mime_type": "audio/ogg",
        "file_size": 10240,
    }
    parsed = message(update)
    assert parsed.attachments == (
        InboundAttachment(
            "voice.ogg",
            "audio/ogg",
            10240,
            source={"telegram_file_id": "AwACAgQAAxkBAAIBvoice", "file_unique_id": "AgADvoice"},
        ),
    )
    assert parsed.metadata["telegram"]["files"][0]["kind"] == "voice"


def test_location_becomes_a_text_line() -> None:
    update = private_text()
    del update["message"]["text"]
    update["message"]["location"] = {"latitude": 52.370216, "longitude": 4.895168}
    parsed = message(update)
    assert parsed.text == "📍 52.370216, 4.895168"
    assert parsed.metadata["telegram"]["location"] == {"latitude": 52.370216, "longitude": 4.895168}
    assert parsed.attachments == ()


def test_venue_names_the_place() -> None:
    update = private_text()
    del update["message"]["text"]
    location = {"latitude": 52.3731, "longitude": 4.8926}
    update["message"]["location"] = location
    update["message"]["venue"] = {"location": location, "title": "Dam Square", "address": "Dam, Amsterdam"}
    assert message(update).text == "📍 52.373100, 4.892600 · Dam Square, Dam, Amsterdam"


def test_own_contact_is_a_verified_phone_claim() -> None:
    parsed = message(fixture("update_message_contact_own_phone__composed_from_spec.json"))
    assert parsed.sender.claims == (ContactClaim("phone", "+31612345678", verified=True),)
    assert parsed.metadata["telegram"]["contact"]["own"] is True


def test_own_contact_with_a_plus_is_the_same_number() -> None:
    update = fixture("update_message_contact_own_phone__composed_from_spec.json")
    update["message"]["contact"]["phone_number"] = "+31 6 12345678"
    assert message(update).sender.claims == (ContactClaim("phone", "+31612345678", verified=True),)


@pytest.mark.parametrize("user_id", [2222222, None])
def test_someone_elses_contact_claims_nothing(user_id: int | None) -> None:
    """A shared card of a friend (or one without a Telegram account) is not the customer's number."""
    update = fixture("update_message_contact_own_phone__composed_from_spec.json")
    update["message"]["contact"].update(first_name="Friend", last_name="Of Mine")
    if user_id is None:
        del update["message"]["contact"]["user_id"]
    else:
        update["message"]["contact"]["user_id"] = user_id
    parsed = message(update)
    assert parsed.sender.claims == ()
    assert parsed.text == "📇 Friend Of Mine, +31612345678"
    assert parsed.metadata["telegram"]["contact"]["own"] is False


def test_own_contact_with_a_number_we_cannot_read_is_kept_without_a_claim() -> None:
    update = fixture("update_message_contact_own_phone__composed_from_spec.json")
    update["message"]["contact"]["phone_number"] = "12"
    parsed = message(update)
    assert parsed.sender.claims == () and parsed.text.endswith(", 12")


def test_sticker_shows_its_emoji() -> None:
    update = private_text()
    del update["message"]["text"]
    update["message"]["sticker"] = {
        "file_id": "CAACAgIAAxkBAAIBsticker",
        "file_unique_id": "AgADsticker",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "👍",
    }
    parsed = message(update)
    assert parsed.text == "👍"
    assert parsed.attachments == (
        InboundAttachment(
            "sticker.webp",
            "image/webp",
            0,
            source={"telegram_file_id": "CAACAgIAAxkBAAIBsticker", "file_unique_id": "AgADsticker"},
        ),
    )


# -------------------------------------------------------------------------------------------------
# edits, ignored updates, keys
# -------------------------------------------------------------------------------------------------
def test_edited_message_names_the_message_it_edits() -> None:
    edit = parse(current_shape(fixture("update_edited_message__telegram_docs.json")))
    assert isinstance(edit, InboundEdit), edit
    assert edit.text == "Edited text"
    assert edit.original_meta == {"telegram": {"chat_id": 1111111, "message_id": 1365}}
    assert edit.edit_key == f"{BOT}:10000"
    assert edit.edited_at == datetime.fromtimestamp(1441646600, UTC)
    # stored as a message of its own when the original is unknown: marked edited, at its edit time
    assert edit.as_message.metadata["edited"] is True
    assert edit.as_message.external_id == edit.edit_key
    assert edit.as_message.sent_at == edit.edited_at


def test_live_location_ticks_are_ignored() -> None:
    update = private_text()
    edited = update.pop("message")
    del edited["text"]
    edited.update(location={"latitude": 52.37, "longitude": 4.89, "live_period": 900}, edit_date=1569518400)
    update["edited_message"] = edited
    assert parse(update) == IgnoredUpdate(892252934, "live location update")


def test_group_chat_message_is_ignored() -> None:
    update = private_text()
    update["message"]["chat"] = {"id": -4000123, "title": "Friends", "type": "group"}
    assert parse(update) == IgnoredUpdate(892252934, "group chat")


def test_service_message_without_content_is_ignored() -> None:
    update = private_text()
    del update["message"]["text"]
    update["message"]["pinned_message"] = {"message_id": 1, "date": 0, "chat": update["message"]["chat"]}
    assert parse(update) == IgnoredUpdate(892252934, "no content the inbox shows")


def test_a_long_text_is_kept_whole() -> None:
    text = "x" * 9_999 + "!"
    assert message(private_text(text)).text == text


def test_text_beyond_the_limit_is_unreadable() -> None:
    with pytest.raises(UnreadableUpdateError):
        parse(private_text("x" * 101), max_text_chars=100)


def test_nul_characters_are_replaced_not_dropped() -> None:
    assert message(private_text("a\x00b")).text == "a\ufffdb"


def test_the_dedupe_key_is_bot_and_update_id() -> None:
    update = fixture("update_message_text_private__teloxide.json")
    assert message(update, bot_id="111").external_id == "111:892252934"
    assert message(update, bot_id="222").external_id == "222:892252934"
    assert message(update, bot_id=None).external_id == "0:892252934"


def test_bot_id_from_token() -> None:
    assert bot_id_from_token("7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw") == "7000001"
    assert bot_id_from_token("not-a-token") is None
    assert bot_id_from_token(None) is None


def test_webhook_secret_prefers_the_dedicated_one() -> None:
    assert webhook_secret({"webhook_secret": "w", "signing_secret": "s"}) == "w"
    assert webhook_secret({"signing_secret": "s"}) == "s"
    assert webhook_secret({}) == ""


@pytest.mark.parametrize(
    "body", [b"", b'{"update_id": 1, "message": {', b"\xff\xfe", b"[1, 2]", b'"x"', b"[" * 100_000]
)
def test_bodies_that_are_not_json_objects(body: bytes) -> None:
    with pytest.raises(UpdateJSONError):
        parse(body)


@pytest.mark.parametrize(
    "data",
    [
        {"update_id": 5, "message": "text"},
        {"update_id": 5, "message": {"message_id": 1}},
        {"update_id": "five"},
        {"update_id": 5, "message": {**private_text()["message"], "date": "yesterday"}},
        {"update_id": 5, "message": {**private_text()["message"], "date": 10**20}},
    ],
)
def test_objects_of_unexpected_shapes_are_unreadable_never_a_crash(data: dict[str, Any]) -> None:
    with pytest.raises(UnreadableUpdateError):
        parse(data)


def test_an_update_with_no_known_kind_is_ignored() -> None:
    assert parse({"update_id": 9}) == IgnoredUpdate(9, "unknown update")


def test_a_date_before_2000_is_left_to_the_receiving_clock() -> None:
    assert message(private_text(date=0)).sent_at is None
