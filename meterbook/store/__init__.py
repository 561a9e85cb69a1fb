"""The only place that speaks SQL: engine, schema, migrations, ingest, rollups, queries."""
