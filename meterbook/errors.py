"""The error tree of Meterbook.

Every error a user can cause or fix derives from :class:`MeterbookError`; the CLI prints its
message on one line and exits with :attr:`MeterbookError.exit_code`. Anything else is a bug and
keeps its traceback.

::

    MeterbookError
    ├── ConfigError            bad configuration file, environment variable or option
    ├── StoreError             the database cannot be used
    │   ├── SchemaMismatchError    schema older/newer than the code, or missing
    │   └── ConcurrentImportError  another import wrote the same records at the same time
    ├── InputError             an input file cannot be read at all (missing, unreadable, no header)
    ├── ConnectorError         a source failed
    │   ├── FatalSourceError       stop now, nothing more can be read
    │   └── RetryableSourceError   worth retrying later (network, throttling)
    ├── StrictImportError      ``--strict`` and a line was rejected: nothing was committed
    ├── ConflictError          refused: the name is taken, or data refers to what is removed
    ├── DeliveryError          a message could not be sent (after its retries)
    └── JobError               a scheduled job failed, timed out or could not start

A malformed input line is not an exception: connectors yield it as a
:class:`meterbook.connectors.base.Reject`, which is stored and reported.
"""

from __future__ import annotations


class MeterbookError(Exception):
    """Root of every error the user can act on."""

    exit_code = 1


class ConfigError(MeterbookError):
    """The configuration (file, environment, options) is invalid."""

    exit_code = 2


class StoreError(MeterbookError):
    """The database cannot be used as asked."""

    exit_code = 3


class SchemaMismatchError(StoreError):
    """The database schema does not match the code."""


class ConcurrentImportError(StoreError):
    """Another process inserted the same natural keys while this import ran."""


class InputError(MeterbookError):
    """An input file cannot be read at all."""

    exit_code = 4


class ConnectorError(MeterbookError):
    """A source failed."""

    exit_code = 5


class FatalSourceError(ConnectorError):
    """The source cannot be read further; the import stops."""


class RetryableSourceError(ConnectorError):
    """A transient failure; the same call may succeed later."""


class StrictImportError(MeterbookError):
    """A reject under ``--strict``: the import was rolled back."""

    exit_code = 6


class ConflictError(MeterbookError):
    """A change refused because of what exists: a duplicate, or references to a removed row."""

    exit_code = 7


class DeliveryError(MeterbookError):
    """A message could not be delivered; the text never holds a password or webhook URL."""

    exit_code = 8


class JobError(MeterbookError):
    """A job run by ``meterbook run-job`` did not succeed."""

    exit_code = 9
