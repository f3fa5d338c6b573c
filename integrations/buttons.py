"""Reply buttons on an outbound message: what ``metadata["buttons"]`` holds, read defensively.

The bot stores ``meta["buttons"] = [{"label": str, "payload": str}, …]`` on a message; each channel
that can draw buttons (``Capabilities.buttons``) reads them here and shapes them its own way
(Telegram's inline keyboard, Messenger's quick replies, the widget's chips). A pressed button comes
back as an ordinary inbound message whose text is the label and whose
``metadata[BUTTON_PAYLOAD]`` is the payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BUTTONS = "buttons"
"""The outbound message ``meta`` key holding the buttons."""
BUTTON_PAYLOAD = "button_payload"
"""The inbound message ``metadata`` key holding the pressed button's payload."""


@dataclass(frozen=True, slots=True)
class Button:
    """One reply button: the words the customer sees, and what pressing it tells the bot."""

    label: str
    payload: str


def buttons_of(metadata: Mapping[str, Any]) -> list[Button]:
    """The message's buttons in order; entries without a non-empty label and payload are skipped
    (a malformed one must not stop the message's text from going out)."""
    raw = metadata.get(BUTTONS)
    if not isinstance(raw, list):
        return []
    found: list[Button] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        label, payload = item.get("label"), item.get("payload")
        if isinstance(label, str) and isinstance(payload, str) and label.strip() and payload:
            found.append(Button(label=label.strip(), payload=payload))
    return found
