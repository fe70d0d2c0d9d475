"""The one error type data loading raises: its message names the fix."""


class DataError(RuntimeError):
    """Data is missing or unreachable; the message says how to get it."""
