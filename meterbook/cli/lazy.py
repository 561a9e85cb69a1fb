"""Command groups whose commands live in modules loaded on first use.

``meterbook import iolog`` should not pay for loading the web server, the reports and the demo:
a group knows which module defines each of its commands and imports it only when the command
runs or the help lists it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyGroup(click.Group):
    """A group with commands defined elsewhere: ``lazy`` maps a command name to the module
    of ``meterbook.cli`` that defines it, in the module's ``COMMANDS`` or by registering
    itself on this group when imported."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module = importlib.import_module(f"meterbook.cli.{self.lazy[cmd_name]}")
            for command in getattr(module, "COMMANDS", ()):
                self.commands.setdefault(command.name or "", command)
        return self.commands.get(cmd_name)
