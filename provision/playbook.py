"""Playbooks: YAML plays of tasks and handlers, parsed and checked before any host is touched.

Data flow (B): inventory ─▶ **playbook** (plays → tasks, handlers, tags) ─▶ executor. A
playbook is a list of plays:

    - name: etcd on the masters
      hosts: masters            # an inventory pattern
      become: true
      vars: {etcd_version: 3.5.15}
      roles: [common]           # roles/common/{tasks,handlers,defaults,vars}/main.yml
      tasks:
        - name: unit file
          template: {src: etcd.service.j2, dest: /etc/systemd/system/etcd.service}
          notify: restart etcd
          tags: [etcd]
        - meta: flush_handlers  # run the notified handlers now, not at the end
        - block:                # rescue runs on the hosts that failed; always on all
            - include_tasks: tasks/check.yml
          rescue: [{command: journalctl -u etcd -n 20}]
          when: facts.os_id == 'ubuntu'
      handlers:
        - name: restart etcd
          listen: etcd config   # `notify: etcd config` reaches it too
          systemd: {name: etcd, state: restarted, daemon_reload: true}

A task has one module key and any of `name`, `when`, `loop`, `notify`, `tags`, `become`,
`vars`, `register`, `ignore_errors` (and `listen`, for handlers). A block's `when`,
`become`, `tags` and `vars` pass to every task inside it, rescue and always included.
`include_tasks` (or `import_tasks`) is static: the file, looked up next to the file that
includes it and then in the playbook's folder, is read now and behaves like a block.
A role's tasks run before the play's own; its defaults are the weakest variables, below
the inventory; its templates/ and files/ are where its `src:` are found first. Unknown
modules, unknown or missing module arguments and notifications that no handler name or
`listen` matches are `PlaybookError`s naming the file, play and task.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision import yamlfile
from provision.modules import MODULES, ArgumentError

TASK_KEYS = {"name", "when", "loop", "notify", "tags", "become", "vars", "register",
             "ignore_errors", "listen"}
BLOCK_KEYS = {"name", "block", "rescue", "always", "when", "become", "tags", "vars"}
INCLUDE_KEYS = {"name", "include_tasks", "import_tasks", "when", "become", "tags", "vars"}
ROLE_KEYS = {"role", "name", "when", "become", "tags", "vars"}  # any other key: a role param
PLAY_KEYS = {"name", "hosts", "become", "vars", "tasks", "handlers", "gather_facts", "tags",
             "roles"}
META_ACTIONS = ("flush_handlers",)


class PlaybookError(ValueError):
    """The playbook cannot run; the message names the file, play and task."""


@dataclass
class Task:
    name: str
    module: str  # a MODULES key, or "meta" (args: {"action": "flush_handlers"})
    args: dict[str, Any]
    when: Any = None
    loop: Any = None
    notify: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    become: bool | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    register: str | None = None
    ignore_errors: bool = False
    listen: list[str] = field(default_factory=list)  # handlers: topics a `notify` may name
    scope_vars: list[dict[str, Any]] = field(default_factory=list)  # blocks/includes/role vars
    defaults: dict[str, Any] = field(default_factory=dict)  # role defaults: below inventory
    role_dir: Path | None = None  # a role's task: its templates/ and files/ come first


@dataclass
class Block:
    """`block:` with optional `rescue:` and `always:`; what it passed down to its tasks
    (when, become, tags, vars) is already in them."""
    name: str
    block: list[Step]
    rescue: list[Step] = field(default_factory=list)
    always: list[Step] = field(default_factory=list)


Step = Task | Block


@dataclass
class Play:
    name: str
    hosts: str
    tasks: list[Step]
    handlers: list[Task] = field(default_factory=list)
    become: bool = False
    vars: dict[str, Any] = field(default_factory=dict)
    gather_facts: bool = True

    def all_tasks(self) -> Iterator[Task]:
        """Every task of the play, inside blocks too, in file order (handlers excluded)."""
        return walk(self.tasks)


@dataclass
class Playbook:
    plays: list[Play]
    base_dir: Path = field(default_factory=Path.cwd)  # where template/copy `src` is looked up


def walk(steps: list[Step]) -> Iterator[Task]:
    for step in steps:
        if isinstance(step, Block):
            for part in (step.block, step.rescue, step.always):
                yield from walk(part)
        else:
            yield step


def load(path: str | Path) -> Playbook:
    path = Path(path)
    return parse(yamlfile.read(path, PlaybookError), str(path), base_dir=path.resolve().parent)


def parse(text: str, source: str = "playbook", base_dir: Path | None = None) -> Playbook:
    doc = yamlfile.parse(text, source, PlaybookError)
    if not isinstance(doc, list) or not doc:
        raise PlaybookError(f"{source}: a playbook is a non-empty list of plays")
    base = base_dir or Path.cwd()
    plays = [_play(p, f"{source}: play {i}", base) for i, p in enumerate(doc, 1)]
    return Playbook(plays, base)


@dataclass(frozen=True)
class _Where:
    """Where the steps being parsed come from: for messages and for finding includes."""
    base_dir: Path  # the playbook's folder
    folder: Path  # the including file's folder: looked in first
    files: tuple[Path, ...] = ()  # the include chain, to refuse a loop


def _play(raw: Any, where: str, base: Path) -> Play:
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
    at = _Where(base, base)
    tasks: list[Step] = []
    handlers: list[Task] = []
    for i, entry in enumerate(_list(raw.get("roles"), f"{where}: roles"), 1):
        role_tasks, role_handlers = _role(entry, f"{where} role {i}", base)
        tasks += role_tasks
        names = {h.name for h in handlers}  # a role applied twice brings its handlers once
        handlers += [h for h in role_handlers if h.name not in names]
    tasks += _steps(raw.get("tasks"), where, at)
    handlers += _handlers(raw.get("handlers"), where, at)
    _inherit(tasks + handlers, tags=_strings(raw.get("tags"), f"{where}: tags"))
    _check_notify(list(walk(tasks)) + handlers, handlers, where)
    play_vars = raw.get("vars") or {}
    if not isinstance(play_vars, dict):
        raise PlaybookError(f"{where}: vars must be a mapping")
    return Play(str(raw.get("name") or hosts), hosts, tasks, handlers,
                bool(raw.get("become", False)), play_vars, bool(raw.get("gather_facts", True)))


def _check_notify(tasks: list[Task], handlers: list[Task], where: str) -> None:
    known = {h.name for h in handlers} | {topic for h in handlers for topic in h.listen}
    for task in tasks:
        for wanted in task.notify:
            if wanted not in known:
                raise PlaybookError(f"{where}: task {task.name!r} notifies unknown handler "
                                    f"{wanted!r} (no handler has that name or listens to it)")


def _steps(value: Any, where: str, at: _Where, kind: str = "task") -> list[Step]:
    items = _list(value, f"{where}: {kind}s")
    return [_step(raw, f"{where} {kind} {i}", at, kind) for i, raw in enumerate(items, 1)]


def _handlers(value: Any, where: str, at: _Where) -> list[Task]:
    handlers = []
    for i, h in enumerate(_steps(value, where, at, "handler"), 1):
        if not isinstance(h, Task) or h.module == "meta":
            raise PlaybookError(f"{where} handler {i}: a handler is one module task, not a "
                                "block, an include or meta")
        handlers.append(h)
    return handlers


def _step(raw: Any, where: str, at: _Where, kind: str = "task") -> Step:
    if not isinstance(raw, dict):
        raise PlaybookError(f"{where}: a task must be a mapping")
    if raw.get("name"):
        where = f"{where} ({raw['name']})"
    if "block" in raw:
        return _block(raw, where, at)
    if "include_tasks" in raw or "import_tasks" in raw:
        return _include(raw, where, at)
    if "meta" in raw:
        return _meta(raw, where)
    if "listen" in raw and kind != "handler":
        raise PlaybookError(f"{where}: only handlers take 'listen'")
    return _task(raw, where)


def _block(raw: dict[str, Any], where: str, at: _Where) -> Block:
    _only(raw, BLOCK_KEYS, where)
    block = Block(str(raw.get("name") or "block"),
                  *(_steps(raw.get(part), f"{where} {part}", at)
                    for part in ("block", "rescue", "always")))
    if not block.block:
        raise PlaybookError(f"{where}: a block needs at least one task")
    _inherit([block], **_passed_down(raw, where))
    return block


def _include(raw: dict[str, Any], where: str, at: _Where) -> Block:
    _only(raw, INCLUDE_KEYS, where)
    name = str(raw.get("include_tasks") or raw.get("import_tasks") or "")
    if not name or "{{" in name:
        raise PlaybookError(f"{where}: include_tasks takes a file name (no templating: "
                            "includes are read when the playbook is loaded)")
    path = next((d / name for d in (at.folder, at.base_dir) if (d / name).is_file()), None)
    if path is None:
        raise PlaybookError(f"{where}: include_tasks: no file {name} "
                            f"(looked in {at.folder} and {at.base_dir})")
    path = path.resolve()
    if path in at.files:
        chain = " -> ".join(p.name for p in (*at.files[at.files.index(path):], path))
        raise PlaybookError(f"{where}: include_tasks: {name} includes itself ({chain})")
    inner = _Where(at.base_dir, path.parent, (*at.files, path))
    steps = _steps(_read(path), str(path), inner)
    block = Block(str(raw.get("name") or f"include_tasks {name}"), steps)
    _inherit([block], **_passed_down(raw, where))
    return block


def _meta(raw: dict[str, Any], where: str) -> Task:
    _only(raw, {"name", "meta"}, where)
    if raw["meta"] not in META_ACTIONS:
        raise PlaybookError(f"{where}: meta: {raw['meta']!r} is not supported "
                            f"(only {', '.join(META_ACTIONS)})")
    return Task(str(raw.get("name") or f"meta: {raw['meta']}"), "meta", {"action": raw["meta"]})


def _task(raw: dict[str, Any], where: str) -> Task:
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
    return Task(
        name=str(raw.get("name") or module),
        module=module,
        args=args,
        when=raw.get("when"),
        loop=raw.get("loop"),
        notify=_strings(raw.get("notify"), f"{where}: notify"),
        tags=set(_strings(raw.get("tags"), f"{where}: tags")),
        become=raw.get("become"),
        vars=_vars(raw, where),
        register=raw.get("register"),
        ignore_errors=bool(raw.get("ignore_errors", False)),
        listen=_strings(raw.get("listen"), f"{where}: listen"),
    )


def _role(entry: Any, where: str, base: Path) -> tuple[list[Step], list[Task]]:
    """A role's tasks and handlers, with its defaults, vars and folder passed to each."""
    spec = {"role": entry} if isinstance(entry, str) else entry
    if not isinstance(spec, dict) or not (spec.get("role") or spec.get("name")):
        raise PlaybookError(f"{where}: a role is a name or a mapping with 'role'")
    name = str(spec.get("role") or spec["name"])
    where = f"{where} ({name})"
    folder = base / "roles" / name
    if not folder.is_dir():
        raise PlaybookError(f"{where}: role {name!r} not found (looked for {folder})")
    meta = _read(folder / "meta" / "main.yml", optional=True)
    if isinstance(meta, dict) and meta.get("dependencies"):
        raise PlaybookError(f"{where}: role dependencies (meta/main.yml) are not supported; "
                            "list the roles in the play instead")
    defaults = _mapping(_read(folder / "defaults" / "main.yml", optional=True),
                        f"{folder}/defaults/main.yml")
    params = {k: v for k, v in spec.items() if k not in ROLE_KEYS}
    role_vars = {**_mapping(_read(folder / "vars" / "main.yml", optional=True),
                            f"{folder}/vars/main.yml"), **_vars(spec, where), **params}
    tasks = _steps(_read(folder / "tasks" / "main.yml", optional=True),
                   f"{folder}/tasks/main.yml", _Where(base, folder / "tasks"))
    handlers = _handlers(_read(folder / "handlers" / "main.yml", optional=True),
                         f"{folder}/handlers/main.yml", _Where(base, folder / "handlers"))
    passed = {**_passed_down(spec, where), "vars": role_vars}
    _inherit(tasks, **passed, defaults=defaults, role_dir=folder)
    _inherit(handlers, vars=passed["vars"], defaults=defaults, role_dir=folder)
    return tasks, handlers


