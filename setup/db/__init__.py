"""warden's PostgreSQL layer: verifiers, catalog reads, the SQL plan, the SSH forward.

The `db` step calls these; nothing here knows about jails or the host's files.
"""
