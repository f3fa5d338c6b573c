"""The key that encrypts channel credentials at rest.

``EncryptedText`` asks for its key on every use through ``encryption_key``, so the key comes from the
running process's settings (set once by ``app.core``) rather than from import-time state.
"""

from __future__ import annotations

_key: str | None = None


def set_encryption_key(key: str) -> None:
    global _key
    if not key:
        raise ValueError("the secret key must not be empty")
    _key = key


def encryption_key() -> str:
    if _key is None:
        raise RuntimeError("encryption key not configured: app.core.configure() was not called")
    return _key
