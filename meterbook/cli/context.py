"""What every command shares: the global options, settings and the store, opened on demand."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import click

from meterbook.settings import Settings, load_settings
from meterbook.store.core import Store, open_store


@dataclass
class AppContext:
    config: Path | None = None
    database_url: str | None = None
    verbose: int = 0
    _settings: Settings | None = field(default=None, repr=False)
    _store: Store | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config, database_url=self.database_url)
            level = self._settings.log_level
            if self.verbose:
                level = "DEBUG" if self.verbose > 1 else "INFO"
            logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
        return self._settings

    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings())
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.engine.dispose()
            self._store = None


pass_app = click.make_pass_decorator(AppContext)
F = TypeVar("F", bound=Callable[..., None])


def stacked(*options: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying ``options`` in the order they are written (as listed in help)."""

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate
