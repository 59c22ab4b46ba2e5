"""Go's encoding/json words, for the errors wharf answers as dockerd does (the API's body
decoder, a seccomp profile's)."""

from __future__ import annotations

from typing import Any


def json_kind(v: Any) -> str:
    """The JSON kind Go names in its messages."""
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, list):
        return "array"
    if v is None:
        return "null"
    return "object"
