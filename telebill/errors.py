"""The base of every failure that is explained to the user in one line (no traceback), and its
kinds, which the HTTP API turns into status codes (the CLI prints them all the same way)."""


class TelebillError(Exception):
    """A reason the user can act on; the CLI prints it as one line and exits non-zero, the API
    answers 400 with it."""


class NotFound(TelebillError):
    """The thing asked for does not exist (API: 404)."""


class Unavailable(TelebillError):
    """A service Telebill needs does not answer (API: 503); trying again later may work."""


class Busy(TelebillError):
    """Too many of these are under way; trying again shortly will work (API: 429)."""


class SchemaBehind(Unavailable):
    """The database's schema is older than the code; a process that may not migrate waits for
    `telebill db migrate` (run by the owner) as it would wait out an outage."""
