"""One task on one host: variables, `when`, `loop`, templated arguments, `become`, the module.

Data flow (B): executor (one thread per host) ─▶ **run_task** ─▶ module ─▶ transport. It turns
a parsed `Task` plus the host's variables and facts into module calls, one per loop item,
and folds the item results into one `HostResult`. It also keeps two pieces of per-host
state the executor relies on: handlers notified by a change (`HostContext.notified`) and
whether a unit file changed since the last daemon-reload (a host fact the systemd module
reads). `Unreachable` is the only exception that escapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.inventory import Host
from provision.modules import MODULES, run_module
from provision.modules.systemd import UNITS_CHANGED, is_unit_file
from provision.playbook import Task
from provision.report import HostResult, ItemResult
from provision.templating import TemplateError, evaluate, render
from provision.transport import Become, Transport, Unreachable

NO_LOOP = object()


@dataclass
class HostContext:
    host: Host
    transport: Transport
    facts: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)  # inventory vars + special vars
    play_vars: dict[str, Any] = field(default_factory=dict)  # raw; rendered per task
    registered: dict[str, Any] = field(default_factory=dict)  # `register:` results, run-wide
    notified: set[str] = field(default_factory=set)


def run_task(task: Task, ctx: HostContext, *, play_become: bool, check_mode: bool,
             base_dir: Path) -> HostResult:
    name = ctx.host.name
    try:
        variables = task_variables(task, ctx)
        items = [NO_LOOP] if task.loop is None else render(task.loop, variables)
        if not isinstance(items, list):
            return HostResult(name, "failed", f"loop must be a list, got {items!r}")
    except TemplateError as exc:
        return HostResult(name, "failed", str(exc))

    become = play_become if task.become is None else bool(task.become)
    transport: Transport = Become(ctx.transport) if become else ctx.transport
    outcomes = []
    for item in items:
        item_vars = variables if item is NO_LOOP else {**variables, "item": item}
        outcomes.append(_run_item(task, ctx, transport, item_vars, check_mode, base_dir))

    if task.loop is None:
        r = outcomes[0]
        result = HostResult(name, r.status, r.msg, r.diff, data=r.data)
    else:
        result = HostResult(name, _overall([o.status for o in outcomes]),
                            items=[ItemResult(i, o.status, o.msg, o.diff)
                                   for i, o in zip(items, outcomes, strict=True)],
                            data={"results": [o.data for o in outcomes]})
    if result.status == "changed":
        ctx.notified.update(task.notify)
    if result.status == "failed" and task.ignore_errors:
        result.ignored = True
    if task.register:
        ctx.registered[task.register] = {
            **result.data, "changed": result.status == "changed",
            "failed": result.status == "failed", "skipped": result.status == "skipped",
            "msg": result.msg,
        }
    return result


def task_variables(task: Task, ctx: HostContext) -> dict[str, Any]:
    """Precedence, lowest first: role defaults, inventory, play vars, registered results,
    the enclosing blocks', includes' and role's vars (outermost first), task vars. Each
    layer is rendered key by key, so a value may use the keys before it in its layer.

    Role defaults are the weakest, yet in Ansible a default such as
    `etcd_url: "http://{{ etcd_host }}:{{ etcd_port }}"` sees the `etcd_port` a role
    parameter sets. So when the task has both, a second pass renders the defaults again
    against what the first pass found above them, and the layers above once more."""
    variables = {**ctx.variables, "facts": ctx.facts}
    above = {**variables, **_render_layer(ctx.play_vars, variables), **ctx.registered}
    layers = (*task.scope_vars, task.vars)
    result, upper = _stack(_render_defaults(task.defaults, above), above, layers)
    if task.defaults and task.scope_vars:
        result, _ = _stack(_render_defaults(task.defaults, upper), above, layers)
    return result


def _stack(defaults: dict[str, Any], above: dict[str, Any],
           layers: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """All variables, and those set above the defaults."""
    variables = {**defaults, **above}
    upper = dict(above)
    for layer in layers:
        rendered = _render_layer(layer, variables)
        variables.update(rendered)
        upper.update(rendered)
    return variables, upper


def _render_layer(layer: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in layer.items():
        out[key] = render(value, {**variables, **out})
    return out


def _render_defaults(defaults: dict[str, Any], above: dict[str, Any]) -> dict[str, Any]:
    """Like `_render_layer`, but anything set above wins over a default's sibling."""
    out: dict[str, Any] = {}
    for key, value in defaults.items():
        out[key] = render(value, {**out, **above})
    return out


@dataclass
class _Outcome:
    status: str
    msg: str = ""
    diff: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _run_item(task: Task, ctx: HostContext, transport: Transport, variables: dict[str, Any],
              check_mode: bool, base_dir: Path) -> _Outcome:
    try:
        if task.when is not None and not evaluate(task.when, variables):
            return _Outcome("skipped", "conditional result was False")
        args = render(task.args, variables)
    except TemplateError as exc:
        return _Outcome("failed", str(exc))
    try:
        result = run_module(MODULES[task.module], transport, args, check_mode, ctx.facts,
                            variables=variables, base_dir=base_dir, role_dir=task.role_dir)
    except Unreachable:
        raise
    except Exception as exc:  # a bug in a module must fail this host, not the whole run
        return _Outcome("failed", f"module {task.module} crashed: {type(exc).__name__}: {exc}")
    if result.changed and is_unit_file(str(result.data.get("path", ""))):
        ctx.facts[UNITS_CHANGED] = True
    if result.data.get("daemon_reloaded"):
        ctx.facts[UNITS_CHANGED] = False
    status = "failed" if result.failed else "changed" if result.changed else "ok"
    return _Outcome(status, result.msg, result.diff, result.data)


def _overall(statuses: list[str]) -> str:
    for status in ("failed", "changed", "ok"):
        if status in statuses:
            return status
    return "skipped"
