"""Cloudera Machine Learning (Cloudera AI Workbench): usage records over the API v2.

:class:`CmlClient` pages through ``GET /api/v2/usage`` (bearer API key, time-range filter,
filtering by ``created_at`` itself when a workbench version ignores the filter) and reads the
workbench-wide ``cpu`` / ``memory`` / ``gpu`` time series; :func:`to_record` turns one usage
entry into a :class:`~meterbook.connectors.base.UsageRecord` (or a
:class:`~meterbook.connectors.base.Reject`). Natural key: workbench (the source name) + the
entry's ``id``. Memory is allocated memory in a per-source unit (:data:`MEMORY_UNITS`,
default GiB: the API does not document it). Inside a workbench session or job,
:func:`workbench_from_env` finds the URL and key.
"""

from meterbook.connectors.cml.client import CmlClient, CmlStats, workbench_from_env
from meterbook.connectors.cml.records import MEMORY_UNITS, map_state, record_key, to_record

__all__ = [
    "MEMORY_UNITS",
    "CmlClient",
    "CmlStats",
    "map_state",
    "record_key",
    "to_record",
    "workbench_from_env",
]
