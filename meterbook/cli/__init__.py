"""The ``meterbook`` command: parse, call the library, print. Nothing else lives here."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from meterbook import __version__
from meterbook.cli.lazy import LazyGroup
from meterbook.errors import MeterbookError

#: Every command and the module of ``meterbook.cli`` that defines it (in its ``COMMANDS``). A
#: command's module is imported only when that command runs or the help lists it, so that
#: ``meterbook import ...`` does not pay for the web server, the reports or the demo.
COMMAND_MODULES = {
    "init": "setup", "db": "setup",
    "import": "imports", "imports": "imports",
    "usage": "usage",
    "io": "iolog",
    "sources": "collect", "collect": "collect", "metrics": "collect", "workloads": "collect",
    "org": "org",
    "spend": "spend", "rules": "spend",
    "budgets": "budgets",
    "allocations": "allocations",
    "alerts": "alerts",
    "forecast": "forecast", "anomalies": "forecast",
    "rates": "rating", "charges": "rating", "fx": "rating",
    "export": "export",
    "users": "users", "tokens": "users",
    "serve": "serve",
    "report": "report",
    "recipients": "delivery", "deliveries": "delivery",
    "scheduler": "scheduler", "run-job": "scheduler", "jobs": "scheduler", "runs": "scheduler",
    "demo": "demo",
}  # fmt: skip


@click.group(
    cls=LazyGroup,
    lazy=COMMAND_MODULES,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  meterbook init                       write meterbook.toml, create meterbook.db
  meterbook import slurm sacct.log     import Slurm accounting
  meterbook usage --period 2017-01 --by account
  meterbook collect ml-prod            collect from an API source of meterbook.toml
  meterbook demo                       a ready-made ledger with sample data
""",
)
@click.version_option(__version__, "-V", "--version", prog_name="meterbook")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Configuration file (default: $MB_CONFIG, else ./meterbook.toml).",
)
@click.option(
    "--db",
    "database_url",
    metavar="URL",
    help="Database URL, overriding the configuration and $MB_DATABASE_URL.",
)
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug) to stderr.")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, database_url: str | None, verbose: int) -> None:
    """Meterbook: the usage and cost ledger for research computing.

    Import usage from schedulers and clouds into one ledger (SQLite, PostgreSQL or
    MariaDB/MySQL), then ask who used what.
    """
    from meterbook.cli.context import AppContext

    app = AppContext(config=config, database_url=database_url, verbose=verbose)
    ctx.obj = app
    ctx.call_on_close(app.close)


def _runtime() -> None:
    """Process-wide choices of the command-line program (a library user makes their own)."""
    import pyarrow

    # The system allocator hands freed memory back, which keeps long imports small.
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and a non-zero exit code."""
    _runtime()
    try:
        cli.main(args=argv, prog_name="meterbook", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("meterbook: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except MeterbookError as exc:
        click.echo(f"meterbook: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("meterbook: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
