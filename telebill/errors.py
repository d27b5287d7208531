"""The base of every failure that is explained to the user in one line (no traceback)."""


class TelebillError(Exception):
    """A reason the user can act on; the CLI prints it as one line and exits non-zero."""
