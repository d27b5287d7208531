"""The system of record: models, migrations, sessions and bulk-load helpers (PostgreSQL)."""
