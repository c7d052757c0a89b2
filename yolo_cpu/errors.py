"""User errors: bad input or params. A stage prints these as one line and exits 1; any other
exception is a bug in our code and keeps its traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input, params or environment that the user can fix; the message names what is at fault."""


class MissingInputError(UserError):
    """An input file that is missing or empty (usually: run the stage that makes it)."""


class Interrupted(UserError):
    """Ctrl-C during a command: what was done is kept (and said); the command exits 130."""
