"""A delivery whose worker died mid-send (DESIGN.md "Failure behaviour"), on both shapes.

The state such a worker leaves is set up as the crash leaves it: the message ``queued`` with the
attempt's mark (``meta.sending_attempt``) that the claim commits before sending and the outcome
clears. The next delivery sends it again only where the receiver dedupes on our idempotency key;
elsewhere it records it ``sent``, unconfirmed, and sends nothing (the customer never sees a reply
twice). The multi-process version, with a real worker SIGKILLed under load, is in test_faults.
"""

from __future__ import annotations

import pytest
from sqlmodel import col, update

from app.db.models import Message
from app.domain.channels.delivery import SENDING, RetryPolicy, deliver_message
from app.domain.realtime.writer import Transaction
from integrations.registry import AdapterRegistry
from integrations.testing import RecordingAdapter
from tests.fakes.delivery import message_row, reply, wait_for_status
from tests.helpers import Api


@pytest.fixture
def registry() -> AdapterRegistry:
    return AdapterRegistry([RecordingAdapter("api")])


async def _left_mid_send(api: Api) -> int:
    """A reply whose delivery was claimed (attempt 1 marked) and never recorded."""
    channel = await api.add_api_channel()
    inbound = await api.inbound(channel, "Where is my order?", contact_id="cust-9")
    body = await reply(api, inbound["thread_id"], "It ships today.")
    await wait_for_status(api.writer, body["id"])

    async def crash(tx: Transaction) -> None:
        await tx.session.execute(
            update(Message)
            .where(col(Message.id) == body["id"])
            .values(delivery_status="queued", delivery_attempts=1, meta={SENDING: 1})
        )

    await api.writer.run(crash)
    return int(body["id"])


@pytest.mark.parametrize("idempotent", [False, True], ids=["no-idempotency-key", "idempotency-key"])
async def test_a_send_cut_off_by_a_dead_worker_never_reaches_the_customer_twice(
    api: Api, idempotent: bool
) -> None:
    message_id = await _left_mid_send(api)
    adapter = RecordingAdapter("api")
    adapter.idempotent_sends = idempotent  # type: ignore[misc]

    status = await deliver_message(api.writer, AdapterRegistry([adapter]), message_id, RetryPolicy())

    message = await message_row(api.writer, message_id)
    assert status == message.delivery_status == "sent"
    assert SENDING not in message.meta
    if idempotent:
        # The receiver dedupes on the key: sending again is how it is confirmed.
        [(_, again)] = adapter.sent
        assert again.idempotency_key == f"onethread-message-{message_id}"
        assert message.delivery_error is None
    else:
        assert adapter.sent == []
        assert (message.delivery_error or "").startswith("unconfirmed:")
