"""Canned responses: reply snippets every agent shares, inserted in the composer with ``/shortcut``."""
