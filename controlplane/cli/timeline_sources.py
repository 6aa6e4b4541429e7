"""What ``kubeclass status --watch`` observes, each source turning changes into happenings.

Where it sits: under :mod:`controlplane.cli.timeline`, which starts these sources and
prints what they report. Every source only looks, as a student could by hand:

    Processes    the local cluster's pidfiles, twice a second: a component stopped or started
    StoreMembers each etcd member's status (etcdctl endpoint status, over its JSON gateway),
                 four times a second: a member unreachable or back, the leader lost or elected
    ApiServers   each API server's /readyz, twice a second: not ready (and why), ready again
    Leases       the controller manager's and the scheduler's Leases (a watch through the
                 API): the holder stops renewing, another master takes the Lease
    Nodes        Nodes (a watch): Ready or NotReady, taints put on and taken off
    Pods         Pods (a watch): created, scheduled, Running and Ready, marked for deletion
                 (evicted when its node carries a NoExecute taint), deleted

A source calls ``say(topic, text)`` for each change; the first look only sets what is
"normal", it reports nothing.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from ..client.informer import Informer
from ..client.resources import LEASES, NODES, PODS
from ..client.rest import Client

Say = Callable[[str, str], None]
Obj = dict[str, Any]
LEADER_LEASES = ("kube-controller-manager", "kube-scheduler")
EVICTING_TAINTS = ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")
RETRY = 2.0  # at most this long between a watch's retries: the timeline must catch up fast after an outage


class Poller:
    """A thread that calls :meth:`look` every ``interval`` seconds until stopped."""

    interval = 0.5

    def __init__(self, say: Say) -> None:
        self.say = say
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.look()
            self._stop.wait(self.interval)

    def look(self) -> None:
        raise NotImplementedError


class Processes(Poller):
    """Components stopping and starting, grouped by machine (a power cut stops four at once)."""

    def __init__(self, say: Say, running: Callable[[], dict[str, int]], machines: dict[str, list[str]]) -> None:
        super().__init__(say)
        self.running, self.machines = running, machines
        self.seen: set[str] | None = None

    def look(self) -> None:
        now = set(self.running())
        if self.seen is not None:
            for verb, names in (("stopped", self.seen - now), ("started", now - self.seen)):
                for machine, components in self.machines.items():
                    gone = [c for c in components if c in names]
                    if gone == components:
                        self.say("process", f"{machine} {verb} (all it runs: {', '.join(gone)})")
                    elif gone:
                        self.say("process", f"{', '.join(gone)} {verb} on {machine}")
        self.seen = now


class StoreMembers(Poller):
    """The etcd members: which answer, and whom they follow."""

    interval = 0.25

    def __init__(self, say: Say, members: list[tuple[str, str]]) -> None:
        super().__init__(say)
        self.members = members  # (name, client URL)
        self.ids: dict[str, str] = {}  # member id -> name
        self.reachable: set[str] | None = None
        self.leader: str | None = None
        self.lost_at = 0.0
        self.session = requests.Session()
        self.session.trust_env = False

    def status(self, url: str) -> dict[str, Any] | None:
        try:
            r = self.session.post(url + "/v3/maintenance/status", data=b"{}", timeout=(0.3, 0.5))
            return r.json() if r.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None

    def look(self) -> None:
        answers = {name: self.status(url) for name, url in self.members}
        reachable = {name for name, status in answers.items() if status}
        for name, status in answers.items():
            if status:
                self.ids[str(status.get("header", {}).get("member_id"))] = name
        terms = {name: int(s.get("raftTerm", 0)) for name, s in answers.items() if s}
        followed = {self.ids.get(str(s.get("leader")), "") for s in answers.values() if s and s.get("leader", "0") != "0"}
        leader = next((name for name in followed if name in reachable), None)
        if self.reachable is not None:
            for name in sorted(self.reachable - reachable):
                self.say("store", f"etcd member on {name} unreachable")
            for name in sorted(reachable - self.reachable):
                self.say("store", f"etcd member on {name} answers again")
            quorum = len(self.members) // 2 + 1
            if leader != self.leader:
                if self.leader and not leader:
                    self.lost_at = time.monotonic()
                    self.say("store", f"etcd leader lost ({self.leader}); {len(reachable)} of {len(self.members)} "
                                      f"members reachable, {quorum} needed to elect one")
                elif leader:
                    after = (f" after {time.monotonic() - self.lost_at:.2f} s without one" if self.lost_at
                             else f", replacing {self.leader}" if self.leader else "")
                    self.say("store", f"etcd leader elected: {leader} (term {terms.get(leader, '?')}){after}")
                    self.lost_at = 0.0
        self.reachable, self.leader = reachable, leader


def etcd_leader(members: list[tuple[str, str]]) -> str | None:
    """The name of the member that leads, as `etcdctl endpoint status` would say; None without one."""
    store = StoreMembers(lambda topic, text: None, members)
    store.look()
    return store.leader


class ApiServers(Poller):
    """Each API server's /readyz: the load balancer sends requests only to the ready ones."""

    def __init__(self, say: Say, servers: list[tuple[str, str]], ca_file: str) -> None:
        super().__init__(say)
        self.servers, self.ca_file = servers, ca_file  # (name, URL)
        self.ready: dict[str, bool] = {}
        self.session = requests.Session()
        self.session.trust_env = False

    def why_not(self, url: str) -> str | None:
        """None when ready, else the reason."""
        try:
            r = self.session.get(url + "/readyz?verbose", verify=self.ca_file, timeout=(0.3, 2))
        except requests.RequestException:
            return "not reachable"
        if r.status_code == 200:
            return None
        failed = [line.strip("[-] ") for line in r.text.splitlines() if line.startswith("[-]")]
        return "; ".join(failed) or f"HTTP {r.status_code}"

    def look(self) -> None:
        for name, url in self.servers:
            why = self.why_not(url)
            if name in self.ready and self.ready[name] != (why is None):
                self.say("apiserver", f"{name} ready again" if why is None else f"{name} not ready: {why}")
            self.ready[name] = why is None


