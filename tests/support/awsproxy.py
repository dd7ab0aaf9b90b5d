"""A response-shaping proxy on 127.0.0.1 in front of the moto server: AWS's documented lags, end to end.

moto answers as if every long operation were over at once. AWS does not, and these are the documented behaviours
the proxy puts back, so that a playbook's reaction to them is tested as a user would meet it:

- RDS: a new DB instance (CreateDBInstance, RestoreDBInstanceFromDBSnapshot, RestoreDBInstanceToPointInTime) is
  `creating` and has no `Endpoint` until it is available ("Endpoint ... not returned while creating"): the create
  response and the next `rds_creating_polls` DescribeDBInstances answers that show it say so.
- ElastiCache: a new replication group (CreateReplicationGroup) is `creating` without node groups (so without a
  primary endpoint) for the create response and the next `cache_creating_polls` DescribeReplicationGroups answers.
- ECS: a deleted service stays DRAINING while its tasks stop: for `ecs_draining_polls` DescribeServices answers
  after DeleteService it is DRAINING, and DeleteCluster fails with ClusterContainsServicesException meanwhile.
  A CreateCluster with capacity providers fails `ecs_slr_missing_creates` times with the InvalidParameterException
  AWS returns before the ECS service-linked role exists.
- RDS automatic minor version upgrades: with `rds_engine_upgraded_to` (e.g. "15.8") every instance reports that
  EngineVersion, and a ModifyDBInstance asking for an older one fails like AWS ("Cannot upgrade postgres from 15.8
  to 15.7").
- EC2: the network interfaces of ALBs, Fargate tasks and RDS are released minutes after their owner: the first
  `ec2_dependency_violations` DeleteSecurityGroup / DeleteSubnet calls of each resource fail with
  DependencyViolation; ReleaseAddress fails `ec2_eip_in_use` times with InvalidIPAddress.InUse after its NAT gateway
  was deleted.

Counting is per resource and per answer, so a test decides how many polls a lag lasts (no sleeping, no clock).
`proxy.log` lists every (service, action, status) that went through, with the shaped ones marked.
"""
from __future__ import annotations

import http.client
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length", "host"}


@dataclass
class Lags:
    rds_creating_polls: int = 0
    cache_creating_polls: int = 0
    ecs_draining_polls: int = 0
    ecs_slr_missing_creates: int = 0
    ec2_dependency_violations: int = 0
    ec2_eip_in_use: int = 0
    rds_engine_upgraded_to: str = ""


@dataclass
class Shaped:
    service: str
    action: str
    status: int
    shaped: str = ""
    at: float = 0.0           # time.time() when the request arrived
    method: str = ""
    path: str = ""


@dataclass
class _State:
    rds_creating: dict = field(default_factory=dict)      # instance id -> polls left
    cache_creating: dict = field(default_factory=dict)    # group id -> polls left
    ecs_draining: dict = field(default_factory=dict)      # service name -> polls left
    ecs_slr_missing: int = 0
    ec2_violations: dict = field(default_factory=dict)    # resource id -> failures left
    eip_in_use: dict = field(default_factory=dict)        # allocation id -> failures left
    nat_deleted: bool = False


def _service_of(headers) -> str:
    match = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request", headers.get("authorization", ""))
    return match.group(1) if match else "unknown"


def _xml_error(code: str, message: str, sender: str = "Sender") -> bytes:
    return (f'<ErrorResponse><Error><Type>{sender}</Type><Code>{code}</Code><Message>{message}</Message></Error>'
            f'<RequestId>proxy</RequestId></ErrorResponse>').encode()


def _ec2_error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code><Message>{message}'
            f'</Message></Error></Errors><RequestID>proxy</RequestID></Response>').encode()


