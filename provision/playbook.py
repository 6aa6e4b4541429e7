"""Playbooks: YAML plays of tasks and handlers, parsed and checked before any host is touched.

Data flow (B): inventory ─▶ **playbook** (plays → tasks, handlers, tags) ─▶ executor. A
playbook is a list of plays:

    - name: etcd on the masters
      hosts: masters            # an inventory pattern
      become: true
      vars: {etcd_version: 3.5.15}
      tasks:
        - name: unit file
          template: {src: etcd.service.j2, dest: /etc/systemd/system/etcd.service}
          notify: restart etcd
          tags: [etcd]
      handlers:
        - name: restart etcd
          systemd: {name: etcd, state: restarted, daemon_reload: true}

A task has one module key and any of `name`, `when`, `loop`, `notify`, `tags`, `become`,
`vars`, `register`, `ignore_errors`. Unknown modules, unknown or missing module arguments and
notifications of handlers that do not exist are `PlaybookError`s naming the play and task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision import yamlfile
from provision.modules import MODULES, ArgumentError

TASK_KEYS = {"name", "when", "loop", "notify", "tags", "become", "vars", "register",
             "ignore_errors"}
PLAY_KEYS = {"name", "hosts", "become", "vars", "tasks", "handlers", "gather_facts", "tags"}


class PlaybookError(ValueError):
    """The playbook cannot run; the message names the file, play and task."""


@dataclass
class Task:
    name: str
    module: str
    args: dict[str, Any]
    when: Any = None
    loop: Any = None
    notify: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    become: bool | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    register: str | None = None
    ignore_errors: bool = False


@dataclass
class Play:
    name: str
    hosts: str
    tasks: list[Task]
    handlers: list[Task] = field(default_factory=list)
    become: bool = False
    vars: dict[str, Any] = field(default_factory=dict)
    gather_facts: bool = True


@dataclass
class Playbook:
    plays: list[Play]
    base_dir: Path = field(default_factory=Path.cwd)  # where template/copy `src` is looked up


def load(path: str | Path) -> Playbook:
    path = Path(path)
    return parse(yamlfile.read(path, PlaybookError), str(path), base_dir=path.resolve().parent)


def parse(text: str, source: str = "playbook", base_dir: Path | None = None) -> Playbook:
    doc = yamlfile.parse(text, source, PlaybookError)
    if not isinstance(doc, list) or not doc:
        raise PlaybookError(f"{source}: a playbook is a non-empty list of plays")
    plays = [_play(p, f"{source}: play {i}") for i, p in enumerate(doc, 1)]
    return Playbook(plays, base_dir or Path.cwd())


def _play(raw: Any, where: str) -> Play:
    if not isinstance(raw, dict):
        raise PlaybookError(f"{where}: a play must be a mapping")
    if raw.get("name"):
        where = f"{where} ({raw['name']})"
    unknown = set(raw) - PLAY_KEYS
    if unknown:
        raise PlaybookError(f"{where}: unknown play key {sorted(unknown)[0]!r}")
    if not raw.get("hosts"):
        raise PlaybookError(f"{where}: missing 'hosts'")
    hosts = raw["hosts"]
    hosts = ",".join(hosts) if isinstance(hosts, list) else str(hosts)
    play_tags = set(_strings(raw.get("tags"), f"{where}: tags"))
    tasks = [_task(t, f"{where} task {i}", play_tags)
             for i, t in enumerate(_list(raw.get("tasks"), f"{where}: tasks"), 1)]
    handlers = [_task(t, f"{where} handler {i}", play_tags)
                for i, t in enumerate(_list(raw.get("handlers"), f"{where}: handlers"), 1)]
    names = {h.name for h in handlers}
    for task in tasks + handlers:
        for wanted in task.notify:
            if wanted not in names:
                raise PlaybookError(f"{where}: task {task.name!r} notifies unknown handler "
                                    f"{wanted!r}")
    play_vars = raw.get("vars") or {}
    if not isinstance(play_vars, dict):
        raise PlaybookError(f"{where}: vars must be a mapping")
    return Play(str(raw.get("name") or hosts), hosts, tasks, handlers,
                bool(raw.get("become", False)), play_vars, bool(raw.get("gather_facts", True)))


def _task(raw: Any, where: str, play_tags: set[str]) -> Task:
    if not isinstance(raw, dict):
        raise PlaybookError(f"{where}: a task must be a mapping")
    if raw.get("name"):
        where = f"{where} ({raw['name']})"
    module_keys = [k for k in raw if k not in TASK_KEYS]
    if not module_keys:
        raise PlaybookError(f"{where}: no module given (one of {', '.join(sorted(MODULES))})")
    if len(module_keys) > 1:
        raise PlaybookError(f"{where}: more than one module or unknown keys: "
                            f"{', '.join(map(str, module_keys))}")
    module = module_keys[0]
    if module not in MODULES:
        raise PlaybookError(f"{where}: unknown module {module!r}")
    try:
        args = MODULES[module].normalize(raw[module])
        MODULES[module].check_names(args)
    except ArgumentError as exc:
        raise PlaybookError(f"{where}: {exc}") from None
    task_vars = raw.get("vars") or {}
    if not isinstance(task_vars, dict):
        raise PlaybookError(f"{where}: vars must be a mapping")
    return Task(
        name=str(raw.get("name") or module),
        module=module,
        args=args,
        when=raw.get("when"),
        loop=raw.get("loop"),
        notify=_strings(raw.get("notify"), f"{where}: notify"),
        tags=set(_strings(raw.get("tags"), f"{where}: tags")) | play_tags,
        become=raw.get("become"),
        vars=task_vars,
        register=raw.get("register"),
        ignore_errors=bool(raw.get("ignore_errors", False)),
    )


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PlaybookError(f"{where} must be a list")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in _list(value, where)]