def rfc3339(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def master_of(holder: str) -> str:
    """Leader identities are ``<hostname>_<uuid>``; a local cluster's hostnames are master-<i>."""
    return holder.split("_", 1)[0] or "(none)"


class Leases:
    """The leader Leases: who holds them, and whether the holder still renews."""

    def __init__(self, say: Say, client: Client) -> None:
        self.say = say
        self.informer = Informer(client, LEASES, namespace="kube-system", max_backoff=RETRY)
        self.informer.add_event_handler(on_update=self.changed)
        self.expired: set[tuple[str, str]] = set()

    def changed(self, old: Obj, new: Obj) -> None:
        name = new["metadata"]["name"]
        before, after = (master_of((o.get("spec") or {}).get("holderIdentity") or "") for o in (old, new))
        if name in LEADER_LEASES and before != after:
            self.say("leader", f"{name}: {after} took the Lease from {before}")

    def check_expiry(self) -> None:
        """A holder that stops renewing shows nothing in a watch: compare the clock with the Lease."""
        for lease in self.informer.cache.list():
            spec, name = lease.get("spec") or {}, lease["metadata"]["name"]
            renewed = rfc3339(spec.get("renewTime"))
            if name not in LEADER_LEASES or renewed is None:
                continue
            holder = master_of(spec.get("holderIdentity") or "")
            if time.time() > renewed + float(spec.get("leaseDurationSeconds") or 15):
                if (name, holder) not in self.expired:
                    self.expired.add((name, holder))
                    self.say("leader", f"{name}: {holder} stopped renewing; its Lease has expired, "
                                       "the other masters may take it")
            else:
                self.expired.discard((name, holder))


def ready_condition(node: Obj) -> tuple[str, str]:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status", "Unknown"), c.get("message") or c.get("reason") or ""
    return "Unknown", ""


def taints(node: Obj) -> set[str]:
    return {f"{t['key']}:{t['effect']}" for t in (node.get("spec") or {}).get("taints") or []}


class Nodes:
    """Nodes turning NotReady and Ready, taints put on and taken off."""

    def __init__(self, say: Say, client: Client) -> None:
        self.say = say
        self.informer = Informer(client, NODES, max_backoff=RETRY)
        self.informer.add_event_handler(on_update=self.changed)

    def changed(self, old: Obj, new: Obj) -> None:
        name = new["metadata"]["name"]
        (was, _), (now, why) = ready_condition(old), ready_condition(new)
        if (was == "True") != (now == "True"):
            self.say("node", f"{name} Ready" if now == "True" else f"{name} NotReady ({why})" if why else f"{name} NotReady")
        for taint in sorted(taints(new) - taints(old)):
            self.say("taint", f"{name} tainted {taint}")
        for taint in sorted(taints(old) - taints(new)):
            self.say("taint", f"{name} untainted {taint}")

    def evicting(self, node_name: str) -> str | None:
        node = self.informer.cache.get(node_name)
        for taint in (node or {}).get("spec", {}).get("taints") or []:
            if taint.get("effect") == "NoExecute" and taint.get("key") in EVICTING_TAINTS:
                return taint["key"]
        return None


def pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


class Pods:
    """A pod's life: created, scheduled, Running and Ready, deleting (evicted?), deleted."""

    def __init__(self, say: Say, client: Client, nodes: Nodes) -> None:
        self.say, self.nodes = say, nodes
        self.informer = Informer(client, PODS, max_backoff=RETRY)
        self.informer.add_event_handler(on_add=self.added, on_update=self.changed, on_delete=self.deleted)

    @staticmethod
    def name(pod: Obj) -> str:
        return f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"

    def added(self, pod: Obj) -> None:
        if self.informer.has_synced():
            owner = next(iter(pod["metadata"].get("ownerReferences") or []), None)
            by = f" by {owner['kind']} {owner['name']}" if owner else ""
            self.say("pod", f"{self.name(pod)} created{by}")

    def changed(self, old: Obj, new: Obj) -> None:
        node = new["spec"].get("nodeName")
        if node and not old["spec"].get("nodeName"):
            self.say("pod", f"{self.name(new)} scheduled to {node}")
        if pod_ready(new) and not pod_ready(old) and not new["metadata"].get("deletionTimestamp"):
            self.say("pod", f"{self.name(new)} Running and Ready on {node}")
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
            taint = self.nodes.evicting(node) if node else None
            self.say("evict" if taint else "pod", f"{self.name(new)} on {node} evicted ({taint})" if taint
                     else f"{self.name(new)} on {node or 'no node'} marked for deletion")

    def deleted(self, pod: Obj) -> None:
        self.say("pod", f"{self.name(pod)} deleted")
