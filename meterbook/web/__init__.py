"""The web dashboard and the REST API of ``meterbook serve`` (docs/web.md)."""

from meterbook.web.app import create_app

__all__ = ["create_app"]
