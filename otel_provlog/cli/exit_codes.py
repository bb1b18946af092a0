"""The exit codes of every ``provlog`` command, as the public contract fixes them."""

from __future__ import annotations

from typing import Final

import click

__all__ = [
    "EXIT_BAD_USAGE",
    "EXIT_FAILED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_UNREACHABLE",
    "CommandError",
]

EXIT_OK: Final = 0
"""Success."""
EXIT_FAILED: Final = 1
"""The command, the operation or a step failed (the message says why)."""
EXIT_BAD_USAGE: Final = 2
"""Bad usage: an unknown option, a malformed value."""
EXIT_TIMEOUT: Final = 3
"""A time limit given to the command ran out."""
EXIT_NOT_FOUND: Final = 4
"""What was asked for does not exist (or belongs to another tenant)."""
EXIT_UNREACHABLE: Final = 5
"""The API or the database could not be reached."""


class CommandError(click.ClickException):
    """A command's failure: one line on stderr and the exit code the contract gives it."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it per instance
