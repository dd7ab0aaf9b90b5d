"""webstack reference application: a small HTTP service backed by PostgreSQL and Redis.

It is a test fixture for the webstack deployment tooling (health gates, migrations, blue/green,
backups), written with the Python standard library plus psycopg2 and redis.
"""
__all__ = ["build_info", "config", "migrate", "migrations", "server"]
