"""Meta's User Profile API: the name a person shows on Messenger, asked for by PSID.

``GET {graph_url}/{psid}?fields=first_name,last_name,profile_pic`` with the page's access token
(as an ``Authorization: Bearer`` header, like the Send API calls: never in a URL) answers::

    {"first_name": "Peter", "last_name": "Chang", "profile_pic": "https://…", "id": "<PSID>"}

Meta gives the name only when the app may see it (the page's permissions, the person's settings):
otherwise Graph answers with an error code. :func:`fetch_profile` sorts the answers the way the
caller must act on them: a :class:`Profile`, a :class:`ProfileRefusedError` (asking again gives the
same answer: record it and stop) or a :class:`ProfileUnavailableError` (5xx, a timeout, a rate
limit: try again later).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from integrations.messenger.outbound import DEFAULT_GRAPH_URL, RETRYABLE_CODES

FIELDS = "first_name,last_name,profile_pic"
MAX_NAME_CHARS = 200
MAX_URL_CHARS = 2000
MAX_REASON_CHARS = 300
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class ProfileRefusedError(Exception):
    """Graph will not give this person's profile (no permission, person unavailable, bad token)."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class ProfileUnavailableError(Exception):
    """Graph could not answer now (5xx, network, rate limit): the same request may succeed later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Profile:
    """What Meta said about a person; any field may be missing."""

    first_name: str = ""
    last_name: str = ""
    profile_pic: str = ""

    @property
    def name(self) -> str | None:
        """The full name as people read it, or ``None`` when Meta gave none."""
        full = " ".join(f"{self.first_name} {self.last_name}".split())
        return full[:MAX_NAME_CHARS] or None


async def fetch_profile(
    client: httpx.AsyncClient, *, graph_url: str | None, token: str, psid: str
) -> Profile:
    """Ask Graph for the profile of ``psid``; raise as the module docstring says."""
    url = f"{(graph_url or DEFAULT_GRAPH_URL).rstrip('/')}/{quote(psid, safe='')}"
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "OneThread"}
    try:
        response = await client.get(url, params={"fields": FIELDS}, headers=headers)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise ProfileRefusedError(f"the Graph URL cannot be used: {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise ProfileUnavailableError(f"Graph API unreachable: {type(exc).__name__}") from exc
    payload = _json(response)
    if response.is_success:
        return Profile(
            first_name=_field(payload, "first_name", MAX_NAME_CHARS),
            last_name=_field(payload, "last_name", MAX_NAME_CHARS),
            profile_pic=_field(payload, "profile_pic", MAX_URL_CHARS),
        )
    error = payload.get("error")
    if not isinstance(error, dict):
        error = {}
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    detail = " ".join(str(error.get("message") or "").split())[:MAX_REASON_CHARS]
    reason = f"Messenger answered {response.status_code}"
    if code is not None:
        reason += f" (code {code})"
    if detail:
        reason += f": {detail}"
    if response.status_code >= 500 or response.status_code == 429 or code in RETRYABLE_CODES:
        raise ProfileUnavailableError(reason)
    raise ProfileRefusedError(reason, code)


def _field(payload: dict[str, Any], name: str, limit: int) -> str:
    value = payload.get(name)
    return _UNSTORABLE.sub("", value).strip()[:limit] if isinstance(value, str) else ""


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
