"""The errors a run ends with one ``error:`` line for; each message names the fix. And the exit status of a run
stopped on a signal, which the trainer, the CLI and the queue share."""

INTERRUPTED_EXIT = 75  # EX_TEMPFAIL: checkpointed after SIGTERM/SIGUSR1; rerun (requeue) to resume


class ConfigError(ValueError):
    """A config value that cannot work."""


class DataError(RuntimeError):
    """Data is missing or unreachable; the message says how to get it."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read, with no readable one beside it."""


USER_ERRORS = (ConfigError, DataError, CheckpointError)
