"""User mistakes and unreachable services end in one clear line, never a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console

from telebill.errors import TelebillError

err_console = Console(stderr=True)


class UserError(TelebillError):
    """A mistake the user can fix; printed as one line, exit code 1."""


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)
