"""Figures of the docker platform, measured on this machine (not a test; prints JSON).

Deploy and rollback under a bounded load loop (time to traffic on the new version, failed requests
of fresh-connection and keep-alive clients, failed deploy of a never-ready version), then backup and
restore of a generated ~100 MB database through the playbooks next to plain pg_dump/pg_restore in
the same container. Uses its own stack (`bench-webstack`, ports 27xxx) and removes it at the end."""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from benchmark_compose import compose_figures  # noqa: E402

from support.docker import LoadLoop, docker, remove_stack, run_playbook  # noqa: E402

STACK = "bench-webstack"
STATE_DIR = f"/var/lib/webstack/{STACK}"
PORT = 27180
TARGET_MB = int(sys.argv[1]) if len(sys.argv) > 1 else 100


def old_after_new(versions):
    """Seconds between the first answer of the version served last and the last answer of any other version
    after it (0 when the switch was clean, None without a switch)."""
    if len(versions) < 2:
        return None
    final = versions[-1][1]
    first_new = next(t for t, v in versions if v == final)
    last_old = versions[-1][0]  # the old version answered up to the final change
    return round(max(0.0, last_old - first_new), 2)


def timed_load(overrides, playbook, port=PORT, **extra):
    with LoadLoop(port) as load:
        run = run_playbook(playbook, overrides, extra_vars=extra)
    r = load.result
    return run, {
        "playbook_s": round(run.seconds, 1),
        "rc": run.rc,
        "versions_seen": [v for _, v in r.versions],
        "traffic_switched_after_s": round(r.versions[-1][0] - run.started, 1) if len(r.versions) > 1 else None,
        # every change of the served version, seconds from the command's start: the new version's first answer
        # and how long the old one still answered after it (the "at most 2 s more")
        "version_changes_s": [[round(t - run.started, 2), v] for t, v in r.versions],
        "old_answered_after_new_first_s": old_after_new(r.versions),
        "requests": r.requests, "failed": r.failed,
        "keepalive_requests": r.keepalive_requests, "keepalive_failed_after_one_retry": r.keepalive_failed,
        "keepalive_connection_closed_by_server": r.keepalive_raw_failures,
    }


# An api (the reference app), two workers and a singleton (the issue's "one example with an api, a worker and a
# singleton"): the reference app's image with other commands, its own stack and ports.
PROCS_STACK, PROCS_PORT = "bench-procs", 27380
SLEEP = ["python3", "-c", "import signal, time; signal.signal(signal.SIGTERM, lambda *a: exit(0)); time.sleep(10**6)"]
PROCS = [
    {"name": "api", "command": ["python3", "-m", "webstack_app", "serve"], "port": 8000, "count": 2,
     "route": {"path": "/"}, "health": {"readiness": "/health/ready", "grace": 60}, "memory": 256},
    {"name": "worker", "command": SLEEP, "count": 2, "stop_timeout": 5, "memory": 64},
    {"name": "beat", "command": SLEEP, "singleton": True, "stop_timeout": 5, "memory": 64},
]


def processes_figures(tmp):
    """deploy 2.0.0 and rollback under load of an app with an api, two workers and a singleton."""
    figures = {}
    state_dir = f"/var/lib/webstack/{PROCS_STACK}"
    remove_stack(PROCS_STACK, state_dir)
    overrides = Path(tmp) / "procs.yml"
    overrides.write_text(json.dumps({
        "webstack_name": PROCS_STACK, "docker_proxy_published_port": PROCS_PORT,
        "docker_postgres_published_port": 27532, "docker_redis_published_port": 27479, "app_processes": PROCS,
        "webstack_secrets_file": str(ROOT / "secrets" / "webstack-local.yml")}))
    try:
        run = run_playbook("provision", overrides)
        assert run.rc == 0, run.output[-3000:]
        run = run_playbook("deploy", overrides, extra_vars={"app_version": "1.0.0"})
        assert run.rc == 0, run.output[-3000:]
        figures["deploy_first_s"] = round(run.seconds, 1)
        figures["deploy_v2_under_load"] = timed_load(overrides, "deploy", port=PROCS_PORT, app_version="2.0.0")[1]
        figures["rollback_under_load"] = timed_load(overrides, "rollback", port=PROCS_PORT)[1]
    finally:
        run_playbook("teardown", overrides, extra_vars={"confirm_teardown": PROCS_STACK})
        remove_stack(PROCS_STACK, state_dir)
    return figures


