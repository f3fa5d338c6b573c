"""Webhook bodies for ``bench/webhooks.py``: recorded Telegram and Messenger payloads made unique.

Pure functions, no I/O beyond reading the fixtures once. Each generated body starts from a recorded
payload (``tests/fixtures/telegram``, ``tests/fixtures/facebook``: private text messages, a reply, a
quick reply, one with Meta's NLP block), and gets what differs between real deliveries: the
``update_id`` / ``mid``, the customer (one of ``contacts`` distinct ones, round-robin), the time,
and a text carrying the benchmark's marker (``loadgen.marker``), which is how its event is found
again on the agent websocket.

Times are the clock's when a message is first made (the platforms stamp when the customer sent it),
so each customer's messages come in time order, as in real traffic: OneThread's fast ingest path
takes only a message no older than its thread's last one. Message ``seq`` of a phase is remembered
with its time, so making it again gives the same bytes: a phase can post an update again exactly as
the platform retries it (same body, same signature). Messenger bodies are serialised the way Meta
sends them (compact, non-ASCII escaped as ``\\uXXXX``) and signed over exactly those bytes.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"

TELEGRAM_TEMPLATES = (
    "update_message_text_private__teloxide.json",
    "update_message_text_private_minimal__teloxide.json",
    "update_message_reply__telegram_docs.json",
)
"""Private-chat text updates (one a reply); the media ones would make the server fetch files."""
MESSENGER_TEMPLATES = (
    ("webhook_page_single_text__bottender.json", "envelope"),
    ("webhook_page_message_text_non_ascii_with_nlp__corprio.json", "envelope"),
    ("messaging_event_message_text__bottender.json", "event"),
    ("meta_docs_messaging_event_message_text_quick_reply.json", "event"),
    ("meta_docs_messaging_event_message_reply_to.json", "event"),
)
"""Text messages: a bare one, one with Meta's NLP block, one with ``seq``, a quick reply, a reply."""

TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MESSENGER_SIGNATURE_HEADER = "X-Hub-Signature-256"

TEXTS = (
    "Hello, my order {n} has not arrived yet, can you check?",
    "Hoi, ik heb bestelling {n} nog steeds niet ontvangen. Kunnen jullie even kijken?",
    "Guten Tag, die Lieferung {n} ist beschädigt angekommen - was nun?",
    "Bonjour, je voudrais changer l'adresse de livraison de la commande {n} 🙏",
    "您好, 订单 {n} 什么时候发货?",
    "Can I still return item {n}? It's been 20 days.",
)
FIRST_PSID = 7_100_000_000_000_000
"""The PSID of customer 0 of a page (customer ``n`` is ``FIRST_PSID + n``)."""
FIRST_NAMES = ("Anna", "Bram", "Chen", "Dana", "Émile", "Fatima", "Giulia", "Hiro", "Ingrid", "Jonas")

Headers = tuple[tuple[str, str], ...]


def load_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    return data


def telegram_templates(fixtures: Path = FIXTURES) -> list[dict[str, Any]]:
    return [load_json(fixtures / "telegram" / name) for name in TELEGRAM_TEMPLATES]


def messenger_templates(fixtures: Path = FIXTURES) -> list[dict[str, Any]]:
    """The messaging events of the Messenger templates (envelopes are unwrapped to their first event)."""
    events: list[dict[str, Any]] = []
    for name, kind in MESSENGER_TEMPLATES:
        data = load_json(fixtures / "facebook" / name)
        events.append(data["entry"][0]["messaging"][0] if kind == "envelope" else data)
    return events


def customer_text(seq: int, marker: str) -> str:
    return f"{TEXTS[seq % len(TEXTS)].format(n=10_000 + seq)} [{marker}]"


def customer_name(customer: int) -> str:
    return f"{FIRST_NAMES[customer % len(FIRST_NAMES)]} {customer}"


