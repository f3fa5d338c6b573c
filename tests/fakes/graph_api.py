"""A local stand-in for Meta's Send API: a real HTTP server on 127.0.0.1 answering like Graph.

Built on ``CallbackServer`` (same socket-level HTTP, same recording of every request's raw bytes),
with Graph's answers instead of the callback receiver's: ``{"recipient_id", "message_id"}`` for a
send, or Graph's error envelope when scripted with ``fail_next``::

    async with GraphApi() as graph:
        graph.fail_next(613, "Calls to this api have exceeded the rate limit.", status=400)
        ...  # the account's config: {"graph_url": graph.url}
        [request] = await graph.wait_for(1)
        request.json()["message"]["text"]

An attachment upload (``multipart/form-data``) is recorded the same way; ``sends`` gives its JSON
fields decoded and its ``filedata`` part (bytes, filename, type) as they arrived.

Quick replies are checked as Graph does (at most 13; ``content_type`` ``text`` needs a title of at
most 20 characters and a payload of at most 1,000): a send breaking a rule gets Graph's error 100
and is not delivered. ``quick_replies`` lists what each accepted send carried.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.callback_server import CallbackServer, RecordedRequest, Reply


def send_body(request: RecordedRequest) -> dict[str, Any]:
    """A send's parameters: the JSON body, or a multipart upload's fields (JSON ones decoded, the
    file as its ``FormPart``)."""
    if not request.is_multipart:
        body = request.json()
        return body if isinstance(body, dict) else {}
    fields: dict[str, Any] = {}
    for part in request.form_parts():
        if part.filename is not None:
            fields[part.name] = part
            continue
        try:
            fields[part.name] = json.loads(part.text)
        except ValueError:
            fields[part.name] = part.text
    return fields


class GraphApi(CallbackServer):
    """Records ``POST /v21.0/me/messages`` calls; answers with Meta's success or error bodies.

    The User Profile API, ``GET /v21.0/<PSID>?fields=…``, answers the profile given to ``add_profile``,
    the errors scripted with ``fail_profile``, else Graph's "does not exist or missing permissions"
    (code 100). Lookups are recorded apart, in ``profile_requests``, so the ones a customer's message
    starts in the background never shift what a Send API test counts or scripts::

        graph.add_profile("5550001112223334", first_name="Lena", last_name="Lind")
        graph.fail_profile("5550001112223334", 2, "Service temporarily unavailable", status=503)
        await graph.wait_for_profiles(2)
    """

    def __init__(self) -> None:
        super().__init__(path="/v21.0")
        self.profiles: dict[str, dict[str, Any]] = {}
        self.profile_requests: list[RecordedRequest] = []
        self._profile_script: defaultdict[str, deque[Reply]] = defaultdict(deque)

    @property
    def sends(self) -> list[dict[str, Any]]:
        """The parameters of every request received, in order (see ``send_body``)."""
        return [send_body(request) for request in self.requests]

    @property
    def quick_replies(self) -> list[list[tuple[str, str]]]:
        """The ``(title, payload)`` quick replies of every send, in order (``[]`` for one without)."""
        found = []
        for body in self.sends:
            message = body.get("message")
            chips = message.get("quick_replies") if isinstance(message, dict) else None
            found.append([(c.get("title", ""), c.get("payload", "")) for c in chips or []])
        return found

    def fail_next(
        self, code: int, message: str, *, status: int = 400, subcode: int | None = None, count: int = 1
    ) -> None:
        """The next ``count`` requests get Graph's error envelope with this code and HTTP status."""
        error: dict[str, Any] = {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "AbCdEfGhIjK",
        }
        if subcode is not None:
            error["error_subcode"] = subcode
        self.answer_next(status, count=count, body=json.dumps({"error": error}).encode())

    # -- the User Profile API ---------------------------------------------------------------------
    def add_profile(self, psid: str, **fields: Any) -> None:
        """What Graph knows about ``psid`` (``first_name``, ``last_name``, ``profile_pic``)."""
        self.profiles[psid] = {**fields, "id": psid}

    def fail_profile(
        self,
        psid: str,
        code: int,
        message: str,
        *,
        status: int = 400,
        subcode: int | None = None,
        count: int = 1,
    ) -> None:
        """The next ``count`` lookups of ``psid`` get this Graph error."""
        for _ in range(count):
            self._profile_script[psid].append(graph_error(code, message, status=status, subcode=subcode))

    async def wait_for_profiles(self, count: int, within: float = 10.0) -> list[RecordedRequest]:
        """Wait until at least ``count`` profile lookups arrived; return all of them."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.profile_requests) >= count)
        return list(self.profile_requests)

    def scripted_reply(self, request: RecordedRequest) -> Reply | None:
        psid = _profile_psid(request)
        if psid is None:
            return super().scripted_reply(request)
        script = self._profile_script.get(psid)
        return script.popleft() if script else None

    def recorded(self, request: RecordedRequest) -> list[RecordedRequest]:
        return self.profile_requests if _profile_psid(request) is not None else self.requests

    def _profile(self, request: RecordedRequest, psid: str) -> Reply:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return graph_error(190, "An active access token must be used to query information.")
        profile = self.profiles.get(psid)
        if profile is None:
            return graph_error(
                100,
                f"Unsupported get request. Object with ID '{psid}' does not exist, cannot be loaded "
                "due to missing permissions, or does not support this operation.",
                subcode=33,
            )
        fields = parse_qs(urlsplit(request.path).query).get("fields", [""])[0].split(",")
        body = {key: value for key, value in profile.items() if key in fields or key == "id"}
        return Reply(200, {}, json.dumps(body).encode())

    def default_reply(self, request: RecordedRequest, number: int) -> Reply:
        """Meta's success body for every send nothing was scripted for."""
        psid = _profile_psid(request)
        if psid is not None:
            return self._profile(request, psid)
        try:
            recipient = str(send_body(request)["recipient"]["id"])
        except (ValueError, KeyError, TypeError):
            recipient = ""
        refused = _quick_reply_error(send_body(request))
        if refused is not None:
            return refused
        body = {"recipient_id": recipient, "message_id": f"m_graph-{number}"}
        return Reply(200, {}, json.dumps(body).encode())


