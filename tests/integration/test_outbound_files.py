"""Agents send files, end to end on both shapes: uploaded through the JSON API (multipart) or the
console's composer, stored, and delivered by the real adapters through the real job queue to local
fakes of Telegram's Bot API and Meta's Send API; split replies that fail half-way send only the
missing parts on retry."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select

from app.db.models import Attachment
from app.settings import Settings
from tests.console import csrf_from
from tests.fakes.callback_server import CallbackServer
from tests.fakes.delivery import message_row, reply, wait_for_status
from tests.fakes.graph_api import GraphApi
from tests.fakes.telegram_bot_api import TelegramBotAPI
from tests.helpers import Api
from tests.integration.test_messenger_outbound import PSID, _customer_wrote
from tests.integration.test_telegram_outbound import CUSTOMER, _customer_thread

CAP = 64 * 1024
"""The attachment cap these tests run under (small, so "too large" stays cheap to send)."""
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(3000)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + os.urandom(2000) + b"\n%%EOF\n"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(max_attachment_bytes=CAP)


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramBotAPI]:
    async with TelegramBotAPI() as server:
        yield server


@pytest.fixture
async def graph() -> AsyncIterator[GraphApi]:
    async with GraphApi() as server:
        yield server


FileSpec = tuple[str, bytes, str]


async def send_files(
    api: Api, thread_id: int, text: str, files: list[FileSpec], *, channel: str | None = None
) -> httpx.Response:
    """A reply with files, as a client of the JSON API sends it: ``multipart/form-data``."""
    fields = {"text": text, **({"channel": channel} if channel else {})}
    return await api.client.post(
        f"/api/v1/threads/{thread_id}/messages",
        data=fields,
        files=[("files", spec) for spec in files],
        headers=api.headers,
    )


async def attachment_rows(api: Api) -> list[Attachment]:
    async with api.writer.sessionmaker() as session:
        return list((await session.execute(select(Attachment).order_by(col(Attachment.id)))).scalars())


def stored_files(settings: Settings) -> list[Path]:
    root = settings.files_dir
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


# -- Telegram --------------------------------------------------------------------------------------
async def test_a_photo_goes_to_telegram_as_send_photo_with_our_bytes_and_the_text_as_caption(
    api: Api, telegram: TelegramBotAPI, settings: Settings
) -> None:
    thread_id = await _customer_thread(api, telegram)

    response = await send_files(
        api, thread_id, "Zo ziet het pakket eruit 📦", [("../../etc/pakket foto.jpg", JPEG, "image/jpeg")]
    )

    assert response.status_code == 202, response.text
    sent = response.json()
    [shown] = sent["attachments"]
    assert (shown["filename"], shown["content_type"], shown["size"]) == (
        "pakket foto.jpg",
        "image/jpeg",
        len(JPEG),
    )
    message = await wait_for_status(api.writer, sent["id"])
    assert message.delivery_status == "sent", message.delivery_error
    [call] = telegram.calls_to("sendPhoto")
    assert call.params["chat_id"] == str(CUSTOMER)
    assert call.params["caption"] == "Zo ziet het pakket eruit 📦"
    assert call.files["photo"].data == JPEG
    assert call.files["photo"].filename == "pakket foto.jpg"
    assert telegram.calls_to("sendMessage") == []
    assert message.external_id == "1001"
    [row] = await attachment_rows(api)
    assert row.status == "stored" and row.storage_key and row.message_id == sent["id"]
    assert [path.read_bytes() for path in stored_files(settings)] == [JPEG]
    [timeline_entry] = [m for m in await api.timeline(thread_id) if m["id"] == sent["id"]]
    assert [a["filename"] for a in timeline_entry["attachments"]] == ["pakket foto.jpg"]


async def test_a_pdf_goes_as_a_document_and_a_files_only_reply_has_no_text(
    api: Api, telegram: TelegramBotAPI
) -> None:
    thread_id = await _customer_thread(api, telegram)

    # Declared as a generic download: the bytes say PDF, and Telegram gets a document.
    response = await send_files(api, thread_id, "", [("factuur.pdf", PDF, "application/octet-stream")])

    assert response.status_code == 202, response.text
    assert response.json()["text"] == ""
    assert response.json()["attachments"][0]["content_type"] == "application/pdf"
    message = await wait_for_status(api.writer, response.json()["id"])
    assert message.delivery_status == "sent", message.delivery_error
    [call] = telegram.calls_to("sendDocument")
    assert call.files["document"].data == PDF
    assert call.files["document"].filename == "factuur.pdf"
    assert "caption" not in call.params
    assert telegram.calls_to("sendMessage") == [] and telegram.calls_to("sendPhoto") == []
    [thread] = (await api.get("/api/v1/threads"))["items"]
    assert thread["last_message_preview"] == "📎 factuur.pdf"


async def test_a_picture_telegram_refuses_as_a_photo_goes_as_a_document(
    api: Api, telegram: TelegramBotAPI
) -> None:
    thread_id = await _customer_thread(api, telegram)
    telegram.refuse("Bad Request: PHOTO_INVALID_DIMENSIONS")

    response = await send_files(api, thread_id, "Panorama", [("wide.jpg", JPEG, "image/jpeg")])

    message = await wait_for_status(api.writer, response.json()["id"])
    assert message.delivery_status == "sent", message.delivery_error
    assert [call.method for call in telegram.calls] == ["sendPhoto", "sendDocument"]
    [document] = telegram.calls_to("sendDocument")
    assert document.files["document"].data == JPEG and document.params["caption"] == "Panorama"


async def test_a_text_too_long_for_a_caption_goes_first_then_the_files(
    api: Api, telegram: TelegramBotAPI
) -> None:
    thread_id = await _customer_thread(api, telegram)
    text = "Uitleg. " * 200  # 1,600 characters: more than a caption holds

    response = await send_files(
        api, thread_id, text, [("a.jpg", JPEG, "image/jpeg"), ("b.pdf", PDF, "application/pdf")]
    )

    assert response.status_code == 202, response.text
    message = await wait_for_status(api.writer, response.json()["id"])
    assert message.delivery_status == "sent", message.delivery_error
    assert [call.method for call in telegram.calls] == ["sendMessage", "sendPhoto", "sendDocument"]
    assert telegram.calls[0].params["text"] == text
    assert all("caption" not in call.params for call in telegram.calls[1:])
    assert message.meta["sent_parts"] == ["1001", "1002", "1003"]


async def test_a_split_telegram_reply_that_fails_half_way_sends_only_the_rest_on_retry(
    api: Api, telegram: TelegramBotAPI
) -> None:
    thread_id = await _customer_thread(api, telegram)
    first, second = "a" * 3000, "b" * 1999
    telegram.answer_default()  # the first part goes through,
    telegram.fail(502, "Bad Gateway")  # the second meets a gateway error

    sent = await reply(api, thread_id, f"{first}\n{second}")  # 5,000 characters: two messages
    message = await wait_for_status(api.writer, sent["id"])

    assert message.delivery_status == "sent", message.delivery_error
    texts = [call.params["text"] for call in telegram.calls_to("sendMessage")]
    assert texts == [first, second, second]  # part 1 once; part 2 refused, then delivered once
    assert message.delivery_attempts == 2
    assert message.external_id == "1001"
    assert message.meta["sent_parts"] == ["1001", "1002"]


# -- Messenger -------------------------------------------------------------------------------------
async def test_a_file_goes_to_messenger_as_an_attachment_upload_after_the_text(
    api: Api, graph: GraphApi
) -> None:
    thread_id = await _customer_wrote(api, graph)

    response = await send_files(api, thread_id, "Your invoice:", [("invoice.pdf", PDF, "application/pdf")])

    assert response.status_code == 202, response.text
    message = await wait_for_status(api.writer, response.json()["id"])
    assert message.delivery_status == "sent", message.delivery_error
    text, upload = graph.sends
    assert text == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Your invoice:"},
    }
    assert upload["recipient"] == {"id": PSID}
    assert upload["messaging_type"] == "RESPONSE"
    assert upload["message"] == {"attachment": {"type": "file", "payload": {"is_reusable": False}}}
    assert upload["filedata"].data == PDF
    assert upload["filedata"].filename == "invoice.pdf"
    assert upload["filedata"].content_type == "application/pdf"
    assert graph.requests[1].headers["authorization"].startswith("Bearer ")
    assert message.external_id == "m_graph-2"


async def test_a_picture_after_24_hours_goes_as_an_image_with_the_human_agent_tag(
    api: Api, graph: GraphApi
) -> None:
    thread_id = await _customer_wrote(api, graph, hours_ago=30)

    response = await send_files(api, thread_id, "", [("photo.jpg", JPEG, "image/jpeg")])

    assert response.status_code == 202, response.text
    assert (await wait_for_status(api.writer, response.json()["id"])).delivery_status == "sent"
    [upload] = graph.sends
    assert (upload["messaging_type"], upload["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert upload["message"]["attachment"]["type"] == "image"
    assert upload["filedata"].data == JPEG


async def test_a_split_messenger_reply_that_fails_half_way_sends_only_the_rest_on_retry(
    api: Api, graph: GraphApi
) -> None:
    thread_id = await _customer_wrote(api, graph)
    text = " ".join(["parcel"] * 357)  # 2,499 characters: two messages
    graph.answer_default()
    graph.fail_next(2, "Service temporarily unavailable", status=503)

    sent = await reply(api, thread_id, text)
    message = await wait_for_status(api.writer, sent["id"])

    assert message.delivery_status == "sent", message.delivery_error
    first, second, again = (body["message"]["text"] for body in graph.sends)
    assert f"{first} {second}" == text
    assert again == second  # piece 1 once; piece 2 refused, then delivered once
    assert message.delivery_attempts == 2
    assert message.meta["sent_parts"] == ["m_graph-1", "m_graph-3"]
    assert message.external_id == "m_graph-3"


# -- refusals --------------------------------------------------------------------------------------
async def test_a_file_over_the_cap_is_refused_with_a_reason_and_nothing_is_stored(
    api: Api, telegram: TelegramBotAPI, settings: Settings
) -> None:
    thread_id = await _customer_thread(api, telegram)
    big = b"\xff\xd8\xff" + os.urandom(CAP)

    response = await send_files(
        api, thread_id, "Two photos", [("small.jpg", JPEG, "image/jpeg"), ("huge.jpg", big, "image/jpeg")]
    )

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/file-too-large")
    assert problem["detail"] == "huge.jpg is too large: a file may be at most 65,536 bytes."
    # Far over the cap: refused as it arrives, before any handler reads it.
    huger = await send_files(api, thread_id, "x", [("movie.mp4", os.urandom(CAP + 1_100_000), "video/mp4")])
    assert huger.status_code == 413, huger.text
    assert [m["text"] for m in await api.timeline(thread_id)] == ["Waar blijft mijn pakket?"]
    assert await attachment_rows(api) == []
    assert stored_files(settings) == []
    assert telegram.calls == []


async def test_files_on_the_api_channel_are_refused_up_front_with_the_reason(api: Api) -> None:
    async with CallbackServer() as receiver:
        channel = await api.add_api_channel(callback_url=receiver.url)
        thread_id = (await api.inbound(channel, "Send me the manual", contact_id="c-9"))["thread_id"]

        response = await send_files(api, thread_id, "Here it is", [("manual.pdf", PDF, "application/pdf")])

        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["type"].endswith("/channel-unavailable")
        assert problem["channel"] == "api"
        assert "API cannot carry files" in problem["detail"]
        assert await attachment_rows(api) == []
        # The text alone still goes.
        sent = await reply(api, thread_id, "Here it is")
        assert (await wait_for_status(api.writer, sent["id"])).delivery_status == "sent"
        assert [request.json()["text"] for request in receiver.requests] == ["Here it is"]


async def test_a_multipart_reply_is_validated_like_a_json_one(api: Api, telegram: TelegramBotAPI) -> None:
    thread_id = await _customer_thread(api, telegram)

    # An empty file input, as a browser sends one: a nameless, empty part.
    empty = await send_files(api, thread_id, "  ", [("", b"", "application/octet-stream")])
    nul = await send_files(api, thread_id, "a\x00b", [("a.jpg", JPEG, "image/jpeg")])

    assert empty.status_code == 422 and empty.json()["type"].endswith("/empty-text")
    assert nul.status_code == 400, nul.text
    assert await attachment_rows(api) == []


# -- the console's composer ----------------------------------------------------------------------------
def _htmx(page: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-CSRFToken": csrf_from(page)}


async def test_the_composer_uploads_files_and_the_timeline_shows_them(
    api: Api, agent_client: httpx.AsyncClient, telegram: TelegramBotAPI
) -> None:
    thread_id = await _customer_thread(api, telegram)
    page = (await agent_client.get(f"/threads/{thread_id}")).text
    assert 'hx-encoding="multipart/form-data"' in page and 'name="files"' in page

    response = await agent_client.post(
        f"/threads/{thread_id}/compose",
        data={"mode": "reply", "channel": "telegram", "text": "Hier is de foto"},
        files=[("files", ("doos.jpg", JPEG, "image/jpeg"))],
        headers=_htmx(page),
    )

    assert response.status_code == 202, response.text
    assert "doos.jpg" in response.text and "Hier is de foto" in response.text
    [call] = await telegram.wait_for_calls("sendPhoto", 1)
    assert call.files["photo"].data == JPEG and call.params["caption"] == "Hier is de foto"
    assert "doos.jpg" in (await agent_client.get(f"/threads/{thread_id}")).text


async def test_the_composer_refuses_a_file_over_the_cap_with_the_reason(
    api: Api, agent_client: httpx.AsyncClient, telegram: TelegramBotAPI, settings: Settings
) -> None:
    thread_id = await _customer_thread(api, telegram)
    page = (await agent_client.get(f"/threads/{thread_id}")).text
    headers = _htmx(page)
    form = {"mode": "reply", "channel": "telegram", "text": "Kijk maar"}

    refused = await agent_client.post(
        f"/threads/{thread_id}/compose",
        data=form,
        files=[("files", ("groot.jpg", b"\xff\xd8\xff" + os.urandom(CAP), "image/jpeg"))],
        headers=headers,
    )
    far_over = await agent_client.post(
        f"/threads/{thread_id}/compose",
        data=form,
        files=[("files", ("film.mp4", os.urandom(CAP + 1_100_000), "video/mp4"))],
        headers=headers,
    )

    assert refused.status_code == 422, refused.text
    assert 'id="composer-error"' in refused.text and "groot.jpg is too large" in refused.text
    assert ">Kijk maar</textarea>" in refused.text  # the agent's text is kept
    note = await agent_client.post(
        f"/threads/{thread_id}/compose",
        data={**form, "mode": "note"},
        files=[("files", ("doos.jpg", JPEG, "image/jpeg"))],
        headers=headers,
    )
    assert note.status_code == 422 and "An internal note cannot carry files" in note.text
    assert far_over.status_code == 413, far_over.text
    assert "too much to send at once" in far_over.text
    assert far_over.headers["HX-Retarget"] == "closest form"
    assert await attachment_rows(api) == []
    assert stored_files(settings) == []
    assert telegram.calls == []


async def test_the_message_row_keeps_every_part_id_of_a_reply_with_a_file(
    api: Api, telegram: TelegramBotAPI
) -> None:
    thread_id = await _customer_thread(api, telegram)
    response = await send_files(api, thread_id, "Foto", [("x.png", b"\x89PNG\r\n\x1a\n" + JPEG, "image/png")])
    await wait_for_status(api.writer, response.json()["id"])
    message = await message_row(api.writer, response.json()["id"])
    assert message.external_id == "1001"
    assert "sent_parts" not in message.meta  # one part: its id is the external id
    [call] = telegram.calls_to("sendPhoto")
    assert call.files["photo"].data.startswith(b"\x89PNG")
