#!/usr/bin/python
# -*- coding: utf-8 -*-
# GPL-3.0-or-later
"""webstack.platform.alarms: the notification topic and every alarm in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
module: alarms
short_description: Manage a webstack SNS alarm topic and its CloudWatch alarms in one call
description:
  - Creates, checks or deletes the SNS topic (display name, e-mail subscriptions, tags) and the CloudWatch
    metric alarms of one webstack environment with one module execution (amazon.aws needs one execution per
    alarm, a second of start-up each).
  - Every alarm gets the topic as its ALARM and OK action. The alarms under I(prefix) are read with one paged
    DescribeAlarms; only missing or differing alarms are written (PutMetricAlarm), alarms under the prefix that
    are not defined any more are deleted.
  - Check mode reports what would change and changes nothing; C(--diff) lists the changes.
version_added: 0.1.0
author: webstack maintainers
options:
  topic_name:
    description: Name of the SNS topic.
    type: str
    required: true
  display_name:
    description: Display name of the topic (e-mail sender name).
    type: str
    default: ""
  email_subscriptions:
    description: E-mail addresses subscribed to the topic (others are unsubscribed once confirmed).
    type: list
    elements: str
    default: []
  prefix:
    description: Prefix of every alarm name this module owns.
    type: str
    required: true
  alarms:
    description:
      - Alarm definitions in the snake_case shape of C(amazon.aws.cloudwatch_metric_alarm_info) (C(alarm_name),
        C(alarm_description), C(comparison_operator), C(threshold), C(evaluation_periods), C(datapoints_to_alarm),
        C(treat_missing_data), C(namespace), C(metric_name), C(statistic) or C(extended_statistic), C(period),
        C(dimensions) as a list of C(name)/C(value), or C(metrics) for metric math). Actions are added by the module.
    type: list
    elements: dict
    default: []
  state:
    description: Whether the topic and alarms should exist.
    type: str
    choices: [present, absent]
    default: present
  tags:
    description: Tags of the topic.
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Topic and alarms
  webstack.platform.alarms:
    topic_name: webstack-prod-alarms
    prefix: webstack-prod-
    email_subscriptions: [oncall@example.com]
    alarms:
      - alarm_name: webstack-prod-rds-cpu
        alarm_description: RDS CPU above 80%
        comparison_operator: GreaterThanThreshold
        threshold: 80
        evaluation_periods: 5
        datapoints_to_alarm: 3
        treat_missing_data: missing
        namespace: AWS/RDS
        metric_name: CPUUtilization
        statistic: Average
        period: 60
        dimensions: [{name: DBInstanceIdentifier, value: webstack-prod-postgres}]
"""

