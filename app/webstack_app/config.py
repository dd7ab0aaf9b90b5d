"""Configuration from the environment (the container-side contract of the app image).

Secrets are read from files named by `*_FILE` variables (Docker platform, bind-mounted
read-only). On ECS the task definition injects them with `valueFrom` as `APP_DATABASE_PASSWORD` /
`APP_REDIS_PASSWORD`; those are used only when the `*_FILE` variable is not set.
"""
import os
from dataclasses import dataclass


class ConfigError(ValueError):
    """The environment does not describe a usable configuration."""


@dataclass(frozen=True)
class Config:
    listen_address: str = "0.0.0.0"
    port: int = 8000
    db_host: str = "localhost"
    db_port: int = 5432
    db_name: str = "webstack"
    db_user: str = "webstack_app"
    db_password: str = ""
    db_sslmode: str = "prefer"
    redis_host: str = "localhost"
    redis_port: int = 6379
    redis_password: str = ""
    redis_ssl: bool = False
    connect_timeout: float = 1.0

    def __repr__(self):  # never print secrets
        return (f"Config(listen={self.listen_address}:{self.port}, db={self.db_user}@{self.db_host}:"
                f"{self.db_port}/{self.db_name}, redis={self.redis_host}:{self.redis_port})")

    __str__ = __repr__


def _int(env, name, default, low=1, high=65535):
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def read_secret(env, name):
    """Value of secret `name`: the first line of the file `<name>_FILE`, else `<name>`, else ''."""
    path = env.get(f"{name}_FILE", "")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.readline().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return env.get(name, "")


def from_env(env=None):
    env = os.environ if env is None else env
    timeout = env.get("APP_CONNECT_TIMEOUT", "")
    try:
        connect_timeout = float(timeout) if timeout else 1.0
    except ValueError:
        raise ConfigError(f"APP_CONNECT_TIMEOUT must be a number of seconds, got {timeout!r}") from None
    if not 0 < connect_timeout <= 60:
        raise ConfigError("APP_CONNECT_TIMEOUT must be between 0 and 60 seconds")
    return Config(
        listen_address=env.get("APP_LISTEN_ADDRESS", "") or "0.0.0.0",
        port=_int(env, "APP_PORT", 8000),
        db_host=env.get("APP_DATABASE_HOST", "") or "localhost",
        db_port=_int(env, "APP_DATABASE_PORT", 5432),
        db_name=env.get("APP_DATABASE_NAME", "") or "webstack",
        db_user=env.get("APP_DATABASE_USER", "") or "webstack_app",
        db_password=read_secret(env, "APP_DATABASE_PASSWORD"),
        db_sslmode=env.get("APP_DATABASE_SSLMODE", "") or "prefer",
        redis_host=env.get("APP_REDIS_HOST", "") or "localhost",
        redis_port=_int(env, "APP_REDIS_PORT", 6379),
        redis_password=read_secret(env, "APP_REDIS_PASSWORD"),
        redis_ssl=(env.get("APP_REDIS_SSL", "") or "false").lower() in ("1", "true", "yes"),
        connect_timeout=connect_timeout,
    )
