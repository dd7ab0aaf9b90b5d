"""python3 -m webstack_app {serve|migrations|migrate|version|healthcheck}"""
import argparse
import json
import os
import sys
import urllib.error
import urllib.request

from . import build_info, config, migrations


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m webstack_app", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP server (port 8000) until SIGTERM")
    sub.add_parser("migrations", help='print the shipped migrations as JSON [{"name", "sql"}]')
    sub.add_parser("migrate", help="apply the shipped migrations to the configured database (the aws "
                   "platform's one-off migration task); one JSON summary line on stdout; exit 0 done, "
                   "1 failed, 2 refused (changed checksum) or bad configuration")
    sub.add_parser("version", help="print the version baked into this build")
    probe = sub.add_parser("healthcheck", help="exit 0 when GET /health/ready answers 200 (Docker HEALTHCHECK)")
    probe.add_argument("--path", default="/health/ready")
    probe.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    if args.command == "version":
        print(build_info.load()["version"])
        return 0
    if args.command == "migrations":
        try:
            shipped = migrations.load()
        except (OSError, migrations.MigrationError) as exc:
            print(f"migrations: {exc}", file=sys.stderr)
            return 1
        json.dump(shipped, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    if args.command == "migrate":
        from . import migrate  # noqa: PLC0415

        return migrate.main(os.environ)
    if args.command == "healthcheck":
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{args.port}{args.path}", timeout=3) as resp:
                return 0 if resp.status == 200 else 1
        except (urllib.error.URLError, OSError) as exc:
            print(f"healthcheck: {exc}", file=sys.stderr)
            return 1
    # serve
    from .backends import Backends  # noqa: PLC0415
    from .server import make_server, serve  # noqa: PLC0415

    try:
        cfg = config.from_env()
    except config.ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    build = build_info.load()
    server = make_server(cfg, Backends(cfg), build)
    print(f"webstack_app {build['version']}{' (BROKEN build)' if build['broken'] else ''} "
          f"listening on {cfg.listen_address}:{cfg.port}; {cfg}", file=sys.stderr, flush=True)
    serve(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
