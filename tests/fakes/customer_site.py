"""A company's own website on another origin, embedding the widget as the snippet says.

Served on ``http://localhost:<port>`` while OneThread runs on ``http://127.0.0.1:<port>``: another
site altogether for the browser (its own storage partition, cross-site frames and requests), as a
real shop on its own domain is. ``/`` is a page with the snippet; ``/account?user=ID&hash=H`` is the
same page with the shop's own code identifying its signed-in customer. The page's CSS is hostile on
purpose (global rules on buttons, iframes and fonts) so the widget proves it is unaffected.
"""

from __future__ import annotations

import html
import json
from types import TracebackType

from aiohttp import web

PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shop</title>
<style>
  * {{ font-family: "Comic Sans MS", cursive !important; }}
  button {{ background: red; border: 5px dashed lime; padding: 30px; }}
  iframe {{ border: 10px solid orange; opacity: .5; }}
  div {{ margin: 20px; }}
  body {{ background: #fffbe6; }}
</style>
{identify}
<script src="{widget}/widget.js" data-site="{site}" async></script>
</head><body><h1>Shop</h1><p>Socks and more.</p><button id="shop-button">Add to cart</button></body></html>
"""

IDENTIFY = """<script>
  window.OneThread = window.OneThread || {{q: []}};
  window.OneThread.q = window.OneThread.q || [];
  window.OneThread.q.push(["identify", {payload}]);
</script>"""


class CustomerSite:
    """``async with CustomerSite(widget_url, site_id) as shop: page.goto(shop.url)``."""

    def __init__(self, widget_url: str, site_id: str, *, lang: str = "en") -> None:
        self.widget_url = widget_url
        self.site_id = site_id
        self.lang = lang
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def origin(self) -> str:
        return self.url

    def _page(self, identify: str = "") -> web.Response:
        body = PAGE.format(
            lang=html.escape(self.lang),
            identify=identify,
            widget=self.widget_url,
            site=html.escape(self.site_id),
        )
        return web.Response(text=body, content_type="text/html")

    async def _home(self, _: web.Request) -> web.Response:
        return self._page()

    async def _account(self, request: web.Request) -> web.Response:
        payload = {
            "user_id": request.query.get("user", ""),
            "user_hash": request.query.get("hash", ""),
            "name": request.query.get("name", ""),
        }
        # JSON in a script block: escape "<" so no value can close the tag.
        data = json.dumps(payload).replace("<", "\\u003c")
        return self._page(IDENTIFY.format(payload=data))

    async def __aenter__(self) -> CustomerSite:
        app = web.Application()
        app.router.add_get("/", self._home)
        app.router.add_get("/account", self._account)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "localhost", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
