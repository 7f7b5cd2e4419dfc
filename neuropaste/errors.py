"""One error type for bad user input, so the CLI can print one line and exit 2."""

from __future__ import annotations

import os


class InputError(Exception):
    """Bad input from the user: names the file, the record and what is wrong.

    The CLI prints ``str(err)`` on one line and exits with status 2.
    """

    def __init__(self, source: str | os.PathLike | None, message: str, record: str | None = None):
        self.source = None if source is None else os.fspath(source)
        self.record = record
        self.message = message
        parts = [p for p in (self.source, record) if p]
        text = ": ".join(parts + [message])
        super().__init__(" ".join(text.split()))  # always one line
