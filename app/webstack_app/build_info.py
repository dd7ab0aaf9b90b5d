"""Facts baked into the image at build time (/opt/webstack/build.json)."""
import json
import os
from pathlib import Path

DEFAULT_PATH = Path("/opt/webstack/build.json")


def load(path=None):
    """Return {"version": str, "broken": bool}; a missing file means a development checkout."""
    path = Path(path or os.environ.get("WEBSTACK_APP_BUILD_INFO", DEFAULT_PATH))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = {}
    return {"version": str(data.get("version", "0.0.0-dev")), "broken": bool(data.get("broken", False))}


def bake(source_dir, target_dir, version, broken, upto, info_path=DEFAULT_PATH):
    """Image build step: check every migration in source_dir, copy the ones up to `upto` into
    target_dir, write the build facts. Returns the shipped migration names."""
    import shutil  # noqa: PLC0415

    from . import migrations  # noqa: PLC0415

    if not version:
        raise ValueError("APP_VERSION must not be empty")
    chosen = migrations.select(migrations.load(source_dir), upto)
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    for item in chosen:
        shutil.copy(Path(source_dir) / item["name"], target / item["name"])
    flag = str(broken).strip().lower() in ("1", "true", "yes")
    Path(info_path).write_text(json.dumps({"version": version, "broken": flag}) + "\n", encoding="utf-8")
    return [item["name"] for item in chosen]


if __name__ == "__main__":  # python3 -m webstack_app.build_info (Dockerfile build step)
    shipped = bake("/opt/webstack/all-migrations", "/opt/webstack/migrations", os.environ["APP_VERSION"],
                   os.environ.get("APP_BROKEN", "0"), os.environ.get("APP_MIGRATIONS_UPTO", ""))
    print(f"version {os.environ['APP_VERSION']}, broken={os.environ.get('APP_BROKEN', '0')}, migrations {shipped}")
