# GPL-3.0-or-later
"""The application description (role `app`, docs/app-description.md) turned into what a platform runs.

Filters:
  app_problems(description, platform, secret_inputs)  -> [messages naming the variable at fault]
  app_plan(description, tokens)                       -> the plan (no secret value in it)
  app_secret_values(description, tokens, secret_inputs) -> {NAME: value} (use in no_log tasks only)
  app_tokens(text, tokens)                            -> one string with its ${...} tokens resolved
  app_smoke_checks(description, version, tokens)      -> the smoke checks of one version (status, restore checks)

`tokens` is what the platform supplies: {database: {host, port, name, user, password, sslmode},
redis: {host, port, tls, scheme, password}, bucket: {name}, stack: {name, env}, app: {version}}.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

TOKEN_RE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
KNOWN_TOKENS = {
    "database.host", "database.port", "database.name", "database.user", "database.password",
    "database.sslmode",
    "redis.host", "redis.port", "redis.tls", "redis.scheme", "redis.password",
    "bucket.name", "stack.name", "stack.env", "app.version",
}
SECRET_TOKENS = {"database.password", "redis.password"}
PROCESS_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
VERSION_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
ARN_RE = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")
HOST_RE = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
UNDEFINED = "__webstack_undefined__"
SECRET_SOURCES = ("template", "var", "arn")


def _s(value):
    """A value as the environment sees it: booleans lower-case, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def token_names(text):
    """The token names used in a string."""
    return [m.group(1).strip() for m in TOKEN_RE.finditer(_s(text)) if m.group(1) is not None]


def _lookup(tokens, name):
    node = tokens or {}
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(name)
        node = node[part]
    return _s(node)


def app_tokens(text, tokens, allow_secrets=True, where="value"):
    """Resolve the ${...} tokens of one string ($${ writes a literal ${)."""

    def repl(match):
        if match.group(1) is None:
            return "${"
        name = match.group(1).strip()
        if name not in KNOWN_TOKENS:
            raise AnsibleFilterError(f"{where}: unknown token ${{{name}}} (known: {', '.join(sorted(KNOWN_TOKENS))})")
        if name in SECRET_TOKENS and not allow_secrets:
            raise AnsibleFilterError(f"{where}: ${{{name}}} is a secret: use it in app_secrets, not in plain env")
        try:
            return _lookup(tokens, name)
        except KeyError:
            raise AnsibleFilterError(f"{where}: the platform supplies no value for ${{{name}}}") from None

    return TOKEN_RE.sub(repl, _s(text))


def _norm_path(path):
    path = _s(path).strip()
    if not path:
        return ""
    if len(path) > 1:
        path = path.rstrip("/")
    return path


def _processes(description):
    """Processes with every default filled in (no validation)."""
    description = description or {}
    out = []
    for raw in description.get("processes") or []:
        raw = raw or {}
        port = int(raw.get("port") or 0)
        count = int(raw.get("count") if raw.get("count") is not None else 1)
        health = dict(raw.get("health") or {})
        route = dict(raw.get("route") or {})
        route = {"path": _norm_path(route.get("path")), "host": _s(route.get("host")).strip().lower()}
        if route["host"] and not route["path"]:
            route["path"] = "/"
        out.append({
            "name": _s(raw.get("name")),
            "image_repository": _s(raw.get("image") or description.get("image")),
            "build": dict(raw.get("build") or description.get("build") or {}),
            "command": [_s(a) for a in (raw.get("command") or [])],
            "env_raw": dict(raw.get("env") or {}),
            "port": port,
            "count": count,
            "max_count": int(raw.get("max_count") or count),
            "singleton": bool(raw.get("singleton", False)),
            "route": route if route["path"] else {},
            "health": {
                "readiness": _s(health.get("readiness")).strip(),
                "liveness": _s(health.get("liveness")).strip(),
                "grace": int(health.get("grace") if health.get("grace") is not None else 30),
            },
            "stop_timeout": int(raw.get("stop_timeout") if raw.get("stop_timeout") is not None else 20),
            "memory": int(raw.get("memory") or 512),
            "cpu": int(raw.get("cpu") or 256),
        })
    return out


def _secrets(description):
    out = []
    for raw in (description or {}).get("secrets") or []:
        raw = raw or {}
        out.append({
            "name": _s(raw.get("name")),
            "template": raw.get("template"),
            "var": raw.get("var"),
            "arn": raw.get("arn"),
            "key": _s(raw.get("key")),
            "file": bool(raw.get("file", False)),
            "processes": [_s(p) for p in (raw.get("processes") or [])],
        })
    return out


