"""Registering a Node, its status and Lease, the flags behind them, images, and simulated nodes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from controlplane.client import resources as r
from controlplane.client.cache import Indexer
from controlplane.client.fake import FakeClient
from nodeagent import config as cfg
from nodeagent import images, quantity
from nodeagent.events import EventRecorder
from nodeagent.lease import NAMESPACE, NodeLease
from nodeagent.nodestatus import NodeStatus, node_info
from nodeagent.simulated import SimulatedNodes, simulated_status

NODE_INFO_FIELDS = {"architecture", "bootID", "containerRuntimeVersion", "kernelVersion", "kubeProxyVersion",
                    "kubeletVersion", "machineID", "operatingSystem", "osImage", "systemUUID"}


def agent_config(tmp_path, **kw) -> cfg.AgentConfig:
    settings = {"kubeconfig": "k", "node_name": "worker-1", "address": "127.0.1.11", "pod_cidr": "10.244.11.0/24",
                "cluster_id": "abcd", "cpu": "2", "memory": "4Gi", "data_dir": str(tmp_path), **kw}
    return cfg.AgentConfig(**settings)


def test_labels_and_taints_flags():
    assert cfg.parse_labels("a=1, node-role.kubernetes.io/control-plane=,x") == (
        ("a", "1"), ("node-role.kubernetes.io/control-plane", ""), ("x", ""))
    taints = cfg.parse_taints("node-role.kubernetes.io/control-plane:NoSchedule,dedicated=gpu:NoExecute")
    assert [t.to_api() for t in taints] == [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
        {"key": "dedicated", "value": "gpu", "effect": "NoExecute"}]
    with pytest.raises(ValueError, match="Effect one of"):
        cfg.parse_taints("a=b:Sometimes")
    with pytest.raises(ValueError, match="invalid label key"):
        cfg.parse_labels("bad key=1")


def test_defaults_derived_from_the_address_and_server():
    assert cfg.default_pod_cidr("127.0.1.12") == "10.244.12.0/24"
    assert cfg.node_index("10.244.12.0/24", "10.244.0.0/16") == 12
    assert cfg.default_cluster_id("https://127.0.0.1:6443") == cfg.default_cluster_id("https://127.0.0.1:6443")
    assert len(cfg.default_cluster_id("x")) == 4


@pytest.mark.parametrize("text, value", [("500m", Decimal("0.5")), ("2", Decimal(2)), ("128Mi", Decimal(128 * 2**20)),
                                         ("1G", Decimal(10**9)), ("1e3", Decimal(1000)), ("0.1", Decimal("0.1"))])
def test_quantities(text, value):
    assert quantity.parse(text) == value


def test_quantity_rounding():
    assert quantity.millicores("0.1") == 100 and quantity.millicores("1") == 1000 and quantity.millicores("1.0001") == 1001
    assert quantity.format_kib(16 * 2**30) == "16777216Ki"
    with pytest.raises(quantity.QuantityError):
        quantity.parse("12 apples")


def test_registration_creates_the_node_kubeadm_style(tmp_path):
    client = FakeClient()
    config = agent_config(tmp_path, labels=cfg.parse_labels("node-role.kubernetes.io/control-plane="),
                          taints=cfg.parse_taints("node-role.kubernetes.io/control-plane:NoSchedule"))
    status = NodeStatus(client, config, cfg.capacity(config), EventRecorder(None, "worker-1"))
    status.register()
    node = client.stored(r.NODES, "worker-1")
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "worker-1" and labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/arch"] and labels["node-role.kubernetes.io/control-plane"] == ""
    assert node["spec"]["podCIDR"] == "10.244.11.0/24" and node["spec"]["podCIDRs"] == ["10.244.11.0/24"]
    assert node["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    st = node["status"]
    assert st["capacity"]["cpu"] == "2" and st["capacity"]["memory"] == "4194304Ki" and st["capacity"]["pods"] == "110"
    assert "ephemeral-storage" in st["capacity"] and st["allocatable"] == st["capacity"]
    assert st["addresses"] == [{"type": "InternalIP", "address": "127.0.1.11"}, {"type": "Hostname", "address": "worker-1"}]
    assert st["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert set(st["nodeInfo"]) == NODE_INFO_FIELDS and all(v is not None for v in st["nodeInfo"].values())
    ready = {c["type"]: c for c in st["conditions"]}
    assert list(ready) == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    assert (ready["Ready"]["status"], ready["Ready"]["reason"], ready["Ready"]["message"]) == \
        ("True", "KubeletReady", "kubelet is posting ready status")
    assert ready["MemoryPressure"]["reason"] == "KubeletHasSufficientMemory"
    assert any("kubeclass/hello:1" in img["names"] for img in st["images"])


def test_registering_again_adopts_the_node_and_keeps_its_taints(tmp_path):
    client = FakeClient()
    client.seed(r.NODES, {"metadata": {"name": "worker-1", "labels": {"custom": "kept"}},
                          "spec": {"podCIDR": "10.244.11.0/24", "taints": [{"key": "x", "effect": "NoSchedule"}]}})
    config = agent_config(tmp_path, taints=cfg.parse_taints("y:NoExecute"))
    NodeStatus(client, config, cfg.capacity(config), EventRecorder(None, "worker-1")).register()
    node = client.stored(r.NODES, "worker-1")
    assert node["metadata"]["labels"]["custom"] == "kept"
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "worker-1"
    assert node["spec"]["taints"] == [{"key": "x", "effect": "NoSchedule"}]  # --register-with-taints: creation only
    assert node["status"]["conditions"][-1]["type"] == "Ready"


def test_status_is_posted_only_when_changed_or_due(tmp_path):
    client = FakeClient()
    config = agent_config(tmp_path)
    status = NodeStatus(client, config, cfg.capacity(config), EventRecorder(None, "worker-1"))
    status.register(now=999.0)
    posts = lambda: len([a for a in client.writes() if a.verb == "patch"])
    before = posts()
    status.step(1000.0)
    status.step(1002.0)
    assert posts() == before  # nothing changed, report frequency not reached
    status.step(1000.0 + config.timing.status_report + 1)
    assert posts() == before + 1


def test_lease_is_created_then_renewed_with_the_node_as_owner():
    client = FakeClient(resources=[r.LEASES, r.NODES])
    lease = NodeLease(client, "worker-1", 4, 1.0, node_uid=lambda: "node-uid")
    assert lease.step(100.0) <= 1.05
    first = client.stored(r.LEASES, "worker-1", NAMESPACE)
    assert first["spec"]["holderIdentity"] == "worker-1" and first["spec"]["leaseDurationSeconds"] == 4
    assert first["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "Node", "name": "worker-1",
                                                     "uid": "node-uid"}]
    assert first["spec"]["renewTime"].endswith("Z") and "." in first["spec"]["renewTime"]
    lease.step(100.5)  # not due yet
    assert client.stored(r.LEASES, "worker-1", NAMESPACE)["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    lease.step(102.0)
    renewed = client.stored(r.LEASES, "worker-1", NAMESPACE)
    assert renewed["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
    assert [a.verb for a in client.writes()] == ["create", "update"]


def test_lease_conflict_is_retried_soon_from_a_fresh_read():
    client = FakeClient(resources=[r.LEASES])
    lease = NodeLease(client, "worker-1", 4, 1.0)
    lease.step(0.0)
    client.objects[("leases.coordination.k8s.io", NAMESPACE, "worker-1")]["metadata"]["resourceVersion"] = "999999"
    wait = lease.step(2.0)  # conflict: somebody else wrote it
    assert wait == pytest.approx(0.2)
    lease.step(2.3)
    assert client.stored(r.LEASES, "worker-1", NAMESPACE)["spec"]["holderIdentity"] == "worker-1"


@pytest.mark.parametrize("image, runnable, entry", [
    ("kubeclass/hello:1", True, "hello.py"), ("docker.io/kubeclass/hello:2", True, "hello.py"),
    ("kubeclass/crashloop", True, "crashloop.py"), ("kubeclass/cpuburner:latest", True, "cpuburner.py"),
    ("kubeclass/echo:v3", True, "echo.py"), ("kubeclass/hello:9", False, ""), ("nginx:1.27", False, ""),
])
def test_images(image, runnable, entry):
    img = images.resolve(image, has_command=False)
    assert img.runnable is runnable
    if runnable:
        assert img.entrypoint[2].endswith(entry) and "@sha256:" in img.image_id
    else:
        assert img.reason == "ImageNotRunnable" and img.message


def test_image_argv_follows_docker_rules():
    hello = images.resolve("kubeclass/hello:2", has_command=False)
    assert hello.argv([], ["--port", "9000"])[-4:] == ["--version", "2", "--port", "9000"]
    assert hello.argv(["sh", "-c"], ["echo"]) == ["sh", "-c", "echo"]
    busybox = images.resolve("busybox", has_command=True)
    assert busybox.runnable and busybox.argv(["sleep"], ["1"]) == ["sleep", "1"]
    nginx = images.resolve("nginx", has_command=False)
    assert "kubeclass/hello:1" in nginx.message and "command" in nginx.message


def test_node_info_has_all_ten_fields():
    info = node_info()
    assert set(info) == NODE_INFO_FIELDS and info["operatingSystem"] == "linux" and info["kubeletVersion"].startswith("v1.")


def test_simulated_pods_turn_running_and_deleted_ones_are_finished(tmp_path):
    client = FakeClient()
    sim = SimulatedNodes(agent_config(tmp_path, pod_cidr="10.244.100.0/24"), count=3, prefix="sim-", client=client)
    sim.prepare()
    assert [n.config.pod_cidr for n in sim.nodes.values()] == ["10.244.100.0/24", "10.244.101.0/24", "10.244.102.0/24"]
    assert all(("kubeclass.io/simulated", "true") in n.config.labels for n in sim.nodes.values())

    class FakeInformer:
        cache = Indexer()

    sim.pods = FakeInformer()  # type: ignore[assignment]
    pod = client.seed(r.PODS, {"metadata": {"name": "p", "namespace": "default"},
                               "spec": {"nodeName": "sim-1", "containers": [{"name": "c", "image": "nginx"}],
                                        "initContainers": [{"name": "i", "image": "busybox"}]},
                               "status": {"phase": "Pending"}})
    sim.pods.cache.upsert(pod)
    sim.reconcile("default/p")
    status = client.stored(r.PODS, "p", "default")["status"]
    assert status["phase"] == "Running" and status["podIP"] == "10.244.101.2"
    assert status["containerStatuses"][0]["ready"] is True
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    deleting = client.stored(r.PODS, "p", "default")
    deleting["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    sim.pods.cache.upsert(deleting)
    sim.reconcile("default/p")
    assert client.stored(r.PODS, "p", "default") is None
    assert simulated_status(pod, "10.0.0.1", "h", 0.0)["conditions"][2]["type"] == "Ready"
