"""The error types every layer raises, each with a stable code and exit status."""

from __future__ import annotations

# Exit statuses that scripts can rely on (documented in git-gt(1) and docs/json.md).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4


class GtError(Exception):
    """A failure to report to the user as one line; nothing was changed."""

    code = "failure"
    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def line(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class UsageError(GtError):
    code = "usage"
    exit_code = EXIT_USAGE


class NotFound(GtError):
    code = "not_found"
    exit_code = EXIT_NOT_FOUND


class Conflict(GtError):
    """The request is valid but the current state refuses it (claimed, cycle, ...)."""

    code = "conflict"
    exit_code = EXIT_CONFLICT


class NotInitialized(GtError):
    code = "not_initialized"
    exit_code = EXIT_FAILURE


class GitFailed(GtError):
    code = "git_failed"
    exit_code = EXIT_FAILURE


class ConcurrentUpdate(GtError):
    """A ref moved under us between read and compare-and-swap."""

    code = "concurrent_update"
    exit_code = EXIT_FAILURE


class Refused(GtError):
    """A remote's data was refused (malformed, unsupported, unrelated); nothing changed."""

    code = "refused"
    exit_code = EXIT_FAILURE
