"""How often anyone may try a password: per client address and per account, at both doors.

The token endpoint and the console's login form share these counters, so two doors do not double
an attacker's budget. Per address stops one machine guessing many accounts; per account stops a
botnet (many addresses) guessing one. Every attempt counts, right or wrong, and is counted before
the password is checked, so an attacker learns nothing from attempts past the limit; the real user
is let in again once the window (``ONETHREAD_LOGIN_RATE_WINDOW`` seconds) has passed.

The address is the connection's peer as uvicorn reports it: ``X-Forwarded-For`` is believed only
from ``ONETHREAD_FORWARDED_ALLOW_IPS`` (uvicorn applies it), never read here, so an attacker cannot
name a fresh address in a header for each guess (Litestar's own rate limiter reads that header
from anyone).
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection

from app.domain.system.services import Services
from app.lib.rate_limits import Limit

_TOO_MANY = "too many login attempts: wait until Retry-After has passed and try again"


async def check_login_attempt(
    services: Services, connection: ASGIConnection[Any, Any, Any, Any], email: str
) -> None:
    """Count one attempt; ``RateLimitedError`` (429, ``Retry-After``) once either count is over."""
    settings = services.settings
    limit = Limit(settings.login_rate_limit_per_minute, settings.login_rate_window_seconds)
    address = connection.client.host if connection.client else "unknown"
    await services.limiter.check(f"login:ip:{address}", limit, _TOO_MANY)
    await services.limiter.check(f"login:account:{email.strip().lower()[:320]}", limit, _TOO_MANY)
