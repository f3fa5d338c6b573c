"""How much one visitor, and one client address, may ask of the widget API.

Generous for a person (a message every second in a burst, polling every few seconds), tight for a
script: 50 sends a second from one token is refused after the tenth. Counted per token and per
address, so neither many tabs nor many tokens from one machine get around it.
"""

from __future__ import annotations

from app.domain.system.services import Services
from app.domain.widget.tokens import VisitorToken
from app.lib.rate_limits import Limit

SEND_PER_VISITOR = Limit(10, 10)
SEND_PER_ADDRESS = Limit(120, 60)
READ_PER_VISITOR = Limit(120, 60)
READ_PER_ADDRESS = Limit(1200, 60)
SESSIONS_PER_ADDRESS = Limit(60, 60)
SOCKETS_PER_VISITOR = Limit(30, 60)

_SLOW_DOWN = "too many messages at once: wait a few seconds and send again"


async def check_send(services: Services, token: VisitorToken, address: str) -> None:
    await services.limiter.check(f"widget:send:{token.external_id}", SEND_PER_VISITOR, _SLOW_DOWN)
    await services.limiter.check(f"widget:send-ip:{address}", SEND_PER_ADDRESS, _SLOW_DOWN)


async def check_read(services: Services, token: VisitorToken, address: str) -> None:
    await services.limiter.check(
        f"widget:read:{token.external_id}", READ_PER_VISITOR, "too many requests: poll less often"
    )
    await services.limiter.check(
        f"widget:read-ip:{address}", READ_PER_ADDRESS, "too many requests: poll less often"
    )


async def check_session(services: Services, address: str) -> None:
    await services.limiter.check(
        f"widget:session-ip:{address}", SESSIONS_PER_ADDRESS, "too many new chat sessions from this address"
    )


async def check_socket(services: Services, token: VisitorToken) -> None:
    await services.limiter.check(
        f"widget:socket:{token.external_id}", SOCKETS_PER_VISITOR, "reconnecting too often"
    )
