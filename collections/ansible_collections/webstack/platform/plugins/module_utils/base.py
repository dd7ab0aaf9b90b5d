# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base of the webstack.platform modules: one module run manages one concept (a layer, a rollout, a snapshot).

A module is a `Layer` subclass with its `argument_spec` and `present()` / `absent()` (or `run()`), started by
`main()`: `MyLayer.main()` builds the AnsibleAWSModule (check mode supported), runs `validate(module)` (bad input
is refused before any client exists), builds the layer, runs the method for `state` and exits. What every module
shares is here, once:

- clients: `self.client("ec2")` is `module.client(service, retry_decorator=AWSRetry.jittered_backoff(...))` with
  the layer's `retries` (extra retried error codes per service in `retry_codes`), one client per service, region
  and retried codes; `self.paginate(client, operation, **params)` reads every page with the same retries;
- changes: `self.change(message, call, *args, **kwargs)` records a change (one line of `changes`) and makes it
  with `call` unless in check mode; `self.record(key, before, after)` adds fields to the diff;
- diff, in one shape `{"before": ..., "after": ...}`: the recorded fields when the module records any
  (`{"before": {key: old}, "after": {key: new}}`), else the change lines (`{"before": "", "after": "line\\n..."}`);
  `{}` when nothing changed and nothing was recorded;
- errors: an AWS error leaving `present()`/`absent()`/`run()` fails through `fail_json_aws` with a message naming
  the layer and the step (the last change, or "reading the current state") and the changes made so far;
  `self.fail(msg, **result)` for the module's own refusals;
- exit: `changed` (any change), `changes`, `diff` and the method's result dict (a module whose result has another
  shape overrides `exit`, `fail_aws` or `current_step`);
- time: `self.clock` (`Waiter.clock`) and `self.waiter(timeout, interval)` for every wait, so one fake clock
  drives a whole run in the unit tests.
"""
from __future__ import annotations

try:
    import botocore.exceptions
except ImportError:  # AnsibleAWSModule reports the missing dependency itself
    pass

from ansible_collections.amazon.aws.plugins.module_utils.botocore import paginated_query_with_retries
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.webstack.platform.plugins.module_utils.waiter import Waiter

# What an AWS call raises (`except AWS_ERRORS`); empty without botocore (the module then fails on its own).
AWS_ERRORS = ()
try:
    AWS_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
except NameError:
    pass


def retrying(retries=10, delay=3, extra_codes=()):
    """The jittered-backoff retry decorator of amazon.aws with extra retried error codes."""
    return AWSRetry.jittered_backoff(retries=retries, delay=delay, catch_extra_error_codes=list(extra_codes) or None)


class Layer:
    """One module run. Subclasses set `argument_spec` (and `label`) and define `present()`/`absent()` or `run()`."""

    label = ""                     # what the module manages, first word of its AWS error messages
    argument_spec = {}
    retries = {"retries": 8, "delay": 2}   # AWSRetry.jittered_backoff() of every client
    retry_codes = {}               # service -> extra error codes retried (e.g. a resource busy for a moment)

    def __init__(self, module):
        self.module = module
        self.p = self.params = module.params
        self.check = module.check_mode
        self.changes = []
        self.before, self.after = {}, {}
        self.clock = Waiter.clock
        self.started = self.clock.now()
        self._clients = {}

    # -- set-up ---------------------------------------------------------------------------------------------
    @classmethod
    def main(cls):
        module = AnsibleAWSModule(argument_spec=cls.argument_spec, supports_check_mode=True)
        cls.validate(module)
        layer = cls(module)
        layer.exit(layer.guarded(layer.run))

    @classmethod
    def validate(cls, module):
        """Refuse bad input (module.fail_json) before the layer and its clients exist."""

    def client(self, service, retry_codes=None, **extra):
        """The service's client with the layer's retries (one per service, region and retried codes); `retry_codes`
        replaces the layer's extra retried codes of the service (`retry_codes[service]`)."""
        codes = tuple(self.retry_codes.get(service, ()) if retry_codes is None else retry_codes)
        key = (service, extra.get("region"), codes)
        if key not in self._clients:
            self._clients[key] = self.module.client(service, retry_decorator=retrying(extra_codes=codes, **self.retries),
                                                    **extra)
        return self._clients[key]

    def paginate(self, client, operation, **params):
        """The whole result of a paginated operation, each page with the layer's retries."""
        return paginated_query_with_retries(client, operation, retry_decorator=retrying(**self.retries), **params)

    def waiter(self, timeout=None, interval=None):
        """A Waiter on the layer's clock; by default the module's wait_timeout and poll_interval."""
        return Waiter(self.p["wait_timeout"] if timeout is None else timeout,
                      self.p["poll_interval"] if interval is None else interval, clock=self.clock)

    def elapsed(self):
        return round(self.clock.now() - self.started, 1)

    # -- changes and diff -----------------------------------------------------------------------------------
    def change(self, message, call=None, *args, **kwargs):
        """Record `message`; unless in check mode make the change (`call(*args, **kwargs)`) and return its result."""
        self.changes.append(message)
        if call is not None and not self.check:
            return call(*args, **kwargs)
        return None

    def record(self, key, before, after):
        """Fields of the diff: `key` was `before` and is (or would be) `after`."""
        self.before[key] = before
        self.after[key] = after

    def diff(self):
        if self.before or self.after:
            return {"before": self.before, "after": self.after}
        if self.changes:
            return {"before": "", "after": "".join(f"{line}\n" for line in self.changes)}
        return {}

    # -- run, errors, exit ----------------------------------------------------------------------------------
    def run(self):
        return self.present() if self.p.get("state", "present") == "present" else self.absent()

    def current_step(self):
        """What the run was doing: the last change, or the reading before any."""
        return self.changes[-1] if self.changes else "reading the current state"

    def guarded(self, method, *args, **kwargs):
        """`method(...)`; an AWS error fails the module naming the layer and the step."""
        try:
            return method(*args, **kwargs)
        except AWS_ERRORS as exc:
            self.fail_aws(exc, (f"{self.label}: " if self.label else "") + self.current_step())

    def fail_aws(self, exc, msg, **result):
        self.module.fail_json_aws(exc, msg=msg, changes=self.changes, **result)

    def fail(self, msg, **result):
        self.module.fail_json(msg=msg, **result)

    def result(self, **result):
        return dict(changed=bool(self.changes), changes=self.changes, diff=self.diff(), **result)

    def exit(self, result=None):
        self.module.exit_json(**self.result(**(result or {})))

