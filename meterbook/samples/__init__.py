"""Generators of realistic sample data, for the demo, the tests and the benchmarks."""

import os
from collections.abc import Iterator
from contextlib import contextmanager

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                   "all_proxy")  # fmt: skip


@contextmanager
def direct_to_loopback() -> Iterator[None]:
    """Hide proxy variables from this process while it talks to its own local servers.

    The Alibaba SDK takes ``HTTP(S)_PROXY`` from the environment but ignores ``NO_PROXY``, so
    on a machine with a proxy configured it would send requests for 127.0.0.1 to the proxy.
    """
    saved = {name: os.environ.pop(name) for name in PROXY_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
