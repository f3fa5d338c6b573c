"""The web chat widget's channel: visitors write through our own widget API, and read replies there.

Inbound: ``visitor_message`` turns what a visitor sent (text, the widget's ``client_id``, files)
into an ``InboundMessage``; the ``client_id`` is the dedupe key, so a send the widget retries after
a dropped connection is stored once. Outbound: ``WebchatAdapter`` has no platform to call; a reply
is already in the visitor's thread once stored, and their widget shows it from the event stream.
"""

from integrations.webchat.inbound import VisitorMessageError, visitor_message
from integrations.webchat.outbound import WebchatAdapter

__all__ = ["VisitorMessageError", "WebchatAdapter", "visitor_message"]
