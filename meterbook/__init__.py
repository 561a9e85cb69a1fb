"""Meterbook: the usage and cost ledger for research computing.

The package is a library first: :mod:`meterbook.importing` runs imports,
:mod:`meterbook.store` holds every SQL statement, :mod:`meterbook.cli` is a thin edge.
Nothing happens at import time.
"""

__version__ = "0.1.0"
