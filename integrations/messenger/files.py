"""Fetch a file a customer sent on Messenger from the URL Meta gave with the message.

Meta's attachment URLs point at its CDN, are signed, and expire after a while (hours to days):
they need no page token, and the fetch job runs right after the message arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from integrations.files import FetchError, RemoteFile, http_download
from integrations.types import AccountConfig

URL_KEY = "url"
"""The key of an attachment's ``source`` that holds Meta's URL."""
FILE_HOSTS_KEY = "file_hosts"
"""Account setting: the hosts (and their subdomains) files are fetched from; Meta's by default."""
META_FILE_HOSTS = ("fbcdn.net", "fbsbx.com", "facebook.com", "fbcdn.com")


def allowed_file_host(account: AccountConfig) -> Callable[[str], bool]:
    """Whether a host is one of the account's file hosts (a host or a subdomain of one).

    A webhook's attachment URL is trusted only as far as the app secret that signed it; this keeps
    a forged one from pointing our fetcher at an internal address.
    """
    configured = account.config.get(FILE_HOSTS_KEY)
    hosts = (
        tuple(h.lower().strip(".") for h in configured if isinstance(h, str))
        if isinstance(configured, list)
        else META_FILE_HOSTS
    )

    def allowed(host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == h or host.endswith("." + h) for h in hosts)

    return allowed


class MessengerFiles:
    """Downloads Messenger attachments with httpx, following the CDN's redirects."""

    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 30.0) -> None:
        self._client = client or httpx.AsyncClient(timeout=timeout)

    @asynccontextmanager
    async def open(self, account: AccountConfig, source: Mapping[str, Any]) -> AsyncIterator[RemoteFile]:
        url = source.get(URL_KEY)
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise FetchError("Messenger gave no web address for this file", retryable=False)
        async with http_download(
            self._client, url, what="Messenger's file server", allowed_host=allowed_file_host(account)
        ) as remote:
            yield remote

    async def aclose(self) -> None:
        await self._client.aclose()
