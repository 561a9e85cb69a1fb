"""Billing files: FOCUS, AWS CUR, Azure, OCI, Google Cloud, and any CSV/JSON by a mapping."""
