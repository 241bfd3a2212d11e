"""The one error type for what a user typed or passed wrong.

`genzoo` prints a `UserInputError`'s message and exits without a traceback; any other exception is a bug and
keeps its traceback. It is a `ValueError`, so Python callers can catch it as one.
"""


class UserInputError(ValueError):
    """A value given by the user (a flag, a dataset, a model option, a pipeline argument) cannot work; the
    message says what was wrong and what would work."""


class TrainingDiverged(UserInputError):
    """The loss (or the weights) became NaN or infinite: the run stops, keeps its last good checkpoint and saves no
    pipeline. The message names the step and the value, and what to try."""


class MissingPackage(UserInputError):
    """A system package (not a Python one) that a feature needs is not installed, e.g. espeak-ng for the embedded
    `speech` set; the message names the package and how to install it. Tests skip on it."""
