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
"""

from __future__ import annotations

import json
from typing import Any

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
    """Records ``POST /v21.0/me/messages`` calls; answers with Meta's success or error bodies."""

    def __init__(self) -> None:
        super().__init__(path="/v21.0")

    @property
    def sends(self) -> list[dict[str, Any]]:
        """The parameters of every request received, in order (see ``send_body``)."""
        return [send_body(request) for request in self.requests]

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

    def default_reply(self, request: RecordedRequest, number: int) -> Reply:
        """Meta's success body for every send nothing was scripted for."""
        try:
            recipient = str(send_body(request)["recipient"]["id"])
        except (ValueError, KeyError, TypeError):
            recipient = ""
        body = {"recipient_id": recipient, "message_id": f"m_graph-{number}"}
        return Reply(200, {}, json.dumps(body).encode())