def _route_key(route):
    return (route.get("host") or "", route.get("path") or "")


def _route_covers(route, path):
    prefix = route.get("path") or "/"
    if prefix == "/":
        return True
    return path == prefix or path.startswith(prefix + "/")


def _routing_owner(processes, path, host=""):
    """The process the proxy sends `path` (with Host `host`) to: longest prefix, host routes first."""
    best, best_key = None, None
    for proc in processes:
        route = proc["route"]
        if not route:
            continue
        if route["host"] and route["host"] != (host or "").lower():
            continue
        if not _route_covers(route, path):
            continue
        key = (1 if route["host"] else 0, len(route["path"]))
        if best_key is None or key > best_key:
            best, best_key = proc, key
    return best


def _smoke_checks(description, processes, tokens):
    checks = []
    given = (description or {}).get("smoke_checks") or []
    by_name = {p["name"]: p for p in processes}
    routed = [p for p in processes if p["route"]]
    if not given:
        for proc in routed:
            path = proc["health"]["readiness"]
            if not path or _routing_owner(processes, path, proc["route"]["host"]) is not proc:
                continue  # the readiness path through the proxy reaches another process: the gate covers it
            checks.append({"process": proc["name"], "path": path, "host": proc["route"]["host"], "status": 200,
                           "body_contains": "", "json_field": "", "json_equals": ""})
        return checks
    for raw in given:
        raw = raw or {}
        proc = by_name.get(_s(raw.get("process"))) if raw.get("process") else (routed[0] if routed else None)
        if proc is None:
            continue
        path = _s(raw.get("path")).strip() or proc["health"]["readiness"] or (proc["route"] or {}).get("path", "/")
        checks.append({
            "process": proc["name"],
            "path": path,
            "host": (proc["route"] or {}).get("host", ""),
            "status": int(raw.get("status") or 200),
            "body_contains": app_tokens(raw.get("body_contains") or "", tokens, False, "app_smoke_checks.body_contains"),
            "json_field": _s(raw.get("json_field")),
            "json_equals": app_tokens(raw.get("json_equals") or "", tokens, False, "app_smoke_checks.json_equals"),
        })
    return checks


def _env(description, proc, tokens):
    env = {}
    for key, value in dict((description or {}).get("env") or {}).items():
        env[_s(key)] = app_tokens(value, tokens, False, f"app_env.{key}")
    for key, value in proc["env_raw"].items():
        env[_s(key)] = app_tokens(value, tokens, False, f"app_processes[{proc['name']}].env.{key}")
    return env


def _uses_arn(secret, platform):
    """aws injects an arn secret by its ARN; docker reads the same secret's value from its vault_* var."""
    return bool(secret["arn"]) and (platform == "aws" or not (secret["template"] or secret["var"]))


def _proc_secrets(secrets, name, platform):
    return [{"name": s["name"], "file": s["file"], "kind": "arn" if _uses_arn(s, platform) else "value",
             "arn": _s(s["arn"]) if _uses_arn(s, platform) else "", "key": s["key"] if _uses_arn(s, platform) else ""}
            for s in secrets if not s["processes"] or name in s["processes"]]


def app_plan(description, tokens=None, platform="docker"):
    """What a platform runs. Carries no secret value (safe to log)."""
    description = description or {}
    tokens = dict(tokens or {})
    version = _s(description.get("version"))
    tokens.setdefault("app", {})
    tokens["app"] = dict(tokens["app"], version=version)
    processes = _processes(description)
    secrets = _secrets(description)
    plan_procs = []
    for proc in processes:
        item = {k: v for k, v in proc.items() if k != "env_raw"}
        item["image"] = f"{proc['image_repository']}:{version}" if version and proc["image_repository"] else ""
        item["env"] = _env(description, proc, tokens)
        item["secrets"] = _proc_secrets(secrets, proc["name"], platform)
        plan_procs.append(item)
    migrations = dict(description.get("migrations") or {})
    command = [_s(a) for a in (migrations.get("command") or [])]
    sql_dir = _s(migrations.get("sql_dir"))
    mig_proc_name = _s(migrations.get("process")) or (processes[0]["name"] if processes else "")
    mig_proc = next((p for p in plan_procs if p["name"] == mig_proc_name), None)
    plan_migrations = {
        "kind": "command" if command else ("sql_dir" if sql_dir else "none"),
        "command": command,
        "sql_dir": sql_dir,
        "process": mig_proc_name,
        "image": mig_proc["image"] if mig_proc else "",
        "env": mig_proc["env"] if mig_proc else {},
        "secrets": mig_proc["secrets"] if mig_proc else [],
        "timeout": int(migrations.get("timeout") or 600),
        "backup": bool(migrations.get("backup", True)),
    }
    return {
        "version": version,
        "image_source": _s(description.get("image_source") or "present"),
        "processes": plan_procs,
        "migrations": plan_migrations,
        "smoke_checks": _smoke_checks(description, processes, tokens),
        "routed": [p["name"] for p in processes if p["route"]],
        "workers": [p["name"] for p in processes if not p["port"]],
        "singletons": [p["name"] for p in processes if p["singleton"]],
        "writable_paths": [_s(p) for p in (description.get("writable_paths") or [])],
        "images": sorted({p["image"] for p in plan_procs if p["image"]}),
    }


