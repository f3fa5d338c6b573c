"""Constraints shared by request bodies.

Text may not contain NUL: PostgreSQL refuses to store it, and the embedded shape must refuse the
same input the production shape does.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

NO_NUL = r"^[^\x00]*$"


def text(*, min_length: int = 0, max_length: int) -> msgspec.Meta:
    return msgspec.Meta(min_length=min_length, max_length=max_length, pattern=NO_NUL)


MessageText = Annotated[str, text(min_length=1, max_length=65_536)]
