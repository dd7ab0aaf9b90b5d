# GPL-3.0-or-later
"""The outputs the aws layers hand to each other (docs/aws-layer-outputs.md).

Filter:
  layer_output(result, layer, check_mode=False) -> the layer's output dict (`<role>_output`)

`result` is what the layer's own module returned in this run, or what webstack.platform.discover read for a layer
that did not run (both use the same keys). This is the ONE place that defines the shape of every output and the
ONE place that makes check-mode placeholders: in check mode on a stack whose layer does not exist yet, an id that
is not known is the string `(<layer>: not created yet)`, so the consumers pass it on (their modules report a
creation in check mode and send nothing to AWS). Outside check mode an empty id stays empty.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

TIERS = ("public", "private", "database")
SG_KEYS = ("alb", "app", "postgres", "redis")


def _placeholder(layer):
    return f"({layer}: not created yet)"


def _id(value, layer, check_mode):
    value = value or ""
    return value if value or not check_mode else _placeholder(layer)


def _storage(r, check):
    repos = {name: {"uri": (v or {}).get("uri", ""), "arn": (v or {}).get("arn", "")}
             for name, v in (r.get("repositories") or {}).items()}
    bucket_arn = r.get("bucket_arn") or ""
    return {
        "bucket_name": bucket_arn.rsplit(":", 1)[-1] if bucket_arn else "",
        "bucket_arn": bucket_arn,
        "repositories": repos,
        "image_repository": _id(next((v["uri"] for v in repos.values() if v["uri"]), ""), "aws_storage", check),
        "secret_arns": dict(r.get("secrets") or {}),
    }


def _vpc(r, check):
    subnets = r.get("subnet_ids") or {}
    return {
        "vpc_id": _id(r.get("vpc_id"), "vpc", check),
        "subnet_ids": {tier: list(subnets.get(tier) or ([_placeholder("vpc")] * 2 if check else [])) for tier in TIERS},
    }


def _security_groups(r, check):
    ids = r.get("ids") or {}
    return {"ids": {key: _id(ids.get(key), "security_groups", check) for key in SG_KEYS}}


def _rds(r, check):
    inst = r.get("instance") if "instance" in r else r
    inst = inst or {}
    endpoint = inst.get("endpoint") or {}
    return {
        "identifier": inst.get("db_instance_identifier", ""),
        "arn": inst.get("db_instance_arn", ""),
        "status": inst.get("db_instance_status", ""),
        "address": _id(endpoint.get("address"), "rds", check),
        "port": int(endpoint.get("port") or inst.get("db_instance_port") or 0) or None,
    }


def _elasticache(r, check):
    group = r.get("replication_group") or {}
    primary = ((group.get("node_groups") or [{}])[0] or {}).get("primary_endpoint") or {}
    return {
        "replication_group_id": group.get("replication_group_id", ""),
        "status": group.get("status", ""),
        "address": _id(primary.get("address"), "elasticache", check),
        "port": int(primary.get("port") or 0) or None,
        "tls": group.get("transit_encryption_enabled"),
    }


def _alb(r, check):
    return {
        "load_balancer_arn": _id(r.get("load_balancer_arn"), "alb", check),
        "dns_name": r.get("dns_name") or "",
        "target_group_arns": {name: _id(arn, "alb", check) for name, arn in (r.get("target_group_arns") or {}).items()},
    }


def _ecs_service(r, check):
    return {
        "cluster_arn": r.get("cluster_arn") or "",
        "services": {name: (s or {}).get("service_arn", "") for name, s in (r.get("services") or {}).items()},
    }


def _alarms(r, check):
    return {"topic_arn": _id(r.get("topic_arn"), "alarms", check), "alarm_names": list(r.get("alarm_names") or [])}


SHAPES = {"aws_storage": _storage, "vpc": _vpc, "security_groups": _security_groups, "rds": _rds,
          "elasticache": _elasticache, "alb": _alb, "ecs_service": _ecs_service, "alarms": _alarms}


def layer_output(result, layer, check_mode=False):
    if layer not in SHAPES:
        raise AnsibleFilterError(f"layer_output: unknown layer {layer!r} (one of {', '.join(sorted(SHAPES))})")
    if not isinstance(result, dict):
        raise AnsibleFilterError(f"layer_output({layer}): a module result (dict) is needed, got {type(result).__name__}")
    return SHAPES[layer](result, bool(check_mode))


class FilterModule:
    def filters(self):
        return {"layer_output": layer_output}
