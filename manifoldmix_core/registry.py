"""THE shape of every registry of named records (methods, dataset sources, model families): a dict in registration
order that config validation, the runner and the app list, with one way to add a record and one way to ask for one."""

from __future__ import annotations

from typing import Generic, TypeVar

from .errors import ConfigError

Record = TypeVar("Record")


class Registry(dict[str, Record], Generic[Record]):
    """Records by their `name`; `where` is the config key that names one, for the error an unknown name gets."""

    def __init__(self, where: str):
        super().__init__()
        self.where = where

    def register(self, record: Record) -> Record:
        """Make a record available under its name (the last registration of a name wins, so a test may replace one)."""
        self[record.name] = record
        return record

    def named(self, name: str, where: str | None = None) -> Record:
        """The record of that name, or a ConfigError naming the key and the known names."""
        if name not in self:
            raise ConfigError(f"{where or self.where} must be one of {tuple(self)}, got {name!r}")
        return self[name]
