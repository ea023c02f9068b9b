"""Errors a user can fix: the `lgs` command prints their message, one sentence, not a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake or a situation the user can fix (a missing file, a wrong layout, a bad option
    value, a service that is not running). The message is one sentence that names the thing
    and the fix; `lgs` prints it as ``error: <message>`` and exits non-zero, with the
    traceback only under ``--debug`` or ``LGS_DEBUG=1``."""