def _quick_reply_error(body: dict[str, Any]) -> Reply | None:
    """Graph's refusal of quick replies beyond its limits, else ``None``."""
    message = body.get("message")
    chips = message.get("quick_replies") if isinstance(message, dict) else None
    if chips is None:
        return None
    if not isinstance(chips, list) or not 1 <= len(chips) <= 13:
        return graph_error(100, "(#100) param message[quick_replies] must have between 1 and 13 elements")
    for chip in chips:
        title, payload = chip.get("title"), chip.get("payload")
        if chip.get("content_type") != "text" or not isinstance(title, str) or not isinstance(payload, str):
            return graph_error(100, "(#100) Invalid quick reply")
        if not title or len(title) > 20:
            return graph_error(
                100, "(#100) param message[quick_replies][title] must be at most 20 characters"
            )
        if not payload or len(payload) > 1000:
            return graph_error(
                100, "(#100) param message[quick_replies][payload] must be at most 1000 characters"
            )
    return None


def graph_error(code: int, message: str, *, status: int = 400, subcode: int | None = None) -> Reply:
    """Graph's error envelope (``{"error": {message, type, code, error_subcode?, fbtrace_id}}``)."""
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGhIjK",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return Reply(status, {}, json.dumps({"error": error}).encode())


def _profile_psid(request: RecordedRequest) -> str | None:
    """The PSID of a User Profile lookup (``GET /v21.0/<psid>``), else ``None``."""
    if request.method != "GET":
        return None
    path = urlsplit(request.path).path
    if not path.startswith("/v21.0/"):
        return None
    psid = unquote(path.removeprefix("/v21.0/"))
    return psid if psid and "/" not in psid else None
