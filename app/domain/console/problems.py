"""What the console answers when it cannot serve a request: pages and form messages, not JSON.

The JSON API answers problem documents (``app.lib.problems``); an agent in a browser should
instead see a page in their language with a way back, and a form whose input the server refused
before any handler ran (too long, a NUL character) should say why on that form, keeping the text.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import NotFoundException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.response import Template

from app.domain.inbox.uploads import megabytes
from app.i18n import N_
from app.lib.errors import NotFoundError, Reason

_AT_MOST = re.compile(r"length <= (\d+)")
NOT_FOUND = N_("There is nothing at this address. It may have been merged or removed.")
BODY_TOO_LARGE = N_("This is too much to send at once: at most %(max)s. Send fewer or smaller files.")


def not_found_page(request: Request[Any, Any, Any], exc: NotFoundError | NotFoundException) -> Response[Any]:
    """A missing thread, contact or page: a page with the reason and a way back to the inbox."""
    reason = exc.reason if isinstance(exc, NotFoundError) else Reason(NOT_FOUND)
    return Template(
        template_name="pages/not_found.html",
        context={"agent": request.scope.get("user"), "reason": reason},
        status_code=404,
    )


def form_reason(exc: ValidationException) -> Reason:
    """The first thing wrong with a form, as an agent can act on it."""
    errors = exc.extra if isinstance(exc.extra, list) else []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    message = str(first.get("message") or exc.detail or "")
    field = str(first.get("key") or "")
    longest = _AT_MOST.search(message)
    if "regex" in message and "x00" in message:  # the NO_NUL pattern of app.lib.fields
        return Reason(
            N_(
                "%(field)s contains an invisible NUL character, which cannot be stored. Remove it and send again."
            ),
            {"field": field or "text"},
        )
    if longest:
        return Reason(
            N_("%(field)s is too long: at most %(max)s characters. Your text is kept; shorten it."),
            {"field": field or "text", "max": f"{int(longest.group(1)):,}"},
        )
    return Reason(N_("This form could not be read (%(detail)s)."), {"detail": message or field})


def too_large_form(request: Request[Any, Any, Any], exc: RequestEntityTooLarge) -> Response[Any]:
    """A form (a reply with files, mostly) larger than its route takes, refused as it arrived."""
    limit = request.route_handler.resolve_request_max_body_size() or 0
    return _form_problem(request, Reason(BODY_TOO_LARGE, {"max": megabytes(limit)}), 413)


def refused_form(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """A form the server refused before its handler ran.

    With HTMX the reason is put at the top of the form that was sent (``HX-Retarget: closest
    form``), replacing an earlier one, and nothing else on the page changes: what the agent typed
    stays. Without JavaScript a short page says why; the browser's Back button returns to the form.
    """
    return _form_problem(request, form_reason(exc), 422)


def _form_problem(request: Request[Any, Any, Any], reason: Reason, status_code: int) -> Response[Any]:
    if request.headers.get("hx-request"):
        return Template(
            template_name="partials/form_problem.html",
            context={"reason": reason},
            status_code=status_code,
            headers={"HX-Retarget": "closest form", "HX-Reswap": "afterbegin"},
        )
    return Template(
        template_name="pages/form_refused.html",
        context={"agent": request.scope.get("user"), "reason": reason},
        status_code=status_code,
    )


exception_handlers: dict[Any, Any] = {
    NotFoundError: not_found_page,
    NotFoundException: not_found_page,
    ValidationException: refused_form,
    RequestEntityTooLarge: too_large_form,
}
