"""The customer chat widget: the embed script, its iframe, visitor sessions, messages and socket."""
