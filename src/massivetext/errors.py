"""The few exceptions MassiveText raises for user errors.

Anything that is the user's doing (a missing file, a malformed record under ``strict``, a bad config) raises a
``MassiveTextError``; the command line prints its message on one line and exits with code 2. Any other exception
is a bug and keeps its traceback.
"""

from __future__ import annotations


class MassiveTextError(Exception):
    """Base class: a problem with the user's input, files or configuration."""


class MissingFileError(MassiveTextError, FileNotFoundError):
    """A path or glob pattern that matches nothing."""


class BadInputError(MassiveTextError, ValueError):
    """A malformed record; names the file and line (1-based) where it was found."""

    def __init__(self, reason: str, file: str | None = None, line: int | None = None):
        self.reason, self.file, self.line = reason, file, line
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(f"{where}{reason}")


class ConfigError(MassiveTextError, ValueError):
    """An unreadable config or recipe, an unknown option, or contradictory arguments."""
