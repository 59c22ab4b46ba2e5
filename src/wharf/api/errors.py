"""wharf's errors as the Engine API answers them: one function, over the closed set in
``wharf.errors`` only (as moby's httpstatus.FromError). No other error type is checked here:
anything else reaching the edge is a bug, answered 500 and logged with its traceback."""

from __future__ import annotations

from wharf import errors

# most specific first: TooLarge is an InvalidArgument, StartError a FailedPrecondition
_STATUS: tuple[tuple[type[errors.WharfError], int], ...] = (
    (errors.NotModified, 304),
    (errors.TooLarge, 413),
    (errors.NotFound, 404),
    (errors.AlreadyExists, 409),
    (errors.Conflict, 409),
    (errors.InvalidArgument, 400),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.Unavailable, 503),
    (errors.Unsupported, 501),
)


def status_of(exc: errors.WharfError) -> int:
    """The HTTP status dockerd answers for this kind of error."""
    if isinstance(exc, errors.StartError):
        # dockerd: a missing or non-executable command is the client's mistake
        return 400 if exc.exit_code in (126, 127) else 500
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500