def psql(sql):
    return docker("exec", f"{STACK}-postgres", "psql", "-X", "-q", "-A", "-t", "-U", "postgres", "-d", "webstack", "-c", sql)


def timed(cmd):
    start = time.time()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return round(time.time() - start, 1)


def main():
    figures = {}
    remove_stack(STACK, STATE_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        overrides = Path(tmp) / "bench.yml"
        overrides.write_text(json.dumps({
            "webstack_name": STACK, "docker_proxy_published_port": PORT,
            "docker_postgres_published_port": 27432, "docker_redis_published_port": 27379,
            # the local inventory's generated secrets (secrets/<webstack_name>.yml is looked up by stack name)
            "webstack_secrets_file": str(ROOT / "secrets" / "webstack-local.yml")}))
        try:
            run = run_playbook("provision", overrides)
            assert run.rc == 0, run.output[-3000:]
            figures["provision_first_s"] = round(run.seconds, 1)
            run = run_playbook("provision", overrides)
            figures["provision_noop_s"] = round(run.seconds, 1)
            run = run_playbook("deploy", overrides, extra_vars={"app_version": "1.0.0"})
            assert run.rc == 0, run.output[-3000:]
            figures["deploy_first_s"] = round(run.seconds, 1)
            figures["deploy_v2_under_load"] = timed_load(overrides, "deploy", app_version="2.0.0")[1]
            figures["failed_deploy_under_load"] = timed_load(overrides, "deploy", app_version="2.1.0-broken")[1]
            figures["rollback_under_load"] = timed_load(overrides, "rollback")[1]
            figures["processes_app"] = processes_figures(tmp)

            rows = TARGET_MB * 1024 * 1024 // 230
            psql(f"INSERT INTO items (name) SELECT 'bench-' || g || '-' || repeat(md5(g::text), 5) "
                 f"FROM generate_series(1, {rows}) g")
            figures["database_mb"] = int(psql("SELECT pg_database_size('webstack') / 1048576"))
            run = run_playbook("backup", overrides)
            assert run.rc == 0, run.output[-3000:]
            figures["backup_playbook_s"] = round(run.seconds, 1)
            run = run_playbook("restore", overrides, extra_vars={"confirm_restore": STACK})
            assert run.rc == 0, run.output[-3000:]
            figures["restore_playbook_s"] = round(run.seconds, 1)
            pg = ["docker", "exec", f"{STACK}-postgres"]
            figures["plain_pg_dump_s"] = timed(pg + ["pg_dump", "-Fc", "-U", "postgres", "-d", "webstack", "-f", "/tmp/plain.dump"])
            psql("SELECT 1")
            docker("exec", f"{STACK}-postgres", "createdb", "-U", "postgres", "bench_restore")
            figures["plain_pg_restore_s"] = timed(pg + ["pg_restore", "-j", "2", "-U", "postgres", "-d", "bench_restore", "/tmp/plain.dump"])
        finally:
            run_playbook("teardown", overrides, extra_vars={"confirm_teardown": STACK})
            remove_stack(STACK, STATE_DIR)
            # the peer tool on the same images and load: docker-compose up -d (scripts/benchmark_compose.py)
            figures["docker_compose"] = compose_figures()
            print(json.dumps(figures, indent=2))  # what was measured, also when a step failed


if __name__ == "__main__":
    main()
