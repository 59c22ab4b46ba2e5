"""The closed set of error classes every layer of wharf raises.

The tree::

    WharfError
    ├── NotFound            a named thing does not exist             (HTTP 404)
    ├── AlreadyExists       a thing with that name exists            (HTTP 409)
    ├── Conflict            the thing is in a state that forbids it  (HTTP 409)
    ├── NotModified         the thing is already in the asked state  (HTTP 304)
    ├── InvalidArgument     the caller's input is wrong              (HTTP 400)
    │   └── TooLarge        a request body over the limit            (HTTP 413)
    ├── Unauthorized        credentials missing or refused           (HTTP 401)
    ├── Forbidden           allowed in general, not on this thing    (HTTP 403)
    ├── FailedPrecondition  the system is not in a state to do it    (HTTP 500)
    │   ├── StartError      a container's process could not start    (HTTP 400 for 126/127)
    │   └── NoSpace         the disk under the data root is full     (HTTP 500, as dockerd)
    ├── Unavailable         a dependency cannot be reached now       (HTTP 503)
    └── Unsupported         wharf does not do this (yet)             (HTTP 501)

No module here knows about HTTP or exit codes: the API maps these once in ``api/errors.py``,
the CLIs once each (``cli/main.py``, ``runtime/cli.py``). Nothing else may be raised on
purpose: a new kind of failure is one of these, with a message. Messages carry the path or
value they are about and have no trailing period; where Docker's clients read a message
(the docker CLI, docker-py), it is Docker's wording. This module imports nothing, so the
runtime's fast path can use it.
"""


class WharfError(Exception):
    """Base of every error wharf raises on purpose."""


class NotFound(WharfError):
    pass


class AlreadyExists(WharfError):
    pass


class Conflict(WharfError):
    pass


class NotModified(WharfError):
    """The container is already in the asked state (started, stopped)."""


class InvalidArgument(WharfError):
    pass


class TooLarge(InvalidArgument):
    """A request body over the limit the server takes."""


class Unauthorized(WharfError):
    """A registry (or the token server it names) refused the credentials, or wants some."""


class Forbidden(WharfError):
    pass


class FailedPrecondition(WharfError):
    pass


class StartError(FailedPrecondition):
    """The container's process could not be started; ``exit_code`` is Docker's 126/127/128."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NoSpace(FailedPrecondition):
    """A write failed for want of space (ENOSPC, SQLite's "database or disk is full")."""


class Unavailable(WharfError):
    pass


class Unsupported(WharfError):
    pass
