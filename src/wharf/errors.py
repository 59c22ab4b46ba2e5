"""The closed set of error classes every layer of wharf raises.

The tree::

    WharfError
    ├── NotFound            a named thing does not exist          (HTTP 404)
    ├── AlreadyExists       a thing with that name exists         (HTTP 409)
    ├── Conflict            the thing is in a state that forbids it (HTTP 409)
    ├── InvalidArgument     the caller's input is wrong            (HTTP 400)
    ├── Forbidden           allowed in general, not on this thing  (HTTP 403)
    ├── FailedPrecondition  the system is not in a state to do it  (HTTP 412/500)
    ├── Unavailable         a dependency cannot be reached now     (HTTP 503)
    └── Unsupported         wharf does not do this (yet)           (HTTP 501)

No module here knows about HTTP or exit codes: the API maps these once in ``api/errors.py``,
the CLIs once each in their ``main``. Messages are lower-case, carry the path or value they are
about, and have no trailing period. This module imports nothing, so the runtime's fast path can
use it.
"""


class WharfError(Exception):
    """Base of every error wharf raises on purpose."""


class NotFound(WharfError):
    pass


class AlreadyExists(WharfError):
    pass


class Conflict(WharfError):
    pass


class InvalidArgument(WharfError):
    pass


class Forbidden(WharfError):
    pass


class FailedPrecondition(WharfError):
    pass


class Unavailable(WharfError):
    pass


class Unsupported(WharfError):
    pass
