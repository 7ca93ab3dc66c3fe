"""The one error type every layer raises for unusable input or configuration."""

from __future__ import annotations


class UserError(Exception):
    """Unusable input or configuration: shown as one line, exit code `exit_code` (default 2).

    The message names what is wrong and where (a key path such as
    ``detections.ip_allowlist[1].cidrs[0]``, a file, a flag) and, where it helps, what to do.
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
