"""What every console form handler shares: how bodies are read and which routes skip the session."""

from __future__ import annotations

from litestar.enums import RequestEncodingType
from litestar.params import Body

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
"""``Annotated[SomeForm, FORM]``: an HTML form post (HTMX posts the same encoding)."""

PUBLIC = {"exclude_from_auth": True}
"""``opt=PUBLIC``: answers without a console session (the login form itself)."""