RETURN = r"""
topic_arn:
  description: ARN of the topic (empty in check mode before it exists, or after state=absent).
  type: str
  returned: always
alarm_names:
  description: Names of the alarms defined.
  type: list
  elements: str
  returned: always
changes:
  description: What changed (or would change in check mode), one line per action.
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.common.dict_transformations import snake_dict_to_camel_dict
from ansible_collections.webstack.platform.plugins.module_utils.base import Layer
from ansible_collections.webstack.platform.plugins.module_utils.compare import differences

SINGLE_METRIC_KEYS = ("Namespace", "MetricName", "Statistic", "ExtendedStatistic", "Period", "Unit")


def to_api(alarm, topic_arn):
    """PutMetricAlarm arguments of one alarm definition (snake_case, info shape)."""
    api = snake_dict_to_camel_dict(dict(alarm), capitalize_first=True)
    if "Metrics" in api:
        for key in SINGLE_METRIC_KEYS + ("Dimensions",):
            api.pop(key, None)
    elif "Dimensions" in api:
        api["Dimensions"] = [{"Name": d["Name"], "Value": str(d["Value"])} for d in api["Dimensions"]]
    api.pop("OkActions", None)
    api["Threshold"] = float(api["Threshold"])
    api["AlarmActions"] = [topic_arn]
    api["OKActions"] = [topic_arn]
    api["InsufficientDataActions"] = []
    api["ActionsEnabled"] = True
    return api


class Alarms(Layer):
    label = "alarms"
    argument_spec = dict(
        topic_name=dict(type="str", required=True),
        display_name=dict(type="str", default=""),
        email_subscriptions=dict(type="list", elements="str", default=[]),
        prefix=dict(type="str", required=True),
        alarms=dict(type="list", elements="dict", default=[]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        tags=dict(type="dict", default={}),
    )

    def __init__(self, module):
        super().__init__(module)
        self.sns = self.client("sns")
        self.cw = self.client("cloudwatch")

    @classmethod
    def validate(cls, module):
        for alarm in module.params["alarms"]:
            if not str(alarm.get("alarm_name", "")).startswith(module.params["prefix"]):
                module.fail_json(msg=f"alarm {alarm.get('alarm_name')!r} is not under the prefix {module.params['prefix']!r}")

    def find_topic(self):
        suffix = f":{self.p['topic_name']}"
        for page in self.sns.get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                if topic["TopicArn"].endswith(suffix):
                    return topic["TopicArn"]
        return None

    def ensure_topic(self):
        arn = self.find_topic()
        display = self.p["display_name"]
        tags = {k: str(v) for k, v in (self.p["tags"] or {}).items()}
        if arn is None:
            self.change(f"create SNS topic {self.p['topic_name']}")
            if self.check:
                return "", []
            kwargs = {"Name": self.p["topic_name"], "Attributes": {"DisplayName": display} if display else {}}
            if tags:
                kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
            arn = self.sns.create_topic(aws_retry=True, **kwargs)["TopicArn"]
            subscriptions = []
        else:
            attrs = self.sns.get_topic_attributes(aws_retry=True, TopicArn=arn)["Attributes"]
            if attrs.get("DisplayName", "") != display:
                self.change(f"topic {self.p['topic_name']}: display name '{attrs.get('DisplayName', '')}' -> '{display}'")
                if not self.check:
                    self.sns.set_topic_attributes(aws_retry=True, TopicArn=arn, AttributeName="DisplayName", AttributeValue=display)
            current_tags = {t["Key"]: t["Value"] for t in self.sns.list_tags_for_resource(aws_retry=True, ResourceArn=arn).get("Tags", [])}
            if current_tags != tags:
                self.change(f"topic {self.p['topic_name']}: tags")
                if not self.check:
                    extra = sorted(set(current_tags) - set(tags))
                    if extra:
                        self.sns.untag_resource(aws_retry=True, ResourceArn=arn, TagKeys=extra)
                    if tags:
                        self.sns.tag_resource(aws_retry=True, ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
            subscriptions = []
            for page in self.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn):
                subscriptions += page.get("Subscriptions", [])
        emails = {s["Endpoint"]: s for s in subscriptions if s.get("Protocol") == "email"}
        for address in self.p["email_subscriptions"]:
            if address not in emails:
                self.change(f"topic {self.p['topic_name']}: subscribe {address}")
                if not self.check:
                    self.sns.subscribe(aws_retry=True, TopicArn=arn, Protocol="email", Endpoint=address)
        for address, sub in emails.items():
            if address not in self.p["email_subscriptions"] and sub.get("SubscriptionArn", "").startswith("arn:"):
                self.change(f"topic {self.p['topic_name']}: unsubscribe {address}")
                if not self.check:
                    self.sns.unsubscribe(aws_retry=True, SubscriptionArn=sub["SubscriptionArn"])
        return arn, subscriptions

    def current_alarms(self):
        alarms = {}
        for page in self.cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=self.p["prefix"], AlarmTypes=["MetricAlarm"]):
            for alarm in page.get("MetricAlarms", []):
                alarms[alarm["AlarmName"]] = alarm
        return alarms

    def ensure_alarms(self, topic_arn):
        current = self.current_alarms()
        wanted_names = []
        for alarm in self.p["alarms"]:
            wanted = to_api(alarm, topic_arn or "arn:aws:sns:::pending-topic")
            name = wanted["AlarmName"]
            wanted_names.append(name)
            existing = current.get(name)
            if existing is None:
                self.change(f"create alarm {name}")
            else:
                diffs = differences(existing, wanted)
                if not diffs:
                    continue
                self.change(f"update alarm {name}: " + ", ".join(
                    f"{k} {existing.get(k)} -> {wanted[k]}" if k in ("Threshold", "EvaluationPeriods", "DatapointsToAlarm", "ComparisonOperator")
                    else k for k in diffs))
            if not self.check:
                self.cw.put_metric_alarm(aws_retry=True, **wanted)
        stale = sorted(set(current) - set(wanted_names))
        if stale:
            self.change("delete alarms " + ", ".join(stale))
            if not self.check:
                for start in range(0, len(stale), 100):
                    self.cw.delete_alarms(aws_retry=True, AlarmNames=stale[start:start + 100])
        return wanted_names

    def absent(self):
        stale = sorted(self.current_alarms())
        if stale:
            self.change("delete alarms " + ", ".join(stale))
            if not self.check:
                for start in range(0, len(stale), 100):
                    self.cw.delete_alarms(aws_retry=True, AlarmNames=stale[start:start + 100])
        arn = self.find_topic()
        if arn:
            self.change(f"delete SNS topic {self.p['topic_name']}")
            if not self.check:
                self.sns.delete_topic(aws_retry=True, TopicArn=arn)
        return {"topic_arn": "", "alarm_names": []}

    def present(self):
        topic_arn, _subs = self.ensure_topic()
        names = self.ensure_alarms(topic_arn)
        return {"topic_arn": topic_arn, "alarm_names": names}


def main():
    Alarms.main()


if __name__ == "__main__":
    main()
