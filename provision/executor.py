"""The executor: runs a playbook's plays against inventory hosts, all hosts in parallel.

Data flow (B): inventory + playbook ─▶ **executor** (hosts in parallel) ─▶ taskrun ─▶ modules
─▶ transport ─▶ host ─▶ report (progress, recap, JSON log).

The strategy is Ansible's "linear" one: each task runs on every live host of the play at
once (a thread pool, one job per host), and the next task starts when all have finished,
so the output reads task by task. A host that fails or cannot be reached drops out of the
rest of the run; the others go on. Handlers run once, at the end of the play (or at a
`meta: flush_handlers`), on the hosts whose tasks notified their name or a topic they
`listen` to. Nothing here raises for a host's problem: it ends up in the recap. Only a bad
playbook or inventory (raised before any host is touched) stops a run.

A block changes who drops out: a host that fails inside `block:` goes on with `rescue:`
(its failure counts as `rescued`, as in Ansible's recap, not as `failed`), and `always:`
runs on every host that started the block, failed or not; a failure that no rescue took
care of still ends the host's run after `always:`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from provision import facts as facts_mod
from provision.inventory import Host, Inventory
from provision.modules.systemd import UNITS_CHANGED
from provision.playbook import Block, Play, Playbook, Step, Task
from provision.report import Counts, HostResult, Reporter
from provision.taskrun import HostContext, run_task
from provision.transport import FabricTransport, LocalTransport, Transport, Unreachable


@dataclass
class Options:
    check: bool = False
    diff: bool = False
    limit: list[str] | None = None  # host names or patterns; None means every host
    tags: set[str] | None = None  # run only tasks with one of these tags (or `always`)
    skip_tags: set[str] | None = None
    forks: int = 10
    log_path: str | Path | None = None


def connect(host: Host) -> Transport:
    """The default way to reach an inventory host."""
    if host.connection == "local":
        return LocalTransport(host.name)
    return FabricTransport(host.name, host.address, user=host.user, port=host.port, key=host.key)


def selected(task: Task, options: Options) -> bool:
    if options.skip_tags and task.tags & options.skip_tags:
        return False
    if options.tags is None or "always" in task.tags:
        return True
    return bool(task.tags & options.tags)


class Executor:
    def __init__(self, inventory: Inventory, options: Options | None = None, *,
                 connect: Callable[[Host], Transport] = connect,
                 out: TextIO | None = None) -> None:
        self.inventory = inventory
        self.options = options or Options()
        self.connect = connect
        self.report = Reporter(out or sys.stdout, show_diff=self.options.diff)
        self.contexts: dict[str, HostContext] = {}
        self.down: set[str] = set()  # failed or unreachable: out for the rest of the run
        self.unreachable: set[str] = set()  # the part of `down` that no rescue can help
        limit = self.options.limit
        self.allowed = None if limit is None else {
            h.name for h in inventory.select(",".join(limit))}

    def run(self, playbook: Playbook) -> dict[str, Counts]:
        """Run every play; returns the recap (also printed, and logged if asked)."""
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.options.forks)) as pool:
                self.pool = pool
                for play in playbook.plays:
                    self._play(play, playbook.base_dir)
        finally:
            for ctx in self.contexts.values():
                try:
                    ctx.transport.close()
                except Exception:  # closing a dead connection must not hide the recap
                    pass
            self.report.print_recap()
            if self.options.log_path:
                self.report.write_log(self.options.log_path)
        return self.report.recap

    def _play(self, play: Play, base_dir: Path) -> None:
        self.report.play(play.name)
        hosts = [h for h in self.inventory.select(play.hosts)
                 if (self.allowed is None or h.name in self.allowed) and h.name not in self.down]
        if not hosts:
            self.report.note("skipping: no hosts matched")
            return
        contexts = [self._context(h, play) for h in hosts]
        if play.gather_facts:
            self._each(play, "Gathering Facts", contexts, self._gather)
        self._steps(play, play.tasks, contexts, base_dir, rescuable=False)
        self._flush_handlers(play, contexts, base_dir)

    def _steps(self, play: Play, steps: list[Step], contexts: list[HostContext],
               base_dir: Path, rescuable: bool) -> None:
        """Run tasks and blocks in order; `rescuable`: an enclosing block has a rescue."""
        for step in steps:
            if isinstance(step, Block):
                self._block(play, step, contexts, base_dir, rescuable)
            elif step.module == "meta":  # flush_handlers runs only what tasks notified,
                # so neither tags nor `when` apply to it
                self._flush_handlers(play, contexts, base_dir)
            elif selected(step, self.options):
                self._each(play, step.name, contexts, self._task_fn(step, play, base_dir),
                           rescuable=rescuable)

    def _block(self, play: Play, block: Block, contexts: list[HostContext], base_dir: Path,
               rescuable: bool) -> None:
        started = [c for c in contexts if c.host.name not in self.down]
        before = set(self.down)

        def failing() -> set[str]:
            return {c.host.name for c in started} & (self.down - before - self.unreachable)

        self._steps(play, block.block, started, base_dir, rescuable or bool(block.rescue))
        failed = failing()
        if block.rescue and failed:
            self.down -= failed
            self._steps(play, block.rescue, [c for c in started if c.host.name in failed],
                        base_dir, rescuable)
        if block.always:
            failed = failing()
            self.down -= failed  # back in for `always`, out again after it
            self._steps(play, block.always,
                        [c for c in started if c.host.name not in self.unreachable],
                        base_dir, rescuable)
            self.down |= failed

    def _flush_handlers(self, play: Play, contexts: list[HostContext], base_dir: Path) -> None:
        for handler in play.handlers:
            triggers = {handler.name, *handler.listen}
            notified = [c for c in contexts if c.notified & triggers]
            if notified:
                self._each(play, handler.name, notified,
                           self._task_fn(handler, play, base_dir), handler=True)
        for ctx in contexts:
            ctx.notified.clear()

    def _context(self, host: Host, play: Play) -> HostContext:
        ctx = self.contexts.get(host.name)
        if ctx is None:
            ctx = self.contexts[host.name] = HostContext(host, _Lazy(self.connect, host))
        # Play vars stay raw here: they may use facts, which are not gathered yet.
        ctx.variables = {**host.vars, **self._special(host)}
        ctx.play_vars = play.vars
        return ctx

    def _special(self, host: Host) -> dict[str, Any]:
        return {
            "inventory_hostname": host.name,
            "groups": {"all": list(self.inventory.hosts), **self.inventory.groups},
            "hostvars": {h.name: {**h.vars, "address": h.address, "port": h.port}
                         for h in self.inventory.hosts.values()},
        }

    def _gather(self, ctx: HostContext) -> HostResult:
        if "os_id" not in ctx.facts:
            ctx.facts.update(facts_mod.gather(ctx.transport))
            ctx.facts.setdefault(UNITS_CHANGED, False)
        return HostResult(ctx.host.name, "ok")

    def _task_fn(self, task: Task, play: Play, base_dir: Path) -> Callable[[HostContext],
                                                                             HostResult]:
        return lambda ctx: run_task(task, ctx, play_become=play.become,
                                    check_mode=self.options.check, base_dir=base_dir)

    def _each(self, play: Play, name: str, contexts: list[HostContext],
              fn: Callable[[HostContext], HostResult], handler: bool = False,
              rescuable: bool = False) -> None:
        live = [c for c in contexts if c.host.name not in self.down]
        if not live:
            return
        self.report.task(name, handler=handler)
        futures = [self.pool.submit(self._guarded, fn, c) for c in live]
        for future in futures:  # host order, not finishing order: stable, readable output
            result = future.result()
            if result.status in ("failed", "unreachable") and not result.ignored:
                self.down.add(result.host)
                if result.status == "unreachable":
                    self.unreachable.add(result.host)
                else:
                    result.rescued = rescuable
            self.report.result(play.name, name, result)

    @staticmethod
    def _guarded(fn: Callable[[HostContext], HostResult], ctx: HostContext) -> HostResult:
        try:
            return fn(ctx)
        except Unreachable as exc:
            return HostResult(ctx.host.name, "unreachable", str(exc))
        except Exception as exc:  # never let one host's surprise end the others' run
            return HostResult(ctx.host.name, "failed", f"{type(exc).__name__}: {exc}")


class _Lazy:
    """Connects on first use, inside the host's worker thread, so that a slow or dead host
    never holds up the others and its failure is reported as `unreachable`."""

    def __init__(self, factory: Callable[[Host], Transport], host: Host) -> None:
        self._factory, self._host, self._t = factory, host, None
        self.host = host.name

    def _get(self) -> Transport:
        if self._t is None:
            try:
                self._t = self._factory(self._host)
            except Unreachable:
                raise
            except Exception as exc:
                raise Unreachable(f"{self._host.name}: {type(exc).__name__}: {exc}") from exc
        return self._t

    def run(self, command: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self._get().run(command, **kw)

    def put(self, local: Any, remote_path: str, mode: int | None = None) -> None:
        self._get().put(local, remote_path, mode)

    def get(self, remote_path: str) -> bytes:
        return self._get().get(remote_path)

    def close(self) -> None:
        if self._t is not None:
            self._t.close()
