"""The shared strategy: one PostgreSQL every member uses."""
