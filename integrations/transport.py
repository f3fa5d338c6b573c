"""What a failed HTTP call to a platform tells about whether the platform acted on it."""

from __future__ import annotations

import httpx

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before a byte of the request left: sending again cannot duplicate."""


def may_have_arrived(exc: BaseException) -> bool:
    """Whether a failed platform call may have been carried out all the same.

    ``exc`` is httpx's transport error or one raised from it (python-telegram-bot raises
    ``TimedOut``/``NetworkError`` from httpx's). A read or write timeout or a connection dropped
    mid-request may have reached the platform; errors that prove the request never left (no
    connection made, no free connection in the pool) are safe to send again, and so is an answer
    the platform did give (a 5xx: no transport error behind it), which refused the call.
    """
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, _NEVER_SENT):
            return False
        if isinstance(cause, httpx.TransportError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
