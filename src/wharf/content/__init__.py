"""Content-addressable blob store (see ``local.py`` for the on-disk lifecycle)."""

from wharf.content.local import LocalContentStore, Writer

__all__ = ["LocalContentStore", "Writer"]
