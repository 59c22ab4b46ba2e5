"""Neutral helpers below every layer of wharf: times, sizes and durations, signals, atomic
writes, SQLite stores, capability names.

Each module imports only the standard library (``re`` and ``sqlite3`` inside the functions or
modules that need them), so the OCI runtime's fast path can use them as well as the daemon
and the CLI. Nothing here knows about Docker's objects; wording that is Docker's lives with
the callers."""