class AwsProxy:
    """`AwsProxy(moto.url, Lags(...)).start()`; point WEBSTACK_AWS_ENDPOINT_URL at `proxy.url`; `stop()`."""

    def __init__(self, upstream: str, lags: Lags | None = None):
        self.upstream = urlparse(upstream)
        self.lags = lags or Lags()
        self.state = _State(ecs_slr_missing=self.lags.ecs_slr_missing_creates)
        self.log: list[Shaped] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "AwsProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    data = b""
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self):
                body = self._body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, out_headers, out = proxy.forward(self.command, self.path, headers, body)
                self.send_response(status)
                for key, value in out_headers:
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def shaped(self, action: str | None = None) -> list[Shaped]:
        return [s for s in self.log if s.shaped and (action is None or s.action == action)]

    # -- forwarding ---------------------------------------------------------------------------------------
    def _upstream(self, method, path, headers, body):
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
        try:
            fwd = {k: v for k, v in headers.items() if k not in HOP_BY_HOP}
            fwd["Host"] = f"{self.upstream.hostname}:{self.upstream.port}"
            fwd["Content-Length"] = str(len(body))
            conn.request(method, path, body=body, headers=fwd)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def forward(self, method, path, headers, body):
        arrived = time.time()
        service = _service_of(headers)
        target = headers.get("x-amz-target", "")
        params: dict = {}
        if target:
            action = target.rsplit(".", 1)[-1]
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                params = {}
        else:
            query = parse_qs(body.decode("utf-8", "replace")) if body and b"=" in body else {}
            query.update(parse_qs(urlparse(path).query))
            params = {k: v[0] for k, v in query.items()}
            action = params.get("Action", "")
        with self.lock:
            refused = self.refuse(service, action, params)
        if refused is not None:
            status, out = refused
            self.log.append(Shaped(service, action, status, "refused", arrived, method, path))
            ctype = "application/x-amz-json-1.1" if target else "text/xml"
            return status, [("Content-Type", ctype)], out
        status, out_headers, out = self._upstream(method, path, headers, body)
        with self.lock:
            new, note = self.reshape(service, action, params, status, out)
        self.log.append(Shaped(service, action, status, note, arrived, method, path))
        return status, out_headers, new

    # -- refusals (before the emulator sees the call) ---------------------------------------------------
    def refuse(self, service, action, params):
        st = self.state
        wanted = params.get("EngineVersion", "")
        if (service == "rds" and action == "ModifyDBInstance" and self.lags.rds_engine_upgraded_to and wanted
                and tuple(int(x) for x in wanted.split(".")) < tuple(int(x) for x in self.lags.rds_engine_upgraded_to.split("."))):
            return 400, _xml_error("InvalidParameterCombination",
                                   f"Cannot upgrade postgres from {self.lags.rds_engine_upgraded_to} to {wanted}")
        if service == "ecs" and action == "DeleteCluster" and any(v > 0 for v in st.ecs_draining.values()):
            return 400, json.dumps({"__type": "ClusterContainsServicesException", "message":
                                    "The Cluster cannot be deleted while Services are active."}).encode()
        if service == "ecs" and action == "CreateCluster" and params.get("capacityProviders") and st.ecs_slr_missing > 0:
            st.ecs_slr_missing -= 1
            return 400, json.dumps({"__type": "InvalidParameterException", "message":
                                    "Unable to assume the service linked role. Please verify that the ECS service "
                                    "linked role exists."}).encode()
        if service == "ec2" and action in ("DeleteSecurityGroup", "DeleteSubnet") and self.lags.ec2_dependency_violations:
            rid = params.get("GroupId") or params.get("SubnetId") or params.get("GroupName") or ""
            left = st.ec2_violations.setdefault(rid, self.lags.ec2_dependency_violations)
            if left > 0:
                st.ec2_violations[rid] = left - 1
                kind = "security group" if action == "DeleteSecurityGroup" else "subnet"
                return 400, _ec2_error("DependencyViolation", f"resource {rid} has a dependent object ({kind} in use "
                                                              "by a network interface)")
        if service == "ec2" and action == "ReleaseAddress" and st.nat_deleted and self.lags.ec2_eip_in_use:
            rid = params.get("AllocationId", "")
            left = st.eip_in_use.setdefault(rid, self.lags.ec2_eip_in_use)
            if left > 0:
                st.eip_in_use[rid] = left - 1
                return 400, _ec2_error("InvalidIPAddress.InUse", f"Address {rid} is in use.")
        return None

    # -- reshaping of the emulator's answers ------------------------------------------------------------
    def reshape(self, service, action, params, status, body):
        st, lags = self.state, self.lags
        if status >= 300:
            return body, ""
        text = body.decode("utf-8", "replace")
        if service == "rds" and action == "DescribeDBInstances" and lags.rds_engine_upgraded_to:
            major = lags.rds_engine_upgraded_to.split(".")[0]
            new = re.sub(rf"<EngineVersion>{major}\.[0-9.]+</EngineVersion>",
                         f"<EngineVersion>{lags.rds_engine_upgraded_to}</EngineVersion>", text)
            if new != text:
                return new.encode(), f"EngineVersion {lags.rds_engine_upgraded_to}"
        if service == "rds" and lags.rds_creating_polls:
            if action in ("CreateDBInstance", "RestoreDBInstanceFromDBSnapshot", "RestoreDBInstanceToPointInTime"):
                st.rds_creating[params.get("DBInstanceIdentifier") or params.get("TargetDBInstanceIdentifier")] = \
                    lags.rds_creating_polls
                return self._rds_creating(text, count=False), "creating, no endpoint"
            if action == "DescribeDBInstances":
                new = self._rds_creating(text, count=True)
                return new, ("creating, no endpoint" if new != body else "")
        if service == "elasticache" and lags.cache_creating_polls:
            if action == "CreateReplicationGroup":
                st.cache_creating[params.get("ReplicationGroupId")] = lags.cache_creating_polls
                return self._cache_creating(text, count=False), "creating, no node groups"
            if action == "DescribeReplicationGroups":
                new = self._cache_creating(text, count=True)
                return new, ("creating, no node groups" if new != body else "")
        if service == "ecs" and lags.ecs_draining_polls:
            if action == "DeleteService":
                name = params.get("service", "").split("/")[-1]
                st.ecs_draining[name] = lags.ecs_draining_polls
                data = json.loads(text)
                data.get("service", {})["status"] = "DRAINING"
                return json.dumps(data).encode(), "DRAINING"
            if action == "DescribeServices":
                data = json.loads(text)
                note = ""
                for svc in data.get("services", []):
                    left = st.ecs_draining.get(svc.get("serviceName"), 0)
                    if left > 0:
                        svc["status"] = "DRAINING"
                        svc["runningCount"] = max(1, svc.get("runningCount", 0))
                        st.ecs_draining[svc["serviceName"]] = left - 1
                        note = "DRAINING"
                return json.dumps(data).encode(), note
        if service == "ec2" and action == "DeleteNatGateway":
            st.nat_deleted = True
        return body, ""

    def _rds_creating(self, text: str, count: bool) -> bytes:
        def one(match):
            block = match.group(0)
            ident = re.search(r"<DBInstanceIdentifier>([^<]+)</DBInstanceIdentifier>", block)
            left = self.state.rds_creating.get(ident.group(1) if ident else "", 0)
            if left <= 0:
                return block
            if count:
                self.state.rds_creating[ident.group(1)] = left - 1
            block = re.sub(r"<DBInstanceStatus>[^<]*</DBInstanceStatus>", "<DBInstanceStatus>creating</DBInstanceStatus>", block)
            return re.sub(r"<Endpoint>.*?</Endpoint>", "", block, flags=re.S)
        return re.sub(r"<DBInstance>.*?</DBInstance>", one, text, flags=re.S).encode()

    def _cache_creating(self, text: str, count: bool) -> bytes:
        def one(match):
            block = match.group(0)
            ident = re.search(r"<ReplicationGroupId>([^<]+)</ReplicationGroupId>", block)
            left = self.state.cache_creating.get(ident.group(1) if ident else "", 0)
            if left <= 0:
                return block
            if count:
                self.state.cache_creating[ident.group(1)] = left - 1
            block = re.sub(r"<NodeGroups>.*?</NodeGroups>", "<NodeGroups/>", block, flags=re.S)
            return re.sub(r"<Status>[^<]*</Status>", "<Status>creating</Status>", block, count=1)
        return re.sub(r"<ReplicationGroup>.*?</ReplicationGroup>", one, text, flags=re.S).encode()
