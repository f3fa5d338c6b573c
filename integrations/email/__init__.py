"""The email channel: one parser for every way mail arrives, IMAP polling, the inbound SMTP server,
and the SMTP adapter that sends replies. Framework-free like every adapter.

Account settings (``channel_accounts``): ``config.address`` is the support address mail is sent
to and from; ``secrets`` hold ``smtp_url`` (outbound), ``imap_url`` (polling), ``inbound_token``
(the raw-MIME webhook's bearer token) and ``signing_secret`` (signs the ``reply+<token>@``
addresses; every account has one).
"""

from __future__ import annotations

CHANNEL = "email"
ADDRESS_KEY = "address"
SMTP_URL_KEY = "smtp_url"
IMAP_URL_KEY = "imap_url"
INBOUND_TOKEN_KEY = "inbound_token"  # noqa: S105 - the name of a secret, not one
REPLY_KEY = "signing_secret"
POLL_INTERVAL_KEY = "poll_interval"
IMAP_STATE_KEY = "imap_state"
"""Config: ``{"uidvalidity": int, "last_uid": int}`` of the last IMAP poll."""
