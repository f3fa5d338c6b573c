"""``MessengerAdapter`` on its own: Meta's reply windows, splitting, and how Graph's answers are read.

Graph is played by ``httpx.MockTransport`` answering with the bodies the Send API documents.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from integrations.base import DeliveryContext, DeliveryError
from integrations.messenger import MessengerAdapter
from integrations.messenger.outbound import quick_replies, split_text
from integrations.types import AccountConfig, OutboundMessage

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ACCOUNT = AccountConfig(
    id="acc-1",
    channel="messenger",
    name="Shop page",
    config={"page_id": "404", "graph_url": "https://graph.test/v21.0/"},
    secrets={"page_token": "EAAB-secret"},
)


def context(hours_ago: float | None, *, person: bool = True) -> DeliveryContext:
    last = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    return DeliveryContext(now=NOW, last_inbound_at=last, sender_is_person=person)


@pytest.mark.parametrize(
    ("hours_ago", "person", "refused"),
    [
        (0, True, None),
        (23.9, False, None),
        (30, True, None),
        (30, False, "only a person may reply now"),
        (7 * 24 - 1, True, None),
        (7 * 24 + 1, True, "the customer has to write first"),
        (None, False, None),
    ],
)
def test_reply_windows(hours_ago: float | None, person: bool, refused: str | None) -> None:
    reason = MessengerAdapter().unavailable_reason(ACCOUNT, context(hours_ago, person=person))
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason


def test_a_page_without_token_cannot_reply() -> None:
    account = AccountConfig(id="a", channel="messenger", name="p", config={"page_id": "1"})
    assert "no page access token" in (MessengerAdapter().unavailable_reason(account, context(0)) or "")


def test_split_text_cuts_at_spaces_and_keeps_every_word() -> None:
    text = " ".join(f"w{i}" for i in range(1000))
    pieces = split_text(text, 100)
    assert all(0 < len(p) <= 100 for p in pieces)
    assert " ".join(pieces) == text
    assert split_text("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]
    assert split_text("short") == ["short"]


def _adapter(status: int, body: object, seen: list[httpx.Request]) -> MessengerAdapter:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=json.dumps(body).encode())

    return MessengerAdapter(httpx.AsyncClient(transport=httpx.MockTransport(answer)))


def _message(hours_ago: float | None = 1) -> OutboundMessage:
    last = None if hours_ago is None else datetime.now(UTC) - timedelta(hours=hours_ago)
    return OutboundMessage(
        message_id=1, thread_id=1, recipient_id="404:psid-9", text="Hi", last_inbound_at=last
    )


async def test_send_posts_to_the_configured_graph_url_with_a_bearer_token() -> None:
    seen: list[httpx.Request] = []
    adapter = _adapter(200, {"recipient_id": "psid-9", "message_id": "m_1"}, seen)
    result = await adapter.send(ACCOUNT, _message())
    assert result.external_id == "m_1"
    [request] = seen
    assert str(request.url) == "https://graph.test/v21.0/me/messages"
    assert request.headers["authorization"] == "Bearer EAAB-secret"
    assert json.loads(request.content) == {
        "recipient": {"id": "psid-9"},
        "message": {"text": "Hi"},
        "messaging_type": "RESPONSE",
    }


async def test_a_reply_that_waited_past_7_days_fails_without_a_call() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(DeliveryError) as caught:
        await _adapter(200, {}, seen).send(ACCOUNT, _message(hours_ago=8 * 24))
    assert not caught.value.retryable
    assert seen == []


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (400, 613, True),
        (400, 4, True),
        (500, 2, True),
        (503, None, True),
        (400, 10, False),
        (400, 100, False),
        (403, 200, False),
        (400, 551, False),
        (400, 190, False),
    ],
)
async def test_graph_errors_are_retryable_or_permanent(
    status: int, code: int | None, retryable: bool
) -> None:
    body: object = {"error": {"message": "(#x) Something", "type": "OAuthException", "code": code}}
    if code is None:
        body = "<html>Service Unavailable</html>"
    with pytest.raises(DeliveryError) as caught:
        await _adapter(status, body, []).send(ACCOUNT, _message())
    assert caught.value.retryable is retryable
    assert f"Messenger answered {status}" in caught.value.reason
    assert "EAAB-secret" not in caught.value.reason


async def test_network_errors_are_retryable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    adapter = MessengerAdapter(httpx.AsyncClient(transport=httpx.MockTransport(refuse)))
    with pytest.raises(DeliveryError) as caught:
        await adapter.send(ACCOUNT, _message())
    assert caught.value.retryable


def test_buttons_become_text_quick_replies_within_metas_limits() -> None:
    buttons = [
        {"label": "Levertijd", "payload": "bot:rule:delivery-time"},
        {"label": "Een medewerker spreken, graag", "payload": "bot:person"},
        {"label": "Te lang", "payload": "x" * 1001},
        *({"label": f"Optie {n}", "payload": f"p{n}"} for n in range(20)),
    ]
    message = OutboundMessage(
        message_id=3, thread_id=1, recipient_id="404:55", text="Kies", metadata={"buttons": buttons}
    )
    chips = quick_replies(message)
    assert chips[:2] == [
        {"content_type": "text", "title": "Levertijd", "payload": "bot:rule:delivery-time"},
        {"content_type": "text", "title": "Een medewerker spre…", "payload": "bot:person"},
    ]
    assert len(chips[1]["title"]) == 20
    assert "x" * 1001 not in [c["payload"] for c in chips]  # left out, not cut
    assert len(chips) == 13 and chips[-1]["payload"] == "p10"


def test_a_reply_without_buttons_has_no_quick_replies() -> None:
    assert quick_replies(OutboundMessage(message_id=3, thread_id=1, recipient_id="404:55", text="Hoi")) == []