def app_images(description):
    """The images (repository:version) of the description's version, without resolving any token."""
    description = description or {}
    version = _s(description.get("version"))
    if not version:
        return []
    return sorted({f"{p['image_repository']}:{version}" for p in _processes(description) if p["image_repository"]})


def app_secret_values(description, tokens=None, secret_inputs=None, platform="docker"):
    """{NAME: value} of the template and var secrets (not those aws injects by ARN). Only in no_log tasks."""
    tokens = dict(tokens or {})
    tokens["app"] = dict(tokens.get("app") or {}, version=_s((description or {}).get("version")))
    inputs = secret_inputs or {}
    values = {}
    for secret in _secrets(description):
        if _uses_arn(secret, platform):
            continue
        if secret["template"] is not None:
            values[secret["name"]] = app_tokens(secret["template"], tokens, True, f"app_secrets[{secret['name']}].template")
        elif secret["var"]:
            value = inputs.get(secret["var"], UNDEFINED)
            if value == UNDEFINED or value is None:
                raise AnsibleFilterError(f"app_secrets[{secret['name']}]: variable {secret['var']} is not defined")
            values[secret["name"]] = _s(value)
    return values


def app_problems(description, platform="docker", secret_inputs=None):
    """Every problem of the description, each naming the variable at fault. Never prints a secret value."""
    description = description or {}
    problems = []
    version = _s(description.get("version"))
    if version and not VERSION_RE.match(version):
        problems.append(f"app_version '{version}' is not a valid image tag (letters, digits, _ . -; up to 128)")
    source = _s(description.get("image_source") or "present")
    if source not in ("pull", "build", "copy", "present"):
        problems.append(f"app_image_source '{source}' must be one of pull, build, copy, present")
    processes = _processes(description)
    if not processes:
        problems.append("app_processes is empty: describe at least one process")
    names = [p["name"] for p in processes]
    for idx, proc in enumerate(processes):
        where = f"app_processes[{idx}]" + (f" ({proc['name']})" if proc["name"] else "")
        if not PROCESS_NAME_RE.match(proc["name"]):
            problems.append(f"{where}.name '{proc['name']}' must be 1-31 lowercase letters, digits and dashes, starting with a letter")
        elif names.count(proc["name"]) > 1:
            problems.append(f"{where}.name '{proc['name']}' is used by more than one process")
        if not proc["image_repository"] and platform == "docker":
            problems.append(f"{where}.image: no image repository (set app_image or the process's image)")
        elif ":" in proc["image_repository"].rsplit("/", 1)[-1]:
            problems.append(f"{where}.image '{proc['image_repository']}' must be a repository without a tag (the tag is app_version)")
        if source == "build" and not (proc["build"].get("context")):
            problems.append(f"{where}.build / app_build: app_image_source is build but no build context is given")
        if not 0 <= proc["port"] <= 65535:
            problems.append(f"{where}.port {proc['port']} is not a TCP port")
        if proc["count"] < 0:
            problems.append(f"{where}.count {proc['count']} must be 0 or more")
        if proc["max_count"] < proc["count"]:
            problems.append(f"{where}.max_count {proc['max_count']} is below its count {proc['count']}")
        if proc["singleton"] and proc["count"] != 1:
            problems.append(f"{where}.singleton: a singleton runs exactly one copy, but count is {proc['count']}")
        if proc["singleton"] and proc["route"]:
            problems.append(f"{where}.singleton: a routed process cannot be a singleton (a switch runs two copies); drop route or singleton")
        if proc["route"] and not proc["port"]:
            problems.append(f"{where}.route: a process without a port cannot be routed (set its port or drop the route)")
        if proc["route"]:
            if not proc["route"]["path"].startswith("/"):
                problems.append(f"{where}.route.path '{proc['route']['path']}' must start with /")
            if proc["route"]["host"] and not HOST_RE.match(proc["route"]["host"]):
                problems.append(f"{where}.route.host '{proc['route']['host']}' is not a host name")
        for key in ("readiness", "liveness"):
            path = proc["health"][key]
            if path and not path.startswith("/"):
                problems.append(f"{where}.health.{key} '{path}' must be a path starting with /")
            if path and not proc["port"]:
                problems.append(f"{where}.health.{key}: a process without a port has no HTTP health check")
        if proc["health"]["grace"] < 1:
            problems.append(f"{where}.health.grace must be at least 1 second")
        if proc["stop_timeout"] < 0:
            problems.append(f"{where}.stop_timeout must be 0 or more")
        for key, value in proc["env_raw"].items():
            problems.extend(_env_problems(f"{where}.env.{key}", key, value))
    seen_routes = {}
    for proc in processes:
        if proc["route"]:
            key = _route_key(proc["route"])
            if key in seen_routes:
                problems.append(
                    f"app_processes ({seen_routes[key]}, {proc['name']}): two processes on one route "
                    f"(host '{key[0] or '*'}', path '{key[1]}'); give each its own path or host")
            else:
                seen_routes[key] = proc["name"]
    env = dict(description.get("env") or {})
    for key, value in env.items():
        problems.extend(_env_problems(f"app_env.{key}", key, value))
    # secrets
    secrets = _secrets(description)
    secret_names = [s["name"] for s in secrets]
    inputs = secret_inputs or {}
    env_keys = set(env) | {k for p in processes for k in p["env_raw"]}
    for idx, secret in enumerate(secrets):
        where = f"app_secrets[{idx}]" + (f" ({secret['name']})" if secret["name"] else "")
        if not SECRET_NAME_RE.match(secret["name"]):
            problems.append(f"{where}.name '{secret['name']}' must be upper-case letters, digits and _")
        elif secret_names.count(secret["name"]) > 1:
            problems.append(f"{where}.name {secret['name']} is defined more than once")
        if secret["name"] in env_keys:
            problems.append(f"{where}.name {secret['name']} is also a plain environment variable (app_env or a process env)")
        sources = [k for k in SECRET_SOURCES if secret[k]]
        if platform == "docker" and secret["arn"] and not secret["var"]:
            problems.append(
                f"{where}.arn: the docker platform cannot read Secrets Manager; give the value as a vault_* "
                "variable in `var` as well (aws uses the arn, docker the var)")
        elif len(sources) != 1 and sorted(sources) != ["arn", "var"]:
            problems.append(f"{where}: give exactly one of template, var, arn (got {', '.join(sources) or 'none'})")
        if secret["var"] and (platform == "docker" or not secret["arn"]):
            var = _s(secret["var"])
            if not var.startswith("vault_"):
                problems.append(f"{where}.var '{var}' must name a vault_* variable (kept in an ansible-vault file)")
            elif inputs.get(var, UNDEFINED) in (UNDEFINED, None) or _s(inputs.get(var)) == "":
                problems.append(f"{where}.var: the secret refers to {var}, which is not defined (add it to the vault file)")
        if secret["template"] is not None:
            for name in token_names(secret["template"]):
                if name not in KNOWN_TOKENS:
                    problems.append(f"{where}.template: unknown token ${{{name}}}")
        if secret["arn"] and not ARN_RE.match(_s(secret["arn"])):
            problems.append(f"{where}.arn '{secret['arn']}' is not a Secrets Manager secret ARN")
        if secret["key"] and not secret["arn"]:
            problems.append(f"{where}.key is only meaningful with arn")
        for proc_name in secret["processes"]:
            if proc_name not in names:
                problems.append(f"{where}.processes: unknown process '{proc_name}' (known: {', '.join(names)})")
    # a plain value that equals a secret's value leaks the secret into logs and task definitions
    secret_values = {s["name"]: _s(inputs.get(s["var"])) for s in secrets
                     if s["var"] and inputs.get(s["var"], UNDEFINED) not in (UNDEFINED, None)}
    plain = [(f"app_env.{k}", _s(v)) for k, v in env.items()]
    plain += [(f"app_processes[{p['name']}].env.{k}", _s(v)) for p in processes for k, v in p["env_raw"].items()]
    for where, value in plain:
        for secret_name, secret_value in secret_values.items():
            if len(secret_value) >= 4 and value == secret_value:
                problems.append(f"{where} holds the value of secret {secret_name} in clear: reference the secret instead")
    # migrations
    migrations = dict(description.get("migrations") or {})
    command = migrations.get("command") or []
    if command and migrations.get("sql_dir"):
        problems.append("app_migrations: command and sql_dir exclude each other; give one")
    if command and not all(_s(a) for a in command):
        problems.append("app_migrations.command must be a list of non-empty strings")
    if migrations.get("process") and _s(migrations.get("process")) not in names:
        problems.append(f"app_migrations.process: unknown process '{migrations.get('process')}' (known: {', '.join(names)})")
    if migrations.get("timeout") is not None and int(migrations.get("timeout") or 0) < 1:
        problems.append("app_migrations.timeout must be at least 1 second")
    unknown_keys = set(migrations) - {"command", "sql_dir", "process", "timeout", "backup"}
    if unknown_keys:
        problems.append(f"app_migrations: unknown keys {sorted(unknown_keys)}")
    # smoke checks
    routed = {p["name"]: p for p in processes if p["route"]}
    for idx, check in enumerate(description.get("smoke_checks") or []):
        check = check or {}
        where = f"app_smoke_checks[{idx}]"
        proc_name = _s(check.get("process"))
        if proc_name and proc_name not in names:
            problems.append(f"{where}.process: unknown process '{proc_name}' (known: {', '.join(names)})")
            continue
        if proc_name and proc_name not in routed:
            problems.append(f"{where}.process: process '{proc_name}' has no route, so a smoke check cannot reach it")
            continue
        if not routed:
            problems.append(f"{where}: no process is routed, so no smoke check can reach the app")
            continue
        proc = routed[proc_name] if proc_name else next(iter(routed.values()))
        path = _s(check.get("path")).strip() or proc["health"]["readiness"] or proc["route"]["path"]
        if not path.startswith("/"):
            problems.append(f"{where}.path '{path}' must start with /")
        elif _routing_owner(processes, path, proc["route"]["host"]) is not proc:
            problems.append(
                f"{where}.path {path}: through the proxy this path reaches another process than '{proc['name']}' "
                f"(its route is {proc['route']['host'] or ''}{proc['route']['path']})")
        status = int(check.get("status") or 200)
        if not 100 <= status <= 599:
            problems.append(f"{where}.status {status} is not an HTTP status")
        if check.get("json_equals") and not check.get("json_field"):
            problems.append(f"{where}.json_equals needs json_field")
        for key in ("body_contains", "json_equals"):
            for name in token_names(check.get(key)):
                if name not in KNOWN_TOKENS or name in SECRET_TOKENS:
                    problems.append(f"{where}.{key}: token ${{{name}}} is unknown or a secret")
    return problems


