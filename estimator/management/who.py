"""Who runs a management command: the operating system's user, recorded with what it made."""

from __future__ import annotations

import getpass


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
