"""The floor of the console benchmark: the least a Litestar app does to answer with a rendered page.

One ``GET /floor`` handler renders a small Jinja template (fifty rows of static data, autoescaped,
no database, no session). ``bench/console.py`` calls it in-process through the same ASGI harness
as the console's pages, and, with ``--serve``, through uvicorn with the settings ``onethread serve``
uses (``python -m uvicorn console_floor:create_app --factory --app-dir bench``).
"""

from __future__ import annotations

from typing import Any

from jinja2 import DictLoader, Environment, select_autoescape
from litestar import Litestar, get
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><main><h1>{{ title }}</h1>
<ul>{% for row in rows %}
<li id="row-{{ row.id }}"><a href="/threads/{{ row.id }}"><span>{{ row.name }}</span>
<span>{{ row.preview }}</span><time datetime="{{ row.at }}">{{ row.at }}</time></a></li>{% endfor %}
</ul></main></body></html>
"""
LAST_ROW = "Customer 49"
"""Text of the last row: the benchmark checks the page really was rendered."""

ROWS: list[dict[str, Any]] = [
    {
        "id": i,
        "name": f"Customer {i}",
        "preview": "Hello, my parcel has not arrived <yet>.",
        "at": "2026-11-30T08:00:00Z",
    }
    for i in range(50)
]


@get("/floor", sync_to_thread=False)
def page() -> Template:
    return Template(template_name="floor.html", context={"title": "Inbox", "rows": ROWS})


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    """The floor app (a factory, as ``onethread serve`` builds the real one)."""
    environment = Environment(loader=DictLoader({"floor.html": PAGE}), autoescape=select_autoescape())
    engine = JinjaTemplateEngine.from_environment(environment)
    return Litestar(
        route_handlers=[page, health],
        template_config=TemplateConfig(instance=engine),
        debug=False,
    )
