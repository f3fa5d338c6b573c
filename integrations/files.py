"""Downloading a customer's file from the platform that holds it: what every channel's fetcher shares.

A fetcher turns an attachment's ``source`` (what inbound parsing recorded: a Telegram ``file_id``,
a Meta CDN URL) into a stream of bytes. The app decides where they go and how many it accepts; a
fetcher only says how big the platform claims the file is and whether a failure is worth retrying.
Fetchers are framework-free like every adapter: ``integrations`` imports nothing from ``app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from integrations.types import AccountConfig

MAX_REASON_CHARS = 200


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """An open download: the bytes as they arrive, and what the platform said about them."""

    chunks: AsyncIterator[bytes]
    size: int | None = None
    """The announced size (``Content-Length``, Telegram's ``file_size``); ``None`` when unknown."""
    content_type: str | None = None


class FetchError(Exception):
    """The file could not be fetched. ``reason`` is short and safe to show (no URL, no token).

    ``retryable`` marks transient trouble (timeouts, 5xx, rate limits); anything else (4xx, a file
    the platform no longer has, a revoked token) will not get better by asking again.
    """

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason[:MAX_REASON_CHARS]
        self.retryable = retryable
        self.retry_after = retry_after


class RemoteTooLargeError(Exception):
    """The platform itself refuses to hand the file over because of its size (Telegram's 20 MB)."""


class FileFetcher(Protocol):
    """Opens a download for an attachment of one channel."""

    def open(
        self, account: AccountConfig, source: Mapping[str, Any]
    ) -> AbstractAsyncContextManager[RemoteFile]: ...

    async def aclose(self) -> None: ...


MAX_REDIRECTS = 5


class HostNotAllowedError(Exception):
    """A download (or one of its redirects) points at a host the channel does not fetch from."""


@asynccontextmanager
async def http_download(
    client: httpx.AsyncClient,
    url: str,
    *,
    what: str,
    allowed_host: Callable[[str], bool] | None = None,
) -> AsyncIterator[RemoteFile]:
    """``GET url`` as a stream. Errors name ``what`` answered (never the URL, which may hold a token).

    With ``allowed_host``, the URL and every redirect must point at a host it accepts: a URL that
    came in a webhook must never make us fetch from our own network.
    """
    try:
        async with _open_stream(client, url, allowed_host) as response:
            status = response.status_code
            if status == 429 or status >= 500:
                raise FetchError(
                    f"{what} answered HTTP {status}", retryable=True, retry_after=_retry_after(response)
                )
            if status >= 300:
                raise FetchError(f"{what} answered HTTP {status}", retryable=False)
            yield RemoteFile(
                chunks=response.aiter_bytes(),
                size=_int_or_none(response.headers.get("content-length")),
                content_type=response.headers.get("content-type"),
            )
    except HostNotAllowedError:
        raise FetchError(
            f"the link to {what} points somewhere we do not fetch from", retryable=False
        ) from None
    except httpx.TimeoutException:
        raise FetchError(f"{what} timed out", retryable=True) from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        raise FetchError(f"the link to {what} is not a web address", retryable=False) from None
    except (httpx.TransportError, httpx.TooManyRedirects) as exc:
        raise FetchError(f"{what} could not be reached ({type(exc).__name__})", retryable=True) from None


@asynccontextmanager
async def _open_stream(
    client: httpx.AsyncClient, url: str, allowed_host: Callable[[str], bool] | None
) -> AsyncIterator[httpx.Response]:
    if allowed_host is None:
        async with client.stream("GET", url, follow_redirects=True) as response:
            yield response
        return
    for _ in range(MAX_REDIRECTS + 1):
        target = httpx.URL(url)
        if not allowed_host(target.host):
            raise HostNotAllowedError(target.host)
        async with client.stream("GET", target, follow_redirects=False) as response:
            location = response.headers.get("location")
            if response.is_redirect and location:
                url = str(target.join(location))
                continue
            yield response
            return
    raise httpx.TooManyRedirects("too many redirects")


def _int_or_none(value: str | None) -> int | None:
    if value is None or not (value.strip().isascii() and value.strip().isdigit()):
        return None
    return int(value.strip())


def _retry_after(response: httpx.Response) -> float | None:
    seconds = _int_or_none(response.headers.get("retry-after"))
    return float(seconds) if seconds is not None else None