def _env_problems(where, key, value):
    problems = []
    if not ENV_NAME_RE.match(_s(key)):
        problems.append(f"{where}: '{key}' is not an environment variable name")
    if isinstance(value, (dict, list)):
        problems.append(f"{where} must be a string, number or boolean")
        return problems
    for name in token_names(value):
        if name not in KNOWN_TOKENS:
            problems.append(f"{where}: unknown token ${{{name}}} (known: {', '.join(sorted(KNOWN_TOKENS))})")
        elif name in SECRET_TOKENS:
            problems.append(f"{where}: ${{{name}}} is a secret; compose it in app_secrets (template), not in plain env")
    return problems


def app_smoke_checks(description, version="", tokens=None):
    """The smoke checks of `version` (app_smoke_checks, else each routed process's readiness path): what status
    and the restores probe, without the platform's other tokens (only ${app.version} and the stack's own)."""
    description = dict(description or {}, version=_s(version))
    tokens = dict(tokens or {})
    tokens["app"] = dict(tokens.get("app") or {}, version=_s(version))
    return _smoke_checks(description, _processes(description), tokens)


class FilterModule:  # pylint: disable=too-few-public-methods
    """webstack.platform application-description filters."""

    def filters(self):
        return {
            "app_images": app_images,
            "app_problems": app_problems,
            "app_plan": app_plan,
            "app_secret_values": app_secret_values,
            "app_smoke_checks": app_smoke_checks,
            "app_tokens": app_tokens,
        }