def telegram_update(
    template: dict[str, Any],
    *,
    update_id: int,
    message_id: int,
    user_id: int,
    first_name: str,
    date: int,
    text: str,
) -> dict[str, Any]:
    """``template`` (a private-chat message update) as sent by user ``user_id`` in their chat."""
    update = copy.deepcopy(template)
    update["update_id"] = update_id
    message = update["message"]
    user = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"}
    message["from"] = {**message.get("from", {}), **user}
    message["from"].pop("username", None)
    message["from"].pop("last_name", None)
    message["chat"] = {"id": user_id, "type": "private", "first_name": first_name}
    message["message_id"] = message_id
    message["date"] = date
    message["text"] = text
    reply = message.get("reply_to_message")
    if isinstance(reply, dict):  # the customer replies to something earlier in their own chat
        reply["chat"] = dict(message["chat"])
        reply["date"] = date - 60
        reply["message_id"] = max(1, message_id - 1)
    return update


def messenger_event(
    template: dict[str, Any], *, page_id: str, psid: str, mid: str, timestamp_ms: int, text: str
) -> dict[str, Any]:
    """``template`` (a messaging event with a text message) from customer ``psid`` to the page."""
    event = copy.deepcopy(template)
    event["sender"] = {"id": psid}
    event["recipient"] = {"id": page_id}
    event["timestamp"] = timestamp_ms
    message = event["message"]
    message["mid"] = mid
    message["text"] = text
    reply_to = message.get("reply_to")
    if isinstance(reply_to, dict):
        reply_to["mid"] = f"{mid}-prev"
    return event


def messenger_envelope(page_id: str, time_ms: int, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": page_id, "time": time_ms, "messaging": events}]}


def meta_json(payload: Any) -> bytes:
    """JSON as Meta sends it: compact, non-ASCII escaped (the signature is over these bytes)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()


def hub_signature(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends with ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Generated:
    """One webhook request and the ``external_id`` the inbox stores its message under."""

    body: bytes
    headers: Headers
    key: str


@dataclass(slots=True)
class TelegramStream:
    """Updates of one bot: message ``seq`` of phase ``phase`` (``update_id`` unique across phases)."""

    bot_id: str
    secret: str
    contacts: int
    templates: list[dict[str, Any]]
    clock: Callable[[], float] = time.time
    first_user_id: int = 500_000_000
    _made: dict[tuple[int, int], float] = field(default_factory=dict)

    def update_id(self, phase: int, seq: int) -> int:
        return 100_000_000 * (phase + 1) + seq

    def key(self, phase: int, seq: int) -> str:
        return f"{self.bot_id}:{self.update_id(phase, seq)}"

    def generate(self, phase: int, seq: int, marker: str) -> Generated:
        customer = seq % self.contacts if self.contacts > 0 else 1_000_000 * phase + seq
        update = telegram_update(
            self.templates[seq % len(self.templates)],
            update_id=self.update_id(phase, seq),
            message_id=1_000 + seq,
            user_id=self.first_user_id + customer,
            first_name=customer_name(customer),
            date=int(self._made.setdefault((phase, seq), self.clock())),
            text=customer_text(seq, marker),
        )
        body = json.dumps(update, separators=(",", ":"), ensure_ascii=False).encode()
        return Generated(body, ((TELEGRAM_SECRET_HEADER, self.secret),), self.key(phase, seq))


@dataclass(slots=True)
class MessengerStream:
    """Webhook batches of one page, one message each, signed with the app secret."""

    page_id: str
    app_secret: str
    contacts: int
    templates: list[dict[str, Any]]
    clock: Callable[[], float] = time.time
    first_psid: int = FIRST_PSID
    _made: dict[tuple[int, int], float] = field(default_factory=dict)

    def key(self, phase: int, seq: int) -> str:
        digest = hashlib.sha1(f"{self.page_id}:{phase}:{seq}".encode(), usedforsecurity=False).hexdigest()
        return f"m_{phase}x{seq}_{digest[:32]}"

    def generate(self, phase: int, seq: int, marker: str) -> Generated:
        customer = seq % self.contacts if self.contacts > 0 else 1_000_000 * phase + seq
        stamp = int(self._made.setdefault((phase, seq), self.clock()) * 1000)
        event = messenger_event(
            self.templates[seq % len(self.templates)],
            page_id=self.page_id,
            psid=str(self.first_psid + customer),
            mid=self.key(phase, seq),
            timestamp_ms=stamp,
            text=customer_text(seq, marker),
        )
        body = meta_json(messenger_envelope(self.page_id, stamp + 40, [event]))
        signature = hub_signature(self.app_secret, body)
        return Generated(body, ((MESSENGER_SIGNATURE_HEADER, signature),), self.key(phase, seq))


Stream = TelegramStream | MessengerStream
