"""SQL migrations shipped with the image: files NNNN_description.sql in one directory.

The runner (Ansible role `migrations`) wraps each migration in its own transaction, so a
migration must not contain transaction control statements.
"""
import os
import re
from pathlib import Path

DEFAULT_DIR = Path("/opt/webstack/migrations")
NAME_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
TXN_RE = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION|END)\b", re.IGNORECASE | re.MULTILINE)


class MigrationError(ValueError):
    pass


def migrations_dir():
    return Path(os.environ.get("WEBSTACK_APP_MIGRATIONS_DIR", DEFAULT_DIR))


def check(name, sql):
    if not NAME_RE.match(name):
        raise MigrationError(f"{name}: migration files are named NNNN_lowercase_description.sql")
    if not sql.strip():
        raise MigrationError(f"{name}: empty migration")
    if TXN_RE.search(sql):
        raise MigrationError(f"{name}: contains transaction control (BEGIN/COMMIT/ROLLBACK); "
                             "the runner wraps each migration in a transaction")


def load(directory=None):
    """Every migration in `directory` as [{"name", "sql"}], sorted by name, checked."""
    directory = Path(directory or migrations_dir())
    result = []
    seen = set()
    for path in sorted(directory.glob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        check(path.name, sql)
        number = path.name[:4]
        if number in seen:
            raise MigrationError(f"{path.name}: another migration already uses number {number}")
        seen.add(number)
        result.append({"name": path.name, "sql": sql})
    return result


def select(migrations, upto=""):
    """The migrations numbered up to and including `upto` (NNNN); all when `upto` is empty."""
    if not upto:
        return list(migrations)
    if not re.fullmatch(r"\d{4}", upto):
        raise MigrationError(f"APP_MIGRATIONS_UPTO must be four digits (e.g. 0001), got {upto!r}")
    chosen = [m for m in migrations if m["name"][:4] <= upto]
    if not any(m["name"][:4] == upto for m in migrations):
        raise MigrationError(f"APP_MIGRATIONS_UPTO={upto}: no migration has that number")
    return chosen
