"""The failover timeline's sources: what change becomes which line (no cluster: objects in, lines out)."""

from __future__ import annotations

import time

from controlplane.cli import timeline_sources as ts


class Said(list):
    def __call__(self, topic: str, text: str) -> None:
        self.append(f"{topic}: {text}")


def node(name: str, ready: str, taints: list[tuple[str, str]] = (), message: str = "") -> dict:
    return {"metadata": {"name": name},
            "spec": {"taints": [{"key": k, "effect": e} for k, e in taints]},
            "status": {"conditions": [{"type": "Ready", "status": ready, "message": message}]}}


def test_processes_group_a_whole_machine_and_name_single_components():
    said, running = Said(), {"etcd-1": 1, "apiserver-1": 2, "node-master-1": 3, "scheduler-2": 4}
    p = ts.Processes(said, lambda: dict(running), {"master-1": ["etcd-1", "apiserver-1", "node-master-1"],
                                                    "master-2": ["scheduler-2", "node-master-2"]})
    p.look()
    assert said == []  # the first look only sets what is normal
    running.clear()
    running["node-master-2"] = 5
    p.look()
    assert said == ["process: master-1 stopped (all it runs: etcd-1, apiserver-1, node-master-1)",
                    "process: scheduler-2 stopped on master-2", "process: node-master-2 started on master-2"]


def test_store_members_report_the_leader_lost_and_elected():
    said = Said()
    members = ts.StoreMembers(said, [("master-1", "u1"), ("master-2", "u2"), ("master-3", "u3")])
    views = {"u1": {"header": {"member_id": "11"}, "leader": "11", "raftTerm": "2"},
             "u2": {"header": {"member_id": "22"}, "leader": "11", "raftTerm": "2"},
             "u3": {"header": {"member_id": "33"}, "leader": "11", "raftTerm": "2"}}
    members.status = lambda url: views.get(url)
    members.look()
    assert said == [] and members.leader == "master-1"
    del views["u1"]  # the leader's machine is gone; the others still remember it for a moment
    members.look()
    assert said == ["store: etcd member on master-1 unreachable",
                    "store: etcd leader lost (master-1); 2 of 3 members reachable, 2 needed to elect one"]
    views["u2"].update(leader="33", raftTerm="3")
    views["u3"].update(leader="33", raftTerm="3")
    members.look()
    assert said[-1].startswith("store: etcd leader elected: master-3 (term 3) after ") and said[-1].endswith(" s without one")


def test_nodes_ready_and_taints():
    said = Said()
    nodes = ts.Nodes.__new__(ts.Nodes)
    nodes.say = said
    nodes.changed(node("w", "True"), node("w", "Unknown", [("node.kubernetes.io/unreachable", "NoExecute")],
                                        "Kubelet stopped posting node status."))
    nodes.changed(node("w", "Unknown"), node("w", "True"))
    assert said == ["node: w NotReady (Kubelet stopped posting node status.)",
                    "taint: w tainted node.kubernetes.io/unreachable:NoExecute", "node: w Ready"]


def test_pods_evicted_when_their_node_carries_a_noexecute_taint():
    said = Said()

    class Tainted:
        @staticmethod
        def evicting(name: str) -> str | None:
            return "node.kubernetes.io/unreachable" if name == "w2" else None

    pods = ts.Pods.__new__(ts.Pods)
    pods.say, pods.nodes = said, Tainted()
    pending = {"metadata": {"name": "p", "namespace": "d"}, "spec": {}, "status": {}}
    bound = {"metadata": {"name": "p", "namespace": "d"}, "spec": {"nodeName": "w1"},
             "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    pods.changed(pending, bound)
    on_w2 = {"metadata": {"name": "q", "namespace": "d"}, "spec": {"nodeName": "w2"}, "status": {}}
    pods.changed(on_w2, {**on_w2, "metadata": {**on_w2["metadata"], "deletionTimestamp": "now"}})
    assert said == ["pod: d/p scheduled to w1", "pod: d/p Running and Ready on w1",
                    "evict: d/q on w2 evicted (node.kubernetes.io/unreachable)"]


def test_a_lease_whose_holder_stops_renewing_is_reported_once():
    said = Said()
    leases = ts.Leases.__new__(ts.Leases)
    leases.say, leases.expired = said, set()
    stale = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() - 10))

    class Cache:
        @staticmethod
        def list() -> list[dict]:
            return [{"metadata": {"name": "kube-scheduler"},
                     "spec": {"holderIdentity": "master-1_abc", "renewTime": stale, "leaseDurationSeconds": 2}}]

    leases.informer = type("I", (), {"cache": Cache()})()
    leases.check_expiry()
    leases.check_expiry()
    assert said == ["leader: kube-scheduler: master-1 stopped renewing; its Lease has expired, "
                    "the other masters may take it"]
    leases.changed({"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "master-1_abc"}},
                   {"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "master-2_def"}})
    assert said[-1] == "leader: kube-scheduler: master-2 took the Lease from master-1"
