# Copyright: webstack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin ``webstack.platform.validate_roles``: the preflight of a list of roles in ONE task.

For each role of ``roles`` (in order) it does in-process what ``include_role: {name: R, tasks_from: validate}``
does, without a task per check:

1. validates the variables against the role's ``validate`` entry point of ``meta/argument_specs.yml`` (ansible's
   ``ArgumentSpecValidator``, the message of the automatic validation: ``Validation of arguments failed: ...``);
2. interprets the role's ``tasks/validate.yml`` with the role's ``defaults/main.yml``, ``vars/main.yml``,
   ``role_path`` and role-adjacent plugins (e.g. ``filter_plugins``): ``ansible.builtin.assert`` (``that``,
   ``fail_msg``/``msg``, ``quiet``), ``ansible.builtin.set_fact`` (into the variable scope of the run; later roles
   see it, and the facts are published like set_fact's when everything passed), ``ansible.builtin.fail``, with the
   task keywords ``name``, ``when``, ``vars``, ``no_log``, ``loop`` and ``loop_control`` (``loop_var``,
   ``index_var``, ``label``). ``import_tasks``/``include_tasks`` of a file of the role are followed when every task
   of the file can be interpreted; otherwise the file is *deferred*: when its ``when`` holds it is returned in
   ``deferred`` (``{role, tasks_from}``) for the caller to run as real tasks (``include_role``), since only a real
   task can call a module on the managed host. Any other module or keyword is refused with a message naming it.

The problems of a role are all reported (every failed assert, each loop item on its own), each with the role, the
task name and its ``fail_msg``; the run stops after the first role that has a problem (the later roles' checks
often assume the earlier roles' inputs are right). A failed argument spec skips that role's tasks (they assume the
types). An error raised by a check after a problem of the same role is taken as a consequence and not reported.

Secrets: the message of a failing task with ``no_log`` is replaced by ansible's censored text, and a successful
result that publishes a fact set by a ``no_log`` task is returned with ``_ansible_no_log`` (censored like a no_log
set_fact's). A failed result carries no fact, only the messages (fail_msg texts name variables, never values).
"""

from __future__ import annotations

import os
from collections import ChainMap

import yaml
from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.parsing.mod_args import ModuleArgsParser
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import add_all_plugin_dirs
from ansible.utils.collection_loader._collection_finder import _get_collection_role_path
from ansible.utils.path import unfrackpath
from ansible.utils.vars import load_extra_vars

_PlainLoader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)

CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"

_ASSERT = frozenset(('assert', 'ansible.builtin.assert', 'ansible.legacy.assert'))
_FAIL = frozenset(('fail', 'ansible.builtin.fail', 'ansible.legacy.fail'))
_SET_FACT = frozenset(C._ACTION_SET_FACT)
_TASK_FILES = frozenset(C._ACTION_ALL_INCLUDE_IMPORT_TASKS)

# task keywords the interpreter honours; `tags` and `check_mode` are accepted and have no effect on a check
_KEYWORDS = frozenset(('name', 'when', 'vars', 'no_log', 'loop', 'loop_control', 'tags', 'check_mode'))
_LOOP_CONTROL = frozenset(('loop_var', 'index_var', 'label'))
_ASSERT_ARGS = frozenset(('that', 'fail_msg', 'msg', 'success_msg', 'quiet'))


class Unsupported(AnsibleError):
    """A task of a validate file that cannot be interpreted in-process."""


class _Problem:
    __slots__ = ('role', 'task', 'message', 'item')

    def __init__(self, role, task, message, item=None):
        self.role, self.task, self.message, self.item = role, task, message, item

    def as_dict(self):
        out = {'role': self.role, 'task': self.task, 'msg': self.message}
        if self.item is not None:
            out['item'] = self.item
        return out

    def __str__(self):
        item = f" (item={self.item})" if self.item is not None else ''
        return f"{self.role} : {self.task.rstrip('.')}{item}: {self.message}"


def _memoize_compiles(templar):
    """Compile each distinct template or expression once per run (ansible-core 2.19 compiles a template every time it
    renders one, and the checks of a platform render the same role defaults again and again): the engine of this
    run's templar, and the copies lazy containers make of it, share one cache. A compiled template does not depend on
    the variables it is rendered with. Without the engine's methods (another ansible-core) nothing is changed."""
    engine = getattr(templar, '_engine', None)
    cache = {}

    def memoized(original):
        def compile_once(source, options):
            try:
                key = (original.__name__, str(source), options)
                return cache[key]
            except KeyError:
                cache[key] = compiled = original(source, options)
                return compiled
            except TypeError:  # unhashable options: compile as usual
                return original(source, options)
        return compile_once

    for name in ('_compile_template', '_compile_expression'):
        if engine is not None and callable(getattr(engine, name, None)):
            setattr(engine, name, memoized(getattr(engine, name)))


def _error_text(ex):
    return getattr(ex, 'message', None) or str(ex) or type(ex).__name__


class _Task:
    """One parsed task of a validate file."""

    __slots__ = ('name', 'action', 'args', 'when', 'vars', 'no_log', 'loop', 'loop_control', 'tasks', 'file')

    def __init__(self, name, action, args, ds):
        self.name = name
        self.action = action
        self.args = args
        when = ds.get('when')
        self.when = [] if when is None else (when if isinstance(when, list) else [when])
        self.vars = ds.get('vars') or {}
        self.no_log = ds.get('no_log', False)
        self.loop = ds.get('loop')
        self.loop_control = ds.get('loop_control') or {}
        self.tasks = None  # the interpreted tasks of an import/include
        self.file = None  # the file of an import/include, relative to the role's tasks/


class _RoleFiles:
    """What the interpreter needs of a role: defaults, vars, argument spec of the entry point, its tasks."""

    def __init__(self, plugin, name, path, entry_point):
        self.name = name
        self.path = path
        self.entry_point = entry_point
        self.defaults = plugin._load_role_yaml(path, 'defaults', 'main') or {}
        self.vars = plugin._load_role_yaml(path, 'vars', 'main') or {}
        # the specs are data for ArgumentSpecValidator, never templated: read without ansible's origin/trust tagging
        specs = plugin._load_role_yaml(path, 'meta', 'argument_specs', plain=True)
        if specs is None:
            specs = (plugin._load_role_yaml(path, 'meta', 'main', plain=True) or {})
        self.spec = ((specs or {}).get('argument_specs') or {}).get(entry_point)
        self.tasks = plugin._parse_task_file(self, f'{entry_point}.yml', seen=())


class ActionModule(ActionBase):
    """Run the argument spec and the validate tasks of several roles in one task (see the module docstring)."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    # ---- loading ---------------------------------------------------------------------------------------------
    def _find_role(self, name, task_vars):
        if '.' in name:
            found = _get_collection_role_path(name)
            if found:
                return found[0], unfrackpath(found[1])
        playbook_dir = task_vars.get('playbook_dir') or self._loader.get_basedir()
        search = [os.path.join(playbook_dir, 'roles')] + list(C.DEFAULT_ROLES_PATH or []) + [playbook_dir]
        for base in search:
            path = unfrackpath(os.path.join(base, name))
            if os.path.isdir(os.path.join(path, 'tasks')):
                return name, path
        raise AnsibleError(f"the role '{name}' was not found in {':'.join(search)}")

    def _load_role_yaml(self, path, subdir, main, plain=False):
        for ext in ('.yml', '.yaml', '.json', ''):
            candidate = os.path.join(path, subdir, main + ext)
            if os.path.isfile(candidate):
                if plain:
                    with open(candidate, 'rb') as stream:
                        return yaml.load(stream, Loader=_PlainLoader)  # nosec B506 - a safe loader
                return self._loader.load_from_file(candidate, unsafe=True, trusted_as_template=True)
        return None

    def _parse_task_file(self, role, filename, seen):
        path = os.path.join(role.path, 'tasks', filename)
        if path in seen:
            raise Unsupported(f"{role.name}: tasks/{filename} includes itself")
        if not os.path.isfile(path):
            raise Unsupported(f"{role.name}: tasks/{filename} not found")
        data = self._loader.load_from_file(path, unsafe=True, trusted_as_template=True) or []
        if not isinstance(data, list):
            raise Unsupported(f"{role.name}: tasks/{filename} is not a list of tasks")
        return [self._parse_task(role, filename, ds, seen + (path,)) for ds in data]

    def _parse_task(self, role, filename, ds, seen):
        if not isinstance(ds, dict):
            raise Unsupported(f"{role.name}: tasks/{filename}: a task must be a mapping, got {ds!r}")
        name = str(ds.get('name') or '')
        where = f"{role.name}: tasks/{filename}: task '{name}'"
        for block_key in ('block', 'rescue', 'always'):
            if block_key in ds:
                raise Unsupported(f"{where}: blocks are not interpreted in-process; list the tasks themselves")
        try:
            action, args, _delegate = ModuleArgsParser(task_ds=ds).parse(skip_action_validation=True)
        except AnsibleError as ex:
            raise Unsupported(f"{where}: {_error_text(ex)}") from ex
        keys = set(ds) - _KEYWORDS - {action}
        if keys:
            raise Unsupported(f"{where}: the task keyword(s) {', '.join(sorted(keys))} are not interpreted in-process "
                              f"(supported: {', '.join(sorted(_KEYWORDS))})")
        task = _Task(name, action, args or {}, ds)
        if not isinstance(task.loop_control, dict) or set(task.loop_control) - _LOOP_CONTROL:
            raise Unsupported(f"{where}: loop_control supports {', '.join(sorted(_LOOP_CONTROL))} only")
        if action in _ASSERT:
            if set(task.args) - _ASSERT_ARGS or 'that' not in task.args:
                raise Unsupported(f"{where}: assert takes that, fail_msg (msg), success_msg and quiet")
        elif action in _FAIL:
            if set(task.args) - {'msg'}:
                raise Unsupported(f"{where}: fail takes msg only")
        elif action in _SET_FACT:
            if task.loop is not None:
                raise Unsupported(f"{where}: set_fact with a loop is not interpreted in-process")
        elif action in _TASK_FILES:
            if task.loop is not None:
                raise Unsupported(f"{where}: {action} with a loop is not interpreted in-process")
            file = task.args.get('file', task.args.get('_raw_params'))
            if not isinstance(file, str) or '{{' in file or set(task.args) - {'file', '_raw_params'}:
                raise Unsupported(f"{where}: {action} needs a plain file name of the role's tasks/")
            task.file = file
            try:
                task.tasks = self._parse_task_file(role, file, seen)
            except Unsupported:
                task.tasks = None  # deferred: run by the caller as real tasks when its `when` holds
        else:
            raise Unsupported(
                f"{where}: module {action} cannot be interpreted in-process (assert, fail, set_fact and "
                "import_tasks/include_tasks of such tasks can): put it in a task file of the role that validate.yml "
                "includes, which preflight then runs as real tasks")
        return task

    # ---- running ---------------------------------------------------------------------------------------------
    def _templar_for(self, layers):
        self._view_templar.available_variables = ChainMap(*layers)
        return self._view_templar

    def _no_log(self, task, layers):
        value = task.no_log
        if isinstance(value, str):
            value = self._templar_for(layers).template(value)
        return boolean(value, strict=False)

    def _when(self, task, layers):
        templar = self._templar_for(layers)
        return all(templar.evaluate_conditional(c) for c in task.when)

    def _run_tasks(self, run, tasks, layers):
        for task in tasks:
            self._run_task(run, task, layers)

    def _run_task(self, run, task, outer_layers):
        role = run.role
        layers = [run.extra, run.facts, task.vars] + outer_layers if task.vars else [run.extra, run.facts] + outer_layers
        try:
            no_log = self._no_log(task, layers)
        except Exception as ex:  # pylint: disable=broad-except
            run.error(task, ex, True)
            return
        try:
            if task.loop is None:
                if self._when(task, layers):
                    self._run_action(run, task, layers, no_log, None)
                return
            items = self._templar_for(layers).template(task.loop)
            if not isinstance(items, list):
                raise AnsibleError(f"loop must be a list, got {type(items).__name__}")
        except Exception as ex:  # pylint: disable=broad-except
            run.error(task, ex, no_log)
            return
        loop_var = task.loop_control.get('loop_var', 'item')
        index_var = task.loop_control.get('index_var')
        for index, item in enumerate(items):
            local = {loop_var: item, 'ansible_loop_var': loop_var}
            if index_var:
                local[index_var] = index
            item_layers = [run.extra, local] + layers[1:]
            label = item
            try:
                if 'label' in task.loop_control:
                    label = self._templar_for(item_layers).template(task.loop_control['label'])
                if self._when(task, item_layers):
                    self._run_action(run, task, item_layers, no_log, label)
            except Exception as ex:  # pylint: disable=broad-except
                run.error(task, ex, no_log, label)

    def _run_action(self, run, task, layers, no_log, item):
        action = task.action
        if action in _TASK_FILES:
            if task.tasks is None:
                run.deferred.append({'role': run.role.name, 'tasks_from': task.file})
            else:
                self._run_tasks(run, task.tasks, layers)
            return
        templar = self._templar_for(layers)
        if action in _SET_FACT:
            for key, value in task.args.items():
                if key == 'cacheable':
                    continue
                run.facts[key] = templar.template(value)
                run.published[key] = no_log
            return
        if action in _FAIL:
            run.fail(task, templar.template(task.args.get('msg', 'Failed as requested from task')), no_log, item)
            return
        that = task.args['that']
        for condition in that if isinstance(that, list) else [that]:
            if not templar.evaluate_conditional(condition):
                msg = task.args.get('fail_msg', task.args.get('msg', 'Assertion failed'))
                try:
                    msg = templar.template(msg)
                except Exception as ex:  # pylint: disable=broad-except
                    msg = f"Assertion failed ({condition}); its fail_msg could not be templated: {_error_text(ex)}"
                run.fail(task, ' '.join(msg) if isinstance(msg, list) else msg, no_log, item)
                return

    def _validate_spec(self, run, role, layers):
        options = (role.spec or {}).get('options') or {}
        if not role.spec:
            return True
        name = f"Validating arguments against arg spec '{role.entry_point}'"
        if role.spec.get('short_description'):
            name += ' - ' + role.spec['short_description']
        templar = self._templar_for(layers)
        try:
            view = templar.available_variables
            args = templar.template({key: view[key] for key in options if key in view})
            result = ArgumentSpecValidator(options).validate(args, validate_role_argument_spec=True)
        except Exception as ex:  # pylint: disable=broad-except
            run.problems.append(_Problem(role.name, name, _error_text(ex)))
            return False
        if result.error_messages:
            run.problems.append(_Problem(role.name, name,
                                         'Validation of arguments failed:\n%s' % '\n'.join(result.error_messages)))
            return False
        return True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars if task_vars is not None else {}
        result = super().run(tmp, task_vars)
        del tmp
        _valid, args = self.validate_argument_spec(argument_spec=dict(
            roles=dict(type='list', elements='str', required=True),
            entry_point=dict(type='str', default='validate'),
        ))
        self._view_templar = self._templar.copy_with_new_env(available_variables={})
        _memoize_compiles(self._view_templar)
        extra_keys = set(load_extra_vars(self._loader))
        run = _Run(extra={k: task_vars[k] for k in extra_keys if k in task_vars})

        checked = []
        for role_name in args['roles']:
            try:
                found_name, path = self._find_role(role_name, task_vars)
                add_all_plugin_dirs(path)
                role = _RoleFiles(self, found_name, path, args['entry_point'])
            except AnsibleError as ex:
                result.update(failed=True, msg=f"{role_name}: {_error_text(ex)}", role=role_name)
                return result
            run.role = role
            magic = {'role_path': path, 'role_name': found_name.split('.')[-1], 'ansible_role_name': found_name}
            role_vars = {k: v for k, v in role.vars.items() if k not in extra_keys}
            layers = [magic, role_vars, task_vars, role.defaults]
            if self._validate_spec(run, role, [run.extra, run.facts] + layers):
                self._run_tasks(run, role.tasks, layers)
            checked.append(found_name)
            if run.problems:
                problems = run.problems
                head = (f"{len(problems)} problems of role {found_name}:\n" if len(problems) > 1 else '')
                result.update(failed=True, role=found_name, checked=checked,
                              problems=[p.as_dict() for p in problems],
                              msg=head + '\n'.join(('- ' if len(problems) > 1 else '') + str(p) for p in problems))
                return result

        result.update(changed=False, checked=checked, deferred=run.deferred,
                      msg=f"{len(checked)} roles validated: {', '.join(checked)}")
        if run.facts:
            result['ansible_facts'] = dict(run.facts)
            if any(run.published.values()):
                result['_ansible_no_log'] = True
        return result


class _Run:
    """State of one run: the facts set so far, the problems of the current role, the deferred task files."""

    def __init__(self, extra):
        self.extra = extra
        self.facts = {}
        self.published = {}  # fact name -> set by a no_log task
        self.problems = []
        self.deferred = []
        self.role = None

    def fail(self, task, message, no_log, item=None):
        self.problems.append(_Problem(self.role.name, task.name or task.action, CENSORED if no_log else message,
                                      None if item is None else (CENSORED if no_log else item)))

    def error(self, task, ex, no_log, item=None):
        if any(p.role == self.role.name for p in self.problems):
            return  # a consequence of the problem already reported
        self.fail(task, _error_text(ex), no_log, item)
