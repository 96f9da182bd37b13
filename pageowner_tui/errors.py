"""Errors a user can act on.  The CLI prints ``str(error)`` as one line, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; ``exit_status`` is what the CLI exits with."""

    exit_status = 1


class FormatError(UserError):
    """A file that is not in the format we expected: names the file, line and expectation."""

    exit_status = 2

    def __init__(self, path: str, line: int | None, expected: str, found: str | None = None):
        self.path = path
        self.line = line
        self.expected = expected
        self.found = found
        where = f"{path}:{line}" if line is not None else path
        message = f"{where}: expected {expected}"
        if found is not None:
            shown = found if len(found) <= 60 else found[:57] + "..."
            message += f", found {shown!r}"
        super().__init__(message)


class TruncatedError(FormatError):
    """The last record of a file is incomplete (the file was cut short)."""


class OutputExistsError(UserError):
    exit_status = 1


class SourceUnavailable(UserError):
    """A live source cannot run here; the message says what is missing and what to do."""

    exit_status = 3


class Cancelled(Exception):
    """A long read was cancelled through its progress callback (not an error)."""
