"""The error every room raises for bad data on disk (an expected failure: exit status 1)."""

from errors import ExpectedError


class DataError(ExpectedError, ValueError):
    """A problem with a dataset on disk: the message names the file and line."""
