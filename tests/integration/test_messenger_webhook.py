"""Messenger's webhook as Meta calls it: the handshake, signed batches, retries, on both shapes.

Every fixture in ``tests/fixtures/facebook`` is POSTed to the real route, signed over its exact
bytes with the account's app secret, and what an agent would see (the message in the customer's
thread, the customer's identity) is checked through the JSON API.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.channels.accounts import do_add_channel_account
from app.settings import Settings
from tests.fakes.callback_server import free_port
from tests.helpers import Api
from tests.integration.test_cli import run

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facebook"
APP_SECRET = "test_app_secret"
VERIFY_TOKEN = "meatyhamhock"
PAGE = "404217156637689"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_every_fixture_is_driven_through_our_code() -> None:
    """Each recorded payload is posted to the webhook route (here) or answered by / compared with
    the fake Graph server in the outbound tests; a new fixture without a test fails here."""
    tests = "".join(path.read_text() for path in Path(__file__).parent.glob("test_messenger_*.py"))
    payloads = {path.name for path in FIXTURES.iterdir() if path.name != "SOURCES.md"}
    assert {name for name in payloads if f'"{name}"' not in tests} == set()
    shared = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "facebook"
    if shared.is_dir():  # the research copy, where this checkout sits beside it
        assert {path.name for path in shared.iterdir()} <= payloads


def envelope(*names: str, page: str = PAGE) -> bytes:
    """Single ``messaging`` event fixtures inside a production envelope."""
    events = [json.loads(fixture(name)) for name in names]
    return json.dumps({"object": "page", "entry": [{"id": page, "time": 1, "messaging": events}]}).encode()


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def nobody_listens() -> str:
    """A Graph URL where nothing answers: the profile lookups a message starts fail fast, offline."""
    return f"http://127.0.0.1:{free_port()}/v21.0"


async def add_page(api: Api, graph_url: str | None = None) -> str:
    created = await do_add_channel_account(
        api.writer,
        channel="messenger",
        name="Shop page",
        config={"page_id": PAGE, "graph_url": graph_url or nobody_listens()},
        secrets={"page_token": "EAAB-page-token", "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    )
    return created.account.id


async def post(client: httpx.AsyncClient, account: str, body: bytes, **headers: str) -> httpx.Response:
    return await client.post(f"/webhooks/messenger/{account}", content=body, headers=headers or signed(body))


async def inbox(api: Api) -> list[dict[str, Any]]:
    return (await api.get("/api/v1/threads"))["items"]  # type: ignore[no-any-return]


async def messages(api: Api) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for thread in await inbox(api):
        found += await api.timeline(thread["id"])
    return [m for m in found if m["kind"] == "text"]


async def identities(api: Api) -> set[str]:
    ids: set[str] = set()
    for thread in await inbox(api):
        contact = await api.get(f"/api/v1/contacts/{thread['contact']['id']}")
        ids |= {f"{i['channel']} {i['external_id']}" for i in contact["identities"]}
    return ids


def assert_problem(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(f"/{slug}")


# ------------------------------------------------------------------------------------------------
# handshake
# ------------------------------------------------------------------------------------------------
async def test_handshake_echoes_the_challenge_for_the_right_verify_token(api: Api) -> None:
    account = await add_page(api)
    # The request of meta_docs_webhook_verification_request.http, against this account's URL.
    line = fixture("meta_docs_webhook_verification_request.http").decode().splitlines()[0]
    query = line.split("?", 1)[1]
    response = await api.client.get(f"/webhooks/messenger/{account}?{query}")
    assert response.status_code == 200, response.text
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "query",
    [
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong",
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhoc",
        "hub.mode=subscribe&hub.challenge=1158201444",
        "hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock",
        "hub.mode=subscribe&hub.verify_token=meatyhamhock",
    ],
)
async def test_handshake_is_refused_otherwise(api: Api, query: str) -> None:
    account = await add_page(api)
    response = await api.client.get(f"/webhooks/messenger/{account}?{query}")
    assert_problem(response, 403, "bad-verify-token")
    assert "1158201444" not in response.text


async def test_unknown_or_other_channel_accounts_are_404(api: Api) -> None:
    other = (await api.add_api_channel()).id
    query = "hub.mode=subscribe&hub.challenge=1&hub.verify_token=meatyhamhock"
    for account in ("not-a-uuid", "00000000-0000-4000-8000-000000000001", other):
        assert_problem(
            await api.client.get(f"/webhooks/messenger/{account}?{query}"), 404, "account-not-found"
        )
        body = fixture("webhook_page_single_text__bottender.json")
        assert_problem(await post(api.client, account, body), 404, "account-not-found")


# ------------------------------------------------------------------------------------------------
# events
# ------------------------------------------------------------------------------------------------
TEXT_FIXTURES = [
    # (fixture body, the text an agent sees, the customer's identity)
    (
        "webhook_page_single_text__bottender.json",
        "text",
        "messenger 1895382890692545:1412611362105802",
    ),
    (
        "webhook_page_message_text_non_ascii_with_nlp__corprio.json",
        "不",
        "messenger 206070979425408:24266381753005180",
    ),
]
EVENT_FIXTURES = [
    ("messaging_event_message_text__bottender.json", "Sharp tools make good work.", "1423587017700273"),
    ("messaging_event_message_image_attachment__bottender.json", "", "1423587017700273"),
    ("messaging_event_postback__bottender.json", "USER_DEFINED_PAYLOAD", "1423587017700273"),
    ("meta_docs_messaging_event_message_text_quick_reply.json", "hello, world!", "<PSID>"),
    ("meta_docs_messaging_event_message_reply_to.json", "hello, world!", "<PSID>"),
]


@pytest.mark.parametrize(("name", "text", "identity"), TEXT_FIXTURES)
async def test_page_bodies_land_in_the_customers_thread(
    api: Api, name: str, text: str, identity: str
) -> None:
    account = await add_page(api)
    response = await post(api.client, account, fixture(name))
    assert response.status_code == 200, response.text
    assert response.text == "EVENT_RECEIVED"
    (message,) = await messages(api)
    assert (message["text"], message["channel"], message["direction"]) == (text, "messenger", "in")
    assert await identities(api) == {identity}
    (thread,) = await inbox(api)
    assert thread["last_inbound_channel"] == "messenger"


@pytest.mark.parametrize(("name", "text", "psid"), EVENT_FIXTURES)
async def test_messaging_events_land_in_the_customers_thread(
    api: Api, name: str, text: str, psid: str
) -> None:
    account = await add_page(api)
    body = json.loads(fixture(name))
    page = body["recipient"]["id"]
    response = await post(api.client, account, envelope(name, page=page))
    assert response.status_code == 200, response.text
    (message,) = await messages(api)
    assert message["text"] == text
    assert await identities(api) == {f"messenger {page}:{psid}"}
    if "attachment" in name:
        (attachment,) = message["attachments"]
        assert attachment["url"].startswith("https://scontent.xx.fbcdn.net/")
        assert attachment["content_type"] == "image/jpeg"
    if "quick_reply" in name:
        assert message["meta"]["quick_reply_payload"] == "<DEVELOPER_DEFINED_PAYLOAD>"
    if "postback" in name:
        assert message["meta"]["postback_payload"] == "USER_DEFINED_PAYLOAD"


async def test_docs_entry_with_an_attachment(api: Api) -> None:
    account = await add_page(api)
    entry = json.loads(fixture("meta_docs_entry_message_attachment.json"))
    body = json.dumps({"object": "page", "entry": [entry]}).encode()
    assert (await post(api.client, account, body)).status_code == 200
    (message,) = await messages(api)
    assert message["text"] == "" and len(message["attachments"]) == 1
    assert await identities(api) == {"messenger <PAGE_ID>:<PSID>"}


@pytest.mark.parametrize(
    "body",
    [
        envelope("meta_docs_messaging_event_message_echo_text.json"),
        envelope("meta_docs_messaging_event_delivery.json", "meta_docs_messaging_event_read.json"),
        fixture("meta_docs_postback_test_notification_field_value.json"),
        fixture("meta_docs_graph_webhook_user_photos_changes.json"),
        fixture("meta_docs_send_api_response_success.json"),
        b"[]",
        b'{"object": "page", "entry": [{"id": "1", "messaging": [{"sender": {"id": "2"}}]}]}',
    ],
    ids=["echo", "delivery+read", "test-notification", "user-object", "send-response", "list", "empty-event"],
)
async def test_echoes_receipts_and_other_shapes_are_acknowledged_and_store_nothing(
    api: Api, body: bytes
) -> None:
    account = await add_page(api)
    response = await post(api.client, account, body)
    assert response.status_code == 200, response.text
    assert response.text == "EVENT_RECEIVED"
    assert await inbox(api) == []


async def test_a_batch_with_two_entries_stores_both_messages(api: Api) -> None:
    account = await add_page(api)
    body = fixture("webhook_page_batched_two_entries__bottender.json")
    assert (await post(api.client, account, body)).status_code == 200
    assert sorted(m["text"] for m in await messages(api)) == ["test 1", "test 2"]
    assert await identities(api) == {"messenger 1895382890692545:1412611362105802"}
    assert len(await inbox(api)) == 1  # one customer, one thread


async def test_a_long_text_is_kept_whole(api: Api) -> None:
    account = await add_page(api)
    text = "lang verhaal " * 800  # 10,400 characters
    event = {"sender": {"id": "77"}, "recipient": {"id": PAGE}, "timestamp": 1700000000000}
    body = json.dumps({"object": "page", "entry": [{"id": PAGE, "messaging": [
        {**event, "message": {"mid": "m_long", "text": text}}
    ]}]}).encode()  # fmt: skip
    assert (await post(api.client, account, body)).status_code == 200
    (message,) = await messages(api)
    assert message["text"] == text


async def test_nul_surrogates_and_odd_numbers_are_stored_or_dropped_never_a_500(api: Api) -> None:
    account = await add_page(api)
    base = {"sender": {"id": "77"}, "recipient": {"id": PAGE}, "timestamp": 10**400}
    events = [
        {**base, "message": {"mid": "m_odd", "text": "a\x00b\ud800c", "quick_reply": {"payload": "\x00"}}},
        {**base, "message": {"mid": "m_\x00", "text": "no storable id"}},
        {**base, "sender": {"id": "\udc00"}, "message": {"mid": "m_2", "text": "no storable sender"}},
    ]
    body = json.dumps({"object": "page", "entry": [{"id": PAGE, "messaging": events}]}).encode()
    response = await post(api.client, account, body)
    assert response.status_code == 200, response.text
    assert [m["text"] for m in await messages(api)] == ["ab\ufffdc"]
    deep = b"[" * 100_000
    assert_problem(await post(api.client, account, deep), 400, "invalid-webhook-body")


async def test_the_same_delivery_posted_20_times_at_once_is_one_message(api: Api) -> None:
    account = await add_page(api)
    body = fixture("webhook_page_message_text_non_ascii_with_nlp__corprio.json")
    responses = await asyncio.gather(*(post(api.client, account, body) for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20, [
        r.text for r in responses if r.status_code != 200
    ]
    assert [m["text"] for m in await messages(api)] == ["不"]
    # And a postback without a mid, retried, is one message too.
    postback = envelope("messaging_event_postback__bottender.json")
    await asyncio.gather(*(post(api.client, account, postback) for _ in range(5)))
    assert sorted(m["text"] for m in await messages(api)) == ["USER_DEFINED_PAYLOAD", "不"]


# ------------------------------------------------------------------------------------------------
# refusals
# ------------------------------------------------------------------------------------------------
async def test_the_channels_md_test_vector_is_accepted(api: Api) -> None:
    account = await add_page(api)
    body = fixture("webhook_page_message_text_non_ascii_with_nlp__corprio.json")
    header = "sha256=76e51763e141948cbc9940cfbe2b4af3f3e19f85068c31fdc3dcc1557ea69eea"
    response = await post(api.client, account, body, **{"X-Hub-Signature-256": header})
    assert response.status_code == 200, response.text


async def test_wrong_or_missing_signatures_are_403_and_store_nothing(api: Api) -> None:
    account = await add_page(api)
    body = fixture("webhook_page_message_text_non_ascii_with_nlp__corprio.json")
    reserialized = json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":")).encode()
    attempts = [
        signed(body, "wrong secret"),
        signed(body, VERIFY_TOKEN),  # the verify token is not the app secret
        {"X-Hub-Signature-256": "sha256="},
        {"X-Hub-Signature-256": signed(body)["X-Hub-Signature-256"][7:]},
        {"X-Hub-Signature": "sha1=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest()},
        {"Content-Type": "application/json"},
    ]
    for headers in attempts:
        assert_problem(await post(api.client, account, body, **headers), 403, "bad-signature")
    # Signed over the re-serialised JSON (the classic bug) while the raw body is sent: refused.
    assert_problem(await post(api.client, account, body, **signed(reserialized)), 403, "bad-signature")
    # A body changed after signing: refused.
    tampered = body.replace(b"\\u4e0d", b"\\u4e0e")
    assert_problem(await post(api.client, account, tampered, **signed(body)), 403, "bad-signature")
    assert await inbox(api) == []


async def test_truncated_json_is_400_with_a_reason(api: Api) -> None:
    account = await add_page(api)
    body = fixture("webhook_page_single_text__bottender.json")[:-20]
    response = await post(api.client, account, body)
    assert_problem(response, 400, "invalid-webhook-body")
    assert "not valid JSON" in response.json()["detail"]
    assert await inbox(api) == []


async def test_a_disabled_account_refuses_events(api: Api) -> None:
    from app.domain.channels.accounts import do_set_channel_account_enabled

    account = await add_page(api)
    await do_set_channel_account_enabled(api.writer, account_id=account, enabled=False)
    body = fixture("webhook_page_single_text__bottender.json")
    assert_problem(await post(api.client, account, body), 404, "account-not-found")


# ------------------------------------------------------------------------------------------------
# the operator's side
# ------------------------------------------------------------------------------------------------
async def test_an_account_added_with_the_cli_answers_meta(api: Api, settings: Settings) -> None:
    args = ["channel", "add", "messenger", "--name", "Shop", "--graph-url", nobody_listens()]
    args += ["--page-id", "206070979425408"]
    secrets = ["--page-token", "EAAB", "--app-secret", APP_SECRET, "--verify-token", VERIFY_TOKEN]
    result = await asyncio.to_thread(run, settings, *args, *secrets, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["webhook_url"].endswith(f"/webhooks/messenger/{out['id']}")
    assert APP_SECRET not in result.stdout and "EAAB" not in result.stdout
    query = "hub.mode=subscribe&hub.challenge=42&hub.verify_token=meatyhamhock"
    assert (await api.client.get(f"/webhooks/messenger/{out['id']}?{query}")).text == "42"
    body = fixture("webhook_page_message_text_non_ascii_with_nlp__corprio.json")
    assert (await post(api.client, out["id"], body)).status_code == 200
    assert [m["text"] for m in await messages(api)] == ["不"]
    bad = await asyncio.to_thread(run, settings, *args[:-1], "my-page", *secrets)
    assert bad.returncode == 2 and "--page-id" in bad.stderr
