"""One-time notices across a redirect ("Contact #3 erased (anonymized)."): a flash in the session.

A handler that redirects after doing something the agent cannot see on the next page calls
:func:`flash`; the next full page the agent opens shows it once (``layout.html`` calls
:func:`take_notice`) and it is gone. It lives in the server-side session, not the address, so a
reload or a shared link never repeats it and nobody can make the console claim something happened.
The text is a :class:`Reason` (a template marked with ``N_`` and plain string values), translated
when shown, in the reader's language.
"""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

from app.lib.errors import Reason

NOTICE_KEY = "notice"


def flash(request: Any, reason: Reason) -> None:
    """Show ``reason`` on the next page this session renders."""
    request.session[NOTICE_KEY] = {
        "template": reason.template,
        "values": {name: str(value) for name, value in reason.values.items()},
    }


@pass_context
def take_notice(context: Context) -> Reason | None:
    """The pending notice, removed from the session (``None`` without one, or without a session)."""
    request = context.get("request")
    session = request.scope.get("session") if request is not None else None
    if not isinstance(session, dict) or NOTICE_KEY not in session:
        return None
    stored = session.pop(NOTICE_KEY)
    if not isinstance(stored, dict) or not isinstance(stored.get("template"), str):
        return None
    values = stored.get("values")
    return Reason(stored["template"], {str(k): str(v) for k, v in (values or {}).items()})
