"""Detach keys: the key sequence (``ctrl-p,ctrl-q`` by default) that leaves an attached
terminal without stopping what runs in it, as Docker parses and watches for it."""

from __future__ import annotations

DEFAULT = b"\x10\x11"  # ctrl-p ctrl-q


def parse(spec: str | None) -> bytes:
    """Docker's notation ("ctrl-p,ctrl-q", "a,ctrl-@") as the bytes typed; ValueError if bad."""
    if spec is None:
        return DEFAULT
    out = bytearray()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("ctrl-") and len(part) == 6:
            ch = part[5]
            if ch == "@":
                out.append(0)
            elif ch.isalpha():
                out.append(ord(ch.lower()) - ord("a") + 1)
            elif ch in "[\\]^_":
                out.append(ord(ch) - 64)
            else:
                raise ValueError(spec)
        elif len(part) == 1:
            out += part.encode()
        else:
            raise ValueError(spec)
    return bytes(out)


class Watch:
    """Input on its way to a terminal, watched for the keys: ``feed`` returns what may go on and
    whether the keys were typed; a prefix of them is held back until the next bytes tell."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.pending = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.keys:
            return data, False
        buf = self.pending + data
        idx = buf.find(self.keys)
        if idx >= 0:
            self.pending = b""
            return buf[:idx], True
        keep = 0
        for n in range(len(self.keys) - 1, 0, -1):
            if buf.endswith(self.keys[:n]):
                keep = n
                break
        self.pending = buf[len(buf) - keep :]
        return buf[: len(buf) - keep], False
