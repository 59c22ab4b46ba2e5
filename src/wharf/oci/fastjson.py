"""JSON for the runtime's fast path, on CPython's C accelerator alone.

``import json`` costs ~9 ms here because its decoder and encoder import ``re`` (and with it
``enum``); ``wharf-runtime`` starts in the time budget of a Go binary, so it parses config.json
and writes state.json through ``_json`` directly. The results are identical to ``json.loads``
and compact ``json.dumps``; errors are ``ValueError`` with the position, like ``json``'s.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_WS = " \t\n\r"


def _not_allowed(name: str) -> float:
    raise ValueError(f"invalid JSON constant {name}")


class _Context:
    """The attributes ``_json.make_scanner`` reads from a JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_not_allowed)
    memo: dict[str, str] = {}


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]


def loads(text: str | bytes) -> Any:
    """Parse one JSON document; ``ValueError`` names the position of the first problem."""
    if isinstance(text, bytes):
        text = (text[3:] if text.startswith(b"\xef\xbb\xbf") else text).decode()
    idx = 0
    n = len(text)
    while idx < n and text[idx] in _WS:
        idx += 1
    try:
        value, end = _scan(text, idx)
    except (StopIteration, ValueError, SystemError):
        # the accelerator builds its error from json.decoder; on the error path only, let the
        # json module parse again for its message (line, column)
        return _slow_loads(text)
    while end < n and text[end] in _WS:
        end += 1
    if end != n:
        return _slow_loads(text)
    return value


def _slow_loads(text: str) -> Any:
    import json

    try:
        return json.loads(text, parse_constant=_not_allowed)
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None


def _default(obj: object) -> object:
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


_encode = _json.make_encoder(
    None, _default, _json.encode_basestring_ascii, None, ":", ",", False, False, False
)


def dumps(obj: Any) -> str:
    """Compact JSON, as ``json.dumps(obj, separators=(",", ":"))``."""
    return "".join(_encode(obj, 0))
