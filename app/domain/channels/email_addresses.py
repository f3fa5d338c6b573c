"""The addresses and ids our outgoing mail carries, so the customer's reply finds its way back.

- **Reply address** ``reply+<token>@<domain>``: the token names the thread and is signed with the
  instance's secret key (``t42-<16 hex>``), so nobody can aim mail at a thread by guessing its id.
  A token survives everything but a change of the secret key; a reply to an old token still
  lands by the sender's address.
- **Message-ID** ``<onethread.<message id>.<random>@<domain>>``: set when the reply is queued and
  stored as the message's ``external_id``, so a customer's ``In-Reply-To`` / ``References`` finds
  the message (and so its thread) even when their client dropped our reply address, and a bounce
  finds the message that bounced.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_TOKEN = re.compile(r"^t([1-9][0-9]{0,17})-([0-9a-f]{16})$")
_OUR_MESSAGE_ID = re.compile(r"^onethread\.([1-9][0-9]{0,17})\.[A-Za-z0-9_-]+@")


def _signature(secret_key: str, thread_id: int) -> str:
    digest = hmac.new(secret_key.encode(), f"email-reply:{thread_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def reply_token(secret_key: str, thread_id: int) -> str:
    return f"t{thread_id}-{_signature(secret_key, thread_id)}"


def thread_from_token(secret_key: str, token: str) -> int | None:
    """The thread a reply token names, or ``None`` for a token we did not sign."""
    found = _TOKEN.match(token.lower())
    if not found:
        return None
    thread_id = int(found.group(1))
    return thread_id if hmac.compare_digest(found.group(2), _signature(secret_key, thread_id)) else None


def reply_address(secret_key: str, thread_id: int, support_address: str) -> str:
    """``reply+<token>@`` on the support address's domain."""
    domain = support_address.rsplit("@", 1)[-1]
    return f"reply+{reply_token(secret_key, thread_id)}@{domain}"


def new_message_id(message_id: int, support_address: str) -> str:
    """A Message-ID for one of our messages (without the angle brackets)."""
    domain = support_address.rsplit("@", 1)[-1] or "onethread.invalid"
    return f"onethread.{message_id}.{secrets.token_urlsafe(9)}@{domain}"


def is_ours(message_id: str) -> bool:
    return _OUR_MESSAGE_ID.match(message_id) is not None
