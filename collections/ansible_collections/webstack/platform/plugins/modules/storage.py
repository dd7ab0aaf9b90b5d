#!/usr/bin/python
# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""webstack.platform.storage (used by the `aws_storage` role): bucket, ECR repositories and secrets in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: storage
short_description: Manage the backups/logs bucket, ECR repositories and Secrets Manager entries in one call
description:
  - One module execution for what takes amazon.aws/community.aws five or more (s3_bucket, s3_lifecycle,
    ecs_ecr per repository, secretsmanager_secret per secret), about a second of start-up each.
  - Bucket - created if missing; public access block (all four settings), default encryption, versioning,
    object ownership, bucket policy, lifecycle rules and tags made exactly as given.
  - Repositories - created if missing; scan on push, tag mutability, lifecycle policy and tags.
  - Secrets - created if missing; the value is compared with the stored one (never shown) and a new
    version is put when it differs; tags and description.
  - Unlike amazon.aws.s3_bucket, check mode reads the bucket and reports drift (C(--check --diff)).
  - I(state=absent) deletes secrets (with I(recovery_window_days)), repositories and the bucket
    (only when empty unless I(force_delete)).
version_added: 0.1.0
author: webstack maintainers
options:
  state:
    description: Whether the resources should exist.
    type: str
    choices: [present, absent]
    default: present
  bucket:
    description: The bucket.
    type: dict
    suboptions:
      name:
        description: Bucket name.
        type: str
        required: true
      encryption:
        description: Default encryption.
        type: str
        choices: [AES256, "aws:kms"]
        default: AES256
      kms_key_id:
        description: KMS key for aws:kms (empty = AWS managed key).
        type: str
      versioning:
        description: Versioning on.
        type: bool
        default: true
      policy:
        description: Bucket policy document.
        type: json
      lifecycle_rules:
        description: Lifecycle rules in the S3 API shape (C(ID), C(Status), C(Filter), C(Transitions), ...).
        type: list
        elements: dict
        default: []
      object_ownership:
        description: Object ownership control.
        type: str
        choices: [BucketOwnerEnforced, BucketOwnerPreferred, ObjectWriter]
        default: BucketOwnerEnforced
      force_delete:
        description: With I(state=absent), delete every object version first.
        type: bool
        default: false
  repositories:
    description: ECR repositories.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Repository name.
        type: str
        required: true
      scan_on_push:
        description: Scan images on push.
        type: bool
        default: true
      image_tag_mutability:
        description: C(MUTABLE) or C(IMMUTABLE).
        type: str
        choices: [MUTABLE, IMMUTABLE]
        default: IMMUTABLE
      lifecycle_policy:
        description: Lifecycle policy document.
        type: json
      force_delete:
        description: With I(state=absent), delete a repository that still holds images.
        type: bool
        default: false
  secrets:
    description: Secrets Manager entries.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Secret name.
        type: str
        required: true
      key:
        description: Short key of the secret in the C(secrets) return value.
        type: str
      description:
        description: Description.
        type: str
        default: ""
      value:
        description: Secret string (or a JSON document as a dict, stored serialized).
        type: raw
        required: true
      kms_key_id:
        description: KMS key (empty = the AWS managed key).
        type: str
  recovery_window_days:
    description: With I(state=absent), days a deleted secret can be restored (0 = delete at once).
    type: int
    default: 7
  tags:
    description: Tags of every resource. Missing or different tags are set; others are kept.
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Storage of the environment
  webstack.platform.storage:
    bucket:
      name: webstack-prod-backups-logs
      lifecycle_rules:
        - {ID: retention, Status: Enabled, Filter: {Prefix: ""}, Expiration: {Days: 365}}
    repositories:
      - name: webstack-prod/app
    secrets:
      - name: webstack-prod/rds/master
        value: {username: admin, password: "{{ vault_rds_master_password }}"}
  no_log: true
"""

RETURN = r"""
bucket_arn:
  description: ARN of the bucket.
  returned: state=present with a bucket
  type: str
repositories:
  description: Per repository name, its C(arn) and C(uri).
  returned: state=present
  type: dict
