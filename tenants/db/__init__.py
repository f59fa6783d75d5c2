"""PostgreSQL backend that carries the tenant scope into the session (row-level security)."""