def _passed_down(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """What a block, an include or a role hands to every task inside it."""
    return {"when": raw.get("when"), "become": raw.get("become"),
            "tags": _strings(raw.get("tags"), f"{where}: tags"), "vars": _vars(raw, where)}


def _inherit(steps: list[Step], *, when: Any = None, become: bool | None = None,
             tags: list[str] | None = None, vars: dict[str, Any] | None = None,
             defaults: dict[str, Any] | None = None, role_dir: Path | None = None) -> None:
    """Push an enclosing scope's settings into its tasks. Scopes apply inside out, so each
    one goes in front: the outermost condition is tested first, its vars are the weakest."""
    for task in walk(steps):
        if when is not None:
            task.when = _conditions(when) + _conditions(task.when)
        if task.become is None:
            task.become = become
        task.tags |= set(tags or ())
        if vars:
            task.scope_vars.insert(0, vars)
        if defaults:
            task.defaults = {**defaults, **task.defaults}
        task.role_dir = task.role_dir or role_dir


def _conditions(when: Any) -> list[Any]:
    return [] if when is None else list(when) if isinstance(when, list) else [when]


def _read(path: Path, optional: bool = False) -> Any:
    if optional and not path.is_file():
        return None
    return yamlfile.parse(yamlfile.read(path, PlaybookError), str(path), PlaybookError)


def _only(raw: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = set(raw) - allowed
    if extra:
        raise PlaybookError(f"{where}: unknown key {sorted(extra)[0]!r} here "
                            f"(allowed: {', '.join(sorted(allowed))})")


def _vars(raw: dict[str, Any], where: str) -> dict[str, Any]:
    value = raw.get("vars") or {}
    if not isinstance(value, dict):
        raise PlaybookError(f"{where}: vars must be a mapping")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PlaybookError(f"{where}: must be a mapping")
    return value


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
