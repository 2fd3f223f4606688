"""Exception types that the CLI turns into one clear message (no traceback)."""


class RealcamError(Exception):
    """Base class for user-facing errors: the message says what is wrong and what to do."""


class InputError(RealcamError, ValueError):
    """A file or argument the user gave is malformed; the message names the file, field and problem."""


class WeightsMissingError(RealcamError, FileNotFoundError):
    """Model weights are not present; the message names the command that fetches them."""


class CheckpointMismatchError(RealcamError, KeyError):
    """A checkpoint does not match the model: missing, unexpected or mis-shaped keys, grouped by module."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""
