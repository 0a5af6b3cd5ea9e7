"""The error every room raises for bad data on disk."""


class DataError(ValueError):
    """A problem with a dataset on disk: the message names the file and line."""
