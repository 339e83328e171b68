"""Why a stage stops: one line a person can act on.

A stage that cannot do its job on the data it was given (too little history, no purchases in the
test window, no features to train on, ...) raises :class:`StageStop` instead of letting
a library fail deep inside. Its message is one line: what the stage needs, and what the data has.
``stoffwechsel run-notebook`` prints it as ``error: stage 'NAME' stopped: MESSAGE`` and exits 1.
"""

from __future__ import annotations


class StageStop(Exception):
    """A stage cannot do its job on this data; ``str(exc)`` says what is needed and what is there."""

    def __init__(self, message: str) -> None:
        message = " ".join(str(message).split())  # always one line
        super().__init__(message)
