"""Errors the command line turns into a one-line message and an exit code."""


class UserError(Exception):
    """Unusable input or configuration: shown as one line, exit code `exit_code` (default 2)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
