"""A Messenger customer's name, asked of Meta once (issue 4: "profile name fetched once").

Messenger webhooks carry a PSID and no name. When a message comes from a PSID whose identity has no
display name yet, the webhook asks for a background job (:meth:`MessengerProfiles.request`); the
job calls the User Profile API (``integrations.messenger.profile``) with the page's token and hands
the answer to ``do_apply_identity_profile``: the identity's display name, the contact's name if
the contact has none (an agent's edit stays), a ``contact.updated`` event.

Every outcome is recorded on the identity (``attributes["messenger_profile"]``): ``stored`` and
``refused`` (no permission, person unavailable: asking again gets the same answer) are final;
``failed`` (Graph down or rate limiting through every retry of one job) is asked again by a message
arriving after :data:`RETRY_FAILED_AFTER`. The webhook's check is one indexed read, skipped for
senders this process has seen settled (or checked in the last :data:`RECHECK_AFTER` seconds).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
from taskiq import AsyncBroker

from app.db.models import utcnow
from app.domain.channels.accounts import cached_account
from app.domain.channels.delivery import RetryPolicy
from app.domain.contacts.actions import do_apply_identity_profile
from app.domain.contacts.resolution import find_identity
from app.domain.realtime.writer import Writer
from integrations.messenger.inbound import CHANNEL
from integrations.messenger.profile import (
    ProfileRefusedError,
    ProfileUnavailableError,
    fetch_profile,
)

log = logging.getLogger(__name__)

PROFILE_TASK = "onethread.messenger_profile"
RECORD_KEY = "messenger_profile"
RETRY_FAILED_AFTER = timedelta(days=1)
ATTEMPTS = 3
"""Calls one job makes before recording ``failed`` (with the delivery policy's backoff between)."""
RECHECK_AFTER = 60.0
"""Seconds a process answers "asked already" for a sender from memory, before reading the identity
again: a lookup under way, or Graph down, then costs nothing per message."""
CACHE_SIZE = 10_000

Pause = Callable[[float], Awaitable[bool]]


Wanted = Literal["now", "later", "never"]


def profile_wanted(display_name: str | None, attributes: dict[str, Any] | None, now: datetime) -> Wanted:
    """Whether an identity is to be looked up: ``now`` (no name, no answer yet, or a failure a day
    old), ``later`` (a recent failure), ``never`` (named, or Meta's answer was final)."""
    if display_name:
        return "never"
    record = (attributes or {}).get(RECORD_KEY)
    if not isinstance(record, dict):
        return "now"
    if record.get("status") != "failed":
        return "never"
    try:
        at = datetime.fromisoformat(str(record.get("at")))
    except ValueError:
        return "now"
    return "now" if now - at >= RETRY_FAILED_AFTER else "later"


class MessengerProfiles:
    """Enqueues profile lookups (webhook side) and runs them (worker side), through taskiq."""

    def __init__(
        self,
        broker: AsyncBroker,
        writer: Writer,
        policy: RetryPolicy,
        pause: Pause,
        *,
        attempts: int = ATTEMPTS,
        timeout: float = 10.0,
    ) -> None:
        self.writer = writer
        self.policy = policy
        self.pause = pause
        self.attempts = attempts
        self.timeout = timeout
        self._quiet_until: OrderedDict[str, float] = OrderedDict()
        """Senders not to check again before a ``time.monotonic()`` (``inf``: settled for good)."""
        self._running: set[str] = set()

        async def lookup(account_id: str, sender_external_id: str) -> str:
            return await self.run(account_id, sender_external_id)

        self._task = broker.register_task(lookup, task_name=PROFILE_TASK)

    def _quiet(self, sender: str, seconds: float = math.inf) -> None:
        self._quiet_until[sender] = time.monotonic() + seconds
        self._quiet_until.move_to_end(sender)
        while len(self._quiet_until) > CACHE_SIZE:
            self._quiet_until.popitem(last=False)

    async def request(self, account_id: str, sender_external_id: str) -> None:
        """Enqueue a lookup if the sender's identity still wants one. Never raises: the messages are
        stored already, and a name is not worth a failed webhook (Meta would resend the batch)."""
        if self._quiet_until.get(sender_external_id, 0.0) > time.monotonic():
            return
        self._quiet(sender_external_id, RECHECK_AFTER)
        try:
            wanted = await self._wanted(sender_external_id)
            if wanted == "now":
                await self._task.kiq(account_id, sender_external_id)
            elif wanted == "never":
                self._quiet(sender_external_id)
        except Exception:
            log.exception("could not ask for the Messenger profile of a customer of account %s", account_id)

    async def _wanted(self, sender_external_id: str) -> Wanted:
        async with self.writer.sessionmaker() as session:
            identity = await find_identity(session, CHANNEL, sender_external_id)
            if identity is None:
                return "later"
            return profile_wanted(identity.display_name, identity.attributes, utcnow())

    async def run(self, account_id: str, sender_external_id: str) -> str:
        """The job: look the person up and record the outcome (``stored``, ``refused``, ``failed``,
        or ``skipped`` when there is nothing to do)."""
        if sender_external_id in self._running:
            return "skipped"  # a lookup for this person is under way in this process
        self._running.add(sender_external_id)
        try:
            return await self._run(account_id, sender_external_id)
        finally:
            self._running.discard(sender_external_id)

    async def _run(self, account_id: str, sender_external_id: str) -> str:
        if await self._wanted(sender_external_id) != "now":
            return "skipped"
        account = await cached_account(self.writer, account_id)
        token = account.secrets.get("page_token") if account is not None else None
        if account is None or account.channel != CHANNEL or not token:
            return "skipped"  # disabled, or no token yet: the next message asks again
        psid = sender_external_id.rpartition(":")[2]
        graph_url = account.config.get("graph_url")
        attempt = 0
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while True:
                attempt += 1
                try:
                    profile = await fetch_profile(
                        client, graph_url=str(graph_url) if graph_url else None, token=token, psid=psid
                    )
                except ProfileRefusedError as refused:
                    record = {"status": "refused", "reason": refused.reason, "code": refused.code}
                    return await self._record(sender_external_id, record, attempt, None)
                except ProfileUnavailableError as unavailable:
                    if attempt >= self.attempts:
                        record = {"status": "failed", "reason": unavailable.reason}
                        return await self._record(sender_external_id, record, attempt, None)
                    log.info(
                        "Messenger profile lookup for account %s: %s; retrying",
                        account_id,
                        unavailable.reason,
                    )
                    if not await self.pause(self.policy.delay(attempt)):
                        return "skipped"  # shutting down: a later message asks again
                    continue
                return await self._record(sender_external_id, {"status": "stored"}, attempt, profile.name)

    async def _record(
        self, sender_external_id: str, record: dict[str, Any], attempts: int, name: str | None
    ) -> str:
        status = str(record["status"])
        record = {**record, "at": utcnow().isoformat(), "attempts": attempts}
        await do_apply_identity_profile(
            self.writer,
            channel=CHANNEL,
            external_id=sender_external_id,
            record_key=RECORD_KEY,
            record=record,
            name=name,
        )
        if status != "failed":
            self._quiet(sender_external_id)
        if status != "stored":
            log.info("Messenger profile lookup %s after %d call(s): %s", status, attempts, record["reason"])
        return status
