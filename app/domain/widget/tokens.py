"""Visitor tokens and signed attachment links: what the widget holds instead of a login.

A visitor token is ``base64url(JSON payload) "." base64url(HMAC-SHA256)`` under a key derived from
the instance's secret key. The payload names the site (the webchat account), the visitor's key on
it (``v:<random>`` for an anonymous browser, ``u:<user id>`` for a customer the site vouched for
with a valid ``user_hash``), the name and email the visitor gave, and when the token expires. It
grants exactly one thing: that visitor's conversation on that site. Nothing is stored server-side
for it, so any app process can check it, and a session call with a live token renews it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

TOKEN_TTL = timedelta(days=30)
"""A returning visitor continues their conversation for a month after their last visit."""
ATTACHMENT_URL_TTL = timedelta(days=1)
MAX_TOKEN_CHARS = 2048
_TOKEN_LABEL = b"onethread/widget-visitor/v1"
_FILE_LABEL = b"onethread/widget-file/v1"


@lru_cache(maxsize=16)
def _key(secret_key: str, label: bytes) -> bytes:
    # Keys of their own: a visitor token's MAC can never pass as a session cookie or a deep link.
    # Derived once per (secret, label), not on every widget request; keyed by the secret itself,
    # so a new secret key derives new keys.
    if not secret_key:
        raise ValueError("widget tokens need the instance's secret key")
    return hmac.new(secret_key.encode(), label, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_visitor_key() -> str:
    """An anonymous browser's key: 128 random bits nobody can guess from another visitor's."""
    return "v:" + secrets.token_urlsafe(16)


def user_visitor_key(user_id: str) -> str:
    return "u:" + user_id


@dataclass(frozen=True, slots=True)
class VisitorToken:
    """Who a widget request is from. ``external_id`` is their webchat identity's key."""

    site: str
    key: str
    expires: datetime
    name: str | None = None
    email: str | None = None

    @property
    def verified(self) -> bool:
        """The site's server vouched for this visitor (a valid ``user_hash``)."""
        return self.key.startswith("u:")

    @property
    def external_id(self) -> str:
        return f"{self.site}:{self.key}"


def sign_visitor_token(secret_key: str, token: VisitorToken) -> str:
    payload: dict[str, str | int] = {"s": token.site, "k": token.key, "e": int(token.expires.timestamp())}
    if token.name:
        payload["n"] = token.name
    if token.email:
        payload["m"] = token.email
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    mac = hmac.new(_key(secret_key, _TOKEN_LABEL), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def read_visitor_token(secret_key: str, text: str, *, now: datetime | None = None) -> VisitorToken | None:
    """The visitor a genuine, unexpired token names; ``None`` for anything else."""
    if not text or len(text) > MAX_TOKEN_CHARS or text.count(".") != 1:
        return None
    body_part, mac_part = text.split(".")
    try:
        body, mac = _unb64(body_part), _unb64(mac_part)
    except (binascii.Error, ValueError):
        return None
    expected = hmac.new(_key(secret_key, _TOKEN_LABEL), body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        payload = json.loads(body)
        token = VisitorToken(
            site=str(payload["s"]),
            key=str(payload["k"]),
            expires=datetime.fromtimestamp(int(payload["e"]), UTC),
            name=payload.get("n"),
            email=payload.get("m"),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if token.expires <= (now or datetime.now(UTC)):
        return None
    return token


def user_hash(identity_secret: str, user_id: str) -> str:
    """What the site's server computes for a signed-in user: hex HMAC-SHA256(secret, user_id)."""
    return hmac.new(identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def user_hash_matches(identity_secret: str, user_id: str, given: str) -> bool:
    return bool(identity_secret) and hmac.compare_digest(
        user_hash(identity_secret, user_id).encode(), given.strip().lower().encode()
    )


def _file_mac(secret_key: str, attachment_id: int, expires: int) -> str:
    message = f"{attachment_id}:{expires}".encode()
    return _b64(hmac.new(_key(secret_key, _FILE_LABEL), message, hashlib.sha256).digest()[:18])


def signed_attachment_query(secret_key: str, attachment_id: int, *, now: datetime | None = None) -> str:
    """``exp=…&sig=…`` for one file, valid for about a day.

    The expiry is rounded up to the next whole day, so a message's link stays the same all day and
    the browser's cache keeps the picture.
    """
    moment = now or datetime.now(UTC)
    day = 86_400
    expires = (int((moment + ATTACHMENT_URL_TTL).timestamp()) // day + 1) * day
    return f"exp={expires}&sig={_file_mac(secret_key, attachment_id, expires)}"


def attachment_signature_valid(
    secret_key: str, attachment_id: int, expires: int, signature: str, *, now: datetime | None = None
) -> bool:
    if expires <= int((now or datetime.now(UTC)).timestamp()):
        return False
    return hmac.compare_digest(_file_mac(secret_key, attachment_id, expires).encode(), signature.encode())
