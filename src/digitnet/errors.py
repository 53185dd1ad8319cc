"""The exceptions digitnet raises for problems a user can fix.

Every user-facing failure (a bad file, a bad flag, a diverging run) is one of
these. The command line prints ``str(error)`` as a single line and exits with a
non-zero status; it never shows a traceback for them.
"""


class DigitnetError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class DataError(DigitnetError):
    """A dataset file is missing, corrupt, or not what it claims to be."""


class ModelFileError(DigitnetError):
    """A model file is missing, corrupt, or not a digitnet model."""


class ImageError(DigitnetError):
    """An image handed to ``predict`` cannot be read or holds no digit."""


class TrainingDiverged(DigitnetError):
    """The loss became NaN or infinite during training."""


class ConfigError(DigitnetError):
    """A configuration value is out of range or inconsistent."""


class TrainingInterrupted(DigitnetError):
    """Training was stopped by a signal after saving a checkpoint.

    Attributes
    ----------
    signal_number : int
        The signal that asked to stop (SIGINT or SIGTERM).
    checkpoint : str or None
        Where the state was saved.
    """

    def __init__(self, message: str, signal_number: int, checkpoint: str | None):
        super().__init__(message)
        self.signal_number = signal_number
        self.checkpoint = checkpoint


class CheckpointError(DigitnetError):
    """A checkpoint is missing, corrupt, or does not fit the run it should resume."""
