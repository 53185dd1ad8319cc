"""Ctrl-C and SIGTERM during training: a polite request to stop, then a clean exit.

Signals and exit statuses belong to the command line; training itself only
sees a plain bool (:class:`digitnet.hooks.StopOnRequest` polls this object).
"""

from __future__ import annotations

import os
import signal

from .fileio import interrupt_when_written


class StopRequests:
    """Turns SIGINT and SIGTERM into a polite request to stop training.

    The first signal lets the current step finish, then training saves a
    checkpoint and stops; a second Ctrl-C stops at once (files are written
    atomically, so even that leaves nothing half-written).
    """

    def __init__(self, say):
        self.signal_number = 0   # the signal that asked to stop (0: none), for the exit status
        self.say = say

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signal_number, frame):
        if self.signal_number and signal_number == signal.SIGINT:
            interrupt_when_written()     # KeyboardInterrupt, once a file being written is whole
            return
        self.signal_number = signal_number
        self.say("digitnet: stopping after this step and saving a checkpoint "
                 "(Ctrl-C again to quit at once)")

    def __call__(self) -> bool:
        """Whether a stop was requested (polled by the StopOnRequest hook)."""
        return self.signal_number != 0

    def restore(self) -> None:
        """Back to Python's usual Ctrl-C (KeyboardInterrupt) once training is over."""
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def exit_on_next(self, status: int) -> None:
        """While exiting after an interrupt, a further signal just ends the process.

        Everything is already saved (atomically), so there is nothing to clean up.
        """
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: os._exit(status))