secrets:
  description: ARN per secret key (secrets with a C(key)).
  returned: state=present
  type: dict
  sample: {rds_master: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webstack-prod/rds/master-AbCdEf"}
secret_arns:
  description: ARN per secret name.
  returned: state=present
  type: dict
changes:
  description: What changed (or would change in check mode), one line per action; never a secret value.
  returned: always
  type: list
"""

import json

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.webstack.platform.plugins.module_utils.base import Layer


def _norm_json(value):
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _sorted_statements(policy):
    """Policy documents compare equal regardless of key order and of single-item-vs-list values."""
    def norm(v):
        if isinstance(v, dict):
            return {k: norm(x) for k, x in sorted(v.items())}
        if isinstance(v, list):
            items = [norm(x) for x in v]
            if len(items) == 1 and not isinstance(items[0], (dict, list)):
                return items[0]
            return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
        return v
    return norm(policy)


class Storage(Layer):
    label = "storage"
    retries = {"retries": 10, "delay": 3}

    def __init__(self, module):
        super().__init__(module)
        self.tags = {k: str(v) for k, v in (self.p["tags"] or {}).items()}
        self.s3 = self.client("s3") if self.p["bucket"] else None
        self.ecr = self.client("ecr") if self.p["repositories"] else None
        self.sm = self.client("secretsmanager") if self.p["secrets"] else None

    # -- bucket ---------------------------------------------------------------------------------------
    def _s3_get(self, method, missing_codes, key=None, **kwargs):
        try:
            result = getattr(self.s3, method)(aws_retry=True, **kwargs)
            return result.get(key) if key else result
        except is_boto3_error_code(missing_codes):
            return None
        except Exception as e:  # pylint: disable=broad-except
            self.fail_aws(e, f"{method} failed")

    def bucket_present(self):
        b = self.p["bucket"]
        name = b["name"]
        exists = True
        try:
            self.s3.head_bucket(aws_retry=True, Bucket=name)
        except is_boto3_error_code(["404", "NoSuchBucket", "NotFound"]):
            exists = False
        except Exception as e:  # pylint: disable=broad-except
            self.fail_aws(e, f"cannot read bucket {name}")
        if not exists:
            self.change(f"create bucket {name}")
            if not self.check:
                kwargs = {"Bucket": name, "ObjectOwnership": b["object_ownership"]}
                region = self.module.region
                if region and region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
                try:
                    self.s3.create_bucket(aws_retry=True, **kwargs)
                    self.s3.get_waiter("bucket_exists").wait(Bucket=name)
                except Exception as e:  # pylint: disable=broad-except
                    self.fail_aws(e, f"cannot create bucket {name}")
        current = {}
        if exists:
            current["pab"] = self._s3_get("get_public_access_block", ["NoSuchPublicAccessBlockConfiguration"],
                                          "PublicAccessBlockConfiguration", Bucket=name)
            enc = self._s3_get("get_bucket_encryption", ["ServerSideEncryptionConfigurationNotFoundError"],
                               "ServerSideEncryptionConfiguration", Bucket=name)
            current["encryption"] = (enc or {}).get("Rules", [{}])[0].get("ApplyServerSideEncryptionByDefault")
            current["versioning"] = self._s3_get("get_bucket_versioning", [], Bucket=name).get("Status")
            current["policy"] = _norm_json(self._s3_get("get_bucket_policy", ["NoSuchBucketPolicy"], "Policy", Bucket=name))
            current["lifecycle"] = self._s3_get("get_bucket_lifecycle_configuration", ["NoSuchLifecycleConfiguration"],
                                                "Rules", Bucket=name) or []
            oc = self._s3_get("get_bucket_ownership_controls", ["OwnershipControlsNotFoundError"], "OwnershipControls",
                              Bucket=name)
            current["ownership"] = (oc or {}).get("Rules", [{}])[0].get("ObjectOwnership")
            tagset = self._s3_get("get_bucket_tagging", ["NoSuchTagSet", "NoSuchTagSetError"], "TagSet", Bucket=name) or []
            current["tags"] = {t["Key"]: t["Value"] for t in tagset}

        def apply(label, wanted, have, method, **kwargs):
            if wanted == have:
                return
            self.change(f"bucket {name}: set {label}")
            self.record(f"bucket.{label}", have, wanted)
            if not self.check:
                try:
                    getattr(self.s3, method)(aws_retry=True, Bucket=name, **kwargs)
                except Exception as e:  # pylint: disable=broad-except
                    self.fail_aws(e, f"cannot set {label} of bucket {name}")

        pab = dict(BlockPublicAcls=True, IgnorePublicAcls=True, BlockPublicPolicy=True, RestrictPublicBuckets=True)
        apply("public access block", pab, current.get("pab"), "put_public_access_block", PublicAccessBlockConfiguration=pab)
        enc = {"SSEAlgorithm": b["encryption"]}
        if b["encryption"] == "aws:kms" and b.get("kms_key_id"):
            enc["KMSMasterKeyID"] = b["kms_key_id"]
        have_enc = current.get("encryption")
        if have_enc and b["encryption"] == "aws:kms" and not b.get("kms_key_id"):
            have_enc = {k: v for k, v in have_enc.items() if k != "KMSMasterKeyID"}
        apply("encryption", enc, have_enc, "put_bucket_encryption",
              ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": enc,
                                                            "BucketKeyEnabled": b["encryption"] == "aws:kms"}]})
        wanted_versioning = "Enabled" if b["versioning"] else ("Suspended" if current.get("versioning") else None)
        apply("versioning", wanted_versioning, current.get("versioning"), "put_bucket_versioning",
              VersioningConfiguration={"Status": wanted_versioning or "Suspended"})
        apply("object ownership", b["object_ownership"], current.get("ownership"), "put_bucket_ownership_controls",
              OwnershipControls={"Rules": [{"ObjectOwnership": b["object_ownership"]}]})
        policy = _norm_json(b.get("policy"))
        if policy is not None:
            if _sorted_statements(policy) != _sorted_statements(current.get("policy")):
                apply("policy", policy, current.get("policy"), "put_bucket_policy", Policy=json.dumps(policy))
        rules = b["lifecycle_rules"] or []
        if rules:
            if _sorted_statements(rules) != _sorted_statements(current.get("lifecycle") or []):
                apply("lifecycle", rules, current.get("lifecycle"), "put_bucket_lifecycle_configuration",
                      LifecycleConfiguration={"Rules": rules})
        wanted_tags = dict(current.get("tags") or {}, **self.tags)
        if self.tags:
            apply("tags", wanted_tags, current.get("tags"), "put_bucket_tagging",
                  Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(wanted_tags.items())]})
        return f"arn:aws:s3:::{name}"

    def bucket_absent(self):
        name = self.p["bucket"]["name"]
        try:
            self.s3.head_bucket(aws_retry=True, Bucket=name)
        except is_boto3_error_code(["404", "NoSuchBucket", "NotFound"]):
            return
        except Exception as e:  # pylint: disable=broad-except
            self.fail_aws(e, f"cannot read bucket {name}")
        self.change(f"delete bucket {name}")
        if self.check:
            return
        try:
            if self.p["bucket"]["force_delete"]:
                paginator = self.s3.get_paginator("list_object_versions")
                for page in paginator.paginate(Bucket=name):
                    objects = [{"Key": o["Key"], "VersionId": o["VersionId"]}
                               for o in page.get("Versions", []) + page.get("DeleteMarkers", [])]
                    if objects:
                        self.s3.delete_objects(aws_retry=True, Bucket=name, Delete={"Objects": objects, "Quiet": True})
            self.s3.delete_bucket(aws_retry=True, Bucket=name)
        except Exception as e:  # pylint: disable=broad-except
            self.fail_aws(e, f"cannot delete bucket {name} (not empty? force_delete is false)")

    # -- repositories ---------------------------------------------------------------------------------
    def repositories_present(self):
        result = {}
        names = [r["name"] for r in self.p["repositories"]]
        existing = {}
        for name in names:
            try:
                repo = self.ecr.describe_repositories(aws_retry=True, repositoryNames=[name])["repositories"][0]
                existing[name] = repo
            except is_boto3_error_code("RepositoryNotFoundException"):
                pass
            except Exception as e:  # pylint: disable=broad-except
                self.fail_aws(e, f"cannot read repository {name}")
        for spec in self.p["repositories"]:
            name = spec["name"]
            repo = existing.get(name)
            if not repo:
                self.change(f"create repository {name}")
                if self.check:
                    result[name] = {"arn": None, "uri": None}
                    continue
                try:
                    repo = self.ecr.create_repository(
                        aws_retry=True, repositoryName=name, imageTagMutability=spec["image_tag_mutability"],
                        imageScanningConfiguration={"scanOnPush": spec["scan_on_push"]},
                        encryptionConfiguration={"encryptionType": "AES256"},
                        tags=[{"Key": k, "Value": v} for k, v in self.tags.items()])["repository"]
                except Exception as e:  # pylint: disable=broad-except
                    self.fail_aws(e, f"cannot create repository {name}")
                created = True
            else:
                created = False
            arn = repo["repositoryArn"]
            result[name] = {"arn": arn, "uri": repo["repositoryUri"]}
            try:
                if repo.get("imageTagMutability") != spec["image_tag_mutability"]:
                    self.change(f"repository {name}: tag mutability {spec['image_tag_mutability']}")
                    if not self.check:
                        self.ecr.put_image_tag_mutability(aws_retry=True, repositoryName=name,
                                                          imageTagMutability=spec["image_tag_mutability"])
                scan = repo.get("imageScanningConfiguration", {}).get("scanOnPush")
                if scan != spec["scan_on_push"]:
                    self.change(f"repository {name}: scan on push {spec['scan_on_push']}")
                    if not self.check:
                        self.ecr.put_image_scanning_configuration(
                            aws_retry=True, repositoryName=name,
                            imageScanningConfiguration={"scanOnPush": spec["scan_on_push"]})
                wanted_policy = _norm_json(spec.get("lifecycle_policy"))
                if wanted_policy is not None:
                    have = None
                    if not created:
                        try:
                            have = _norm_json(self.ecr.get_lifecycle_policy(aws_retry=True, repositoryName=name)
                                              .get("lifecyclePolicyText"))
                        except is_boto3_error_code("LifecyclePolicyNotFoundException"):
                            have = None
                    if _sorted_statements(have) != _sorted_statements(wanted_policy):
                        self.change(f"repository {name}: lifecycle policy")
                        self.record(f"repository.{name}.lifecycle", have, wanted_policy)
                        if not self.check:
                            self.ecr.put_lifecycle_policy(aws_retry=True, repositoryName=name,
                                                          lifecyclePolicyText=json.dumps(wanted_policy))
                if not created and self.tags:
                    have_tags = {t["Key"]: t["Value"] for t in
                                 self.ecr.list_tags_for_resource(aws_retry=True, resourceArn=arn).get("tags", [])}
                    missing = {k: v for k, v in self.tags.items() if have_tags.get(k) != v}
                    if missing:
                        self.change(f"repository {name}: tags {sorted(missing)}")
                        if not self.check:
                            self.ecr.tag_resource(aws_retry=True, resourceArn=arn,
                                                  tags=[{"Key": k, "Value": v} for k, v in missing.items()])
            except Exception as e:  # pylint: disable=broad-except
                self.fail_aws(e, f"cannot configure repository {name}")
        return result

    def repositories_absent(self):
        for spec in self.p["repositories"]:
            try:
                self.ecr.describe_repositories(aws_retry=True, repositoryNames=[spec["name"]])
            except is_boto3_error_code("RepositoryNotFoundException"):
                continue
            self.change(f"delete repository {spec['name']}")
            if not self.check:
                try:
                    self.ecr.delete_repository(aws_retry=True, repositoryName=spec["name"], force=spec["force_delete"])
                except Exception as e:  # pylint: disable=broad-except
                    self.fail_aws(e, f"cannot delete repository {spec['name']}")

    # -- secrets --------------------------------------------------------------------------------------
    def secrets_present(self):
        result = {}
        for spec in self.p["secrets"]:
            name = spec["name"]
            value = spec["value"]
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            try:
                current = self.sm.describe_secret(aws_retry=True, SecretId=name)
                if current.get("DeletedDate"):
                    self.change(f"restore secret {name} (scheduled for deletion)")
                    if not self.check:
                        self.sm.restore_secret(aws_retry=True, SecretId=name)
            except is_boto3_error_code("ResourceNotFoundException"):
                current = None
            except Exception as e:  # pylint: disable=broad-except
                self.fail_aws(e, f"cannot read secret {name}")
            try:
                if not current:
                    self.change(f"create secret {name}")
                    if self.check:
                        result[name] = None
                        continue
                    kwargs = dict(Name=name, Description=spec["description"], SecretString=text,
                                  Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()])
                    if spec.get("kms_key_id"):
                        kwargs["KmsKeyId"] = spec["kms_key_id"]
                    result[name] = self.sm.create_secret(aws_retry=True, **kwargs)["ARN"]
                    continue
                result[name] = current["ARN"]
                stored = None
                try:
                    stored = self.sm.get_secret_value(aws_retry=True, SecretId=name).get("SecretString")
                except is_boto3_error_code("ResourceNotFoundException"):
                    stored = None
                if _norm_json(stored) != _norm_json(text):
                    self.change(f"secret {name}: new value (not shown)")
                    if not self.check:
                        self.sm.put_secret_value(aws_retry=True, SecretId=name, SecretString=text)
                if (current.get("Description") or "") != spec["description"]:
                    self.change(f"secret {name}: description")
                    if not self.check:
                        self.sm.update_secret(aws_retry=True, SecretId=name, Description=spec["description"])
                have_tags = {t["Key"]: t["Value"] for t in current.get("Tags", [])}
                missing = {k: v for k, v in self.tags.items() if have_tags.get(k) != v}
                if missing:
                    self.change(f"secret {name}: tags {sorted(missing)}")
                    if not self.check:
                        self.sm.tag_resource(aws_retry=True, SecretId=name,
                                             Tags=[{"Key": k, "Value": v} for k, v in missing.items()])
            except Exception as e:  # pylint: disable=broad-except
                self.fail_aws(e, f"cannot manage secret {name}")
        return result

    def secrets_absent(self):
        days = self.p["recovery_window_days"]
        for spec in self.p["secrets"]:
            try:
                current = self.sm.describe_secret(aws_retry=True, SecretId=spec["name"])
            except is_boto3_error_code("ResourceNotFoundException"):
                continue
            if current.get("DeletedDate"):
                continue
            self.change(f"delete secret {spec['name']}")
            if not self.check:
                kwargs = {"ForceDeleteWithoutRecovery": True} if days == 0 else {"RecoveryWindowInDays": days}
                try:
                    self.sm.delete_secret(aws_retry=True, SecretId=spec["name"], **kwargs)
                except Exception as e:  # pylint: disable=broad-except
                    self.fail_aws(e, f"cannot delete secret {spec['name']}")

    def present(self):
        result = {}
        if self.p["bucket"]:
            result["bucket_arn"] = self.bucket_present()
        result["repositories"] = self.repositories_present() if self.p["repositories"] else {}
        result["secret_arns"] = self.secrets_present() if self.p["secrets"] else {}
        result["secrets"] = {s["key"]: result["secret_arns"].get(s["name"]) for s in self.p["secrets"] if s.get("key")}
        return result

    def absent(self):
        if self.p["secrets"]:
            self.secrets_absent()
        if self.p["repositories"]:
            self.repositories_absent()
        if self.p["bucket"]:
            self.bucket_absent()
        return {}


Storage.argument_spec = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    bucket=dict(type="dict", options=dict(
        name=dict(type="str", required=True),
        encryption=dict(type="str", choices=["AES256", "aws:kms"], default="AES256"),
        kms_key_id=dict(type="str"),
        versioning=dict(type="bool", default=True),
        policy=dict(type="json"),
        lifecycle_rules=dict(type="list", elements="dict", default=[]),
        object_ownership=dict(type="str", choices=["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"],
                              default="BucketOwnerEnforced"),
        force_delete=dict(type="bool", default=False),
    )),
    repositories=dict(type="list", elements="dict", default=[], options=dict(
        name=dict(type="str", required=True),
        scan_on_push=dict(type="bool", default=True),
        image_tag_mutability=dict(type="str", choices=["MUTABLE", "IMMUTABLE"], default="IMMUTABLE"),
        lifecycle_policy=dict(type="json"),
        force_delete=dict(type="bool", default=False),
    )),
    secrets=dict(type="list", elements="dict", default=[], no_log=False, options=dict(
        name=dict(type="str", required=True),
        key=dict(type="str", no_log=False),
        description=dict(type="str", default=""),
        value=dict(type="raw", required=True, no_log=True),
        kms_key_id=dict(type="str"),
    )),
    recovery_window_days=dict(type="int", default=7),
    tags=dict(type="dict", default={}),
)


def main():
    Storage.main()

if __name__ == "__main__":
    main()
