"""A local stand-in for a CDN (Meta's ``scontent…fbcdn.net``): serves bytes registered by the test.

    async with FileHost() as cdn:
        url = cdn.add("photo.jpg", jpeg_bytes, content_type="image/jpeg")
        cdn.answer_next(503)                     # the next request fails, the one after is served
        ...
        cdn.downloads                            # the paths requested so far

Unknown paths get ``404``; the query string is ignored (Meta's URLs carry signature parameters).
"""

from __future__ import annotations

from tests.fakes.callback_server import CallbackServer, RecordedRequest, Reply


class FileHost(CallbackServer):
    """Answers ``GET /cdn/<name>`` with the bytes added under that name."""

    def __init__(self) -> None:
        super().__init__(path="/cdn")
        self.files: dict[str, tuple[bytes, str]] = {}
        self.redirects: dict[str, str] = {}

    async def __aenter__(self) -> FileHost:
        await self.start()
        return self

    def add(self, name: str, data: bytes, *, content_type: str = "application/octet-stream") -> str:
        """Serve ``data`` at the returned URL (with a signature-like query, as Meta's URLs have)."""
        self.files[f"{self.path}/{name}"] = (data, content_type)
        return f"{self.url}/{name}?_nc_ad=z-m&oh=e44af5a4c973541e&oe=58ECF78B"

    def redirect(self, name: str, location: str) -> str:
        """A URL here that answers ``302`` to ``location``."""
        self.redirects[f"{self.path}/{name}"] = location
        return f"{self.url}/{name}"

    @property
    def downloads(self) -> list[str]:
        return [request.path.split("?", 1)[0] for request in self.requests]

    def default_reply(self, request: RecordedRequest, number: int) -> Reply:
        path = request.path.split("?", 1)[0]
        if path in self.redirects:
            return Reply(302, {"Location": self.redirects[path]}, b"")
        found = self.files.get(path)
        if request.method != "GET" or found is None:
            return Reply(404, {"Content-Type": "text/plain"}, b"Not Found")
        data, content_type = found
        return Reply(200, {"Content-Type": content_type}, data)
