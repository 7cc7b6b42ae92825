"""Errors the user can act on: each message names the file, parameter or setting at fault."""


class ManifoldMixError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""


class IngredientError(ManifoldMixError):
    """An ingredient checkpoint is unreadable, unsafe, corrupt or does not match the others."""

    def __init__(self, path, detail: str, param: str | None = None):
        self.path, self.param, self.detail = str(path), param, detail
        where = f"{self.path}" + (f" (parameter '{param}')" if param else "")
        super().__init__(f"{where}: {detail}")


class PartitionError(ManifoldMixError):
    """A partition does not cover every parameter exactly once, or names unknown ones."""


class DatasetError(ManifoldMixError):
    """A dataset folder or tensor file is missing, empty, corrupt or inconsistent with the model."""


class ConfigError(ManifoldMixError):
    """A run configuration has an unknown key, a wrong type or an absurd value."""


class ResumeError(ManifoldMixError):
    """A run directory cannot be resumed (missing config, or its inputs changed since)."""


class EventError(ManifoldMixError):
    """A line of events.jsonl is not a valid event (a known type with missing or mistyped fields)."""


class Cancelled(ManifoldMixError):
    """The user asked the run to stop (CANCEL file); the run directory stays resumable."""


class ClaimError(ManifoldMixError):
    """Another live process is writing the run directory (its claim names it)."""


class PathError(ManifoldMixError):
    """A path taken from data (a run id, a sweep member, a file or folder name) is not a plain name or leads outside its root."""


class DamagedFile(ManifoldMixError):
    """A file read back from disk is not what the project writes there: unreadable, not UTF-8 JSON, too deep or mis-shaped."""


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM asked the worker to stop; like KeyboardInterrupt, no `except Exception` swallows it."""

    def __init__(self, signal_name: str):
        self.signal_name = signal_name
        super().__init__(f"stopped by {signal_name}")



class RunWarning(UserWarning):
    """Something legal but probably unintended (the CLI prints it as 'warning: ...')."""
