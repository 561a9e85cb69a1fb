"""Connectors turn a source into canonical records and rejects; they never touch SQL."""
