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


class ExportError(DigitnetError):
    """A network cannot be written in another format (ONNX), or the exporter is missing."""


class WriteError(DigitnetError, OSError):
    """A file cannot be written (disk full, no permission, a folder in its way); its previous
    version is left as it was. Also an OSError, with the failure's ``errno`` and ``strerror``."""

    def __str__(self) -> str:
        return f"{self.filename}: cannot write ({self.strerror})"


class ImageError(DigitnetError):
    """An image handed to ``predict`` cannot be read or holds no digit."""


class TrainingDiverged(DigitnetError):
    """The loss became NaN or infinite during training."""


class ConfigError(DigitnetError, ValueError):
    """A configuration value is out of range or inconsistent."""


class InputError(DigitnetError, ValueError):
    """Arrays handed to the Python API have the wrong shape, dtype or values."""


class TrainingInterrupted(DigitnetError):
    """Training stopped because a stop was requested, after saving a checkpoint.

    Attributes
    ----------
    checkpoint : str or None
        Where the state was saved (None without a checkpoint path).
    model : Network or None
        The network as it was when training stopped, so it is not lost.
    """

    def __init__(self, message: str, checkpoint: str | None = None, model=None):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.model = model


class CheckpointError(DigitnetError):
    """A checkpoint is missing, corrupt, or does not fit the run it should resume."""
