"""k8s_drain, k8s_info and k8s against a fake API server: changed, then ok; check mode reads.

The fake keeps nodes and pods in dicts behind exactly the endpoints the modules call, over
plain HTTP on 127.0.0.1 (one test serves HTTPS with a client certificate). Evicted and
deleted pods disappear a moment later, as they do when the kubelet stops them.
"""

from __future__ import annotations

import base64
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

import pki
from provision.fake import FakeTransport
from provision.modules import MODULES, Result, k8s, run_module

GONE_AFTER = 0.05  # seconds between an eviction or delete and the pod's disappearance
NODE = "worker-3"


def status(code: int, reason: str, message: str) -> tuple[Any, int]:
    return jsonify(kind="Status", apiVersion="v1", status="Failure", reason=reason,
                   message=message, code=code), code


class FakeApi:
    """Nodes and pods in dicts; `calls` records "METHOD /path" of every request."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.pods: dict[str, dict[str, Any]] = {}  # "ns/name" -> pod
        self.pdb_refusals: dict[str, int] = {}  # "ns/name" -> evictions answered 429 first
        self.calls: list[str] = []
        self.bodies: list[Any] = []
        self.tokens: set[str | None] = set()
        self.kubeconfig = ""

    def add_node(self, name: str = NODE, ready: str = "True") -> dict[str, Any]:
        self.nodes[name] = {"kind": "Node", "metadata": {"name": name, "uid": f"uid-{name}"},
                            "spec": {}, "status": {"conditions": [{"type": "Ready",
                                                                   "status": ready}]}}
        return self.nodes[name]

    def add_pod(self, name: str, owner: str | None = "ReplicaSet", node: str = NODE,
                **spec: Any) -> None:
        meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
        if owner:
            meta["ownerReferences"] = [{"kind": owner, "name": f"{name}-owner",
                                        "controller": True}]
        self.pods[f"default/{name}"] = {"kind": "Pod", "metadata": meta,
                                        "spec": {"nodeName": node, **spec},
                                        "status": {"phase": "Running"}}

    def remove_soon(self, key: str) -> None:
        threading.Timer(GONE_AFTER, self.pods.pop, (key, None)).start()

    def app(self) -> Flask:
        app = Flask(__name__)

        @app.before_request
        def record() -> None:
            self.calls.append(f"{request.method} {request.path}")
            self.tokens.add(request.headers.get("Authorization"))
            self.bodies.append(request.get_json(silent=True))

        @app.route("/api/v1/nodes/<name>", methods=["GET", "PATCH"])
        def node(name: str) -> Any:
            if name not in self.nodes:
                return status(404, "NotFound", f'nodes "{name}" not found')
            if request.method == "PATCH":
                if name == "locked":
                    return status(403, "Forbidden", f'nodes "{name}" is forbidden: User '
                                  '"student" cannot patch resource "nodes"')
                assert request.content_type == k8s.MERGE_PATCH
                self.nodes[name]["spec"].update(request.get_json()["spec"])
            return jsonify(self.nodes[name])

        @app.get("/api/v1/pods")
        def pods() -> Any:
            field, _, value = request.args["fieldSelector"].partition("=")
            assert field == "spec.nodeName"
            items = [p for p in self.pods.values() if p["spec"]["nodeName"] == value]
            return jsonify(kind="PodList", apiVersion="v1", items=items)

        @app.route("/api/v1/namespaces/<ns>/pods/<name>", methods=["GET", "DELETE"])
        def pod(ns: str, name: str) -> Any:
            key = f"{ns}/{name}"
            if key not in self.pods:
                return status(404, "NotFound", f'pods "{name}" not found')
            if request.method == "DELETE":
                self.remove_soon(key)
            return jsonify(self.pods[key])

        @app.post("/api/v1/namespaces/<ns>/pods/<name>/eviction")
        def eviction(ns: str, name: str) -> Any:
            key = f"{ns}/{name}"
            if key not in self.pods:
                return status(404, "NotFound", f'pods "{name}" not found')
            if self.pdb_refusals.get(key, 0) > 0:
                self.pdb_refusals[key] -= 1
                return status(429, "TooManyRequests", "Cannot evict pod as it would violate "
                              "the pod's disruption budget.")
            self.remove_soon(key)
            return jsonify(kind="Status", apiVersion="v1", status="Success", code=201), 201

        return app


def write_kubeconfig(path: Path, server: str, **credentials: Any) -> str:
    cluster = {"server": server, **credentials.pop("cluster", {})}
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": cluster}],
        "users": [{"name": "admin", "user": credentials}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin"}}],
    }))
    return str(path)


@contextmanager
def serve(app: Flask, ssl_context: ssl.SSLContext | None = None) -> Iterator[int]:
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=ssl_context)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def api(tmp_path, monkeypatch) -> Iterator[FakeApi]:
    monkeypatch.setattr(k8s, "POLL_SECONDS", 0.02)
    fake = FakeApi()
    with serve(fake.app()) as port:
        fake.kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}",
                                           token="s3cret")
        yield fake


def run(module: str, api: FakeApi, check: bool = False, **args: Any) -> Result:
    return run_module(MODULES[module], FakeTransport(), {"kubeconfig": api.kubeconfig, **args},
                      check)


def writes(api: FakeApi) -> list[str]:
    return [c for c in api.calls if not c.startswith("GET ")]


# -- k8s_drain: cordon and uncordon -------------------------------------------------------------

def test_cordon_then_uncordon_changed_then_ok(api):
    node = api.add_node()
    first = run("k8s_drain", api, name=NODE, state="cordon")
    assert (first.changed, first.failed, first.msg) == (True, False, "node worker-3 cordoned")
    assert node["spec"]["unschedulable"] is True
    assert writes(api) == ["PATCH /api/v1/nodes/worker-3"]
    assert api.bodies[-1] == {"spec": {"unschedulable": True}}
    again = run("k8s_drain", api, name=NODE, state="cordon")
    assert (again.changed, again.msg) == (False, "node worker-3 already cordoned")

    assert run("k8s_drain", api, name=NODE, state="uncordon").changed
    assert node["spec"]["unschedulable"] is False
    assert not run("k8s_drain", api, name=NODE, state="uncordon").changed
    assert len(writes(api)) == 2
    assert api.tokens == {"Bearer s3cret"}


def test_missing_node_and_api_errors_quote_the_server(api):
    api.add_node("locked")
    assert run("k8s_drain", api, name="nope").msg == "node nope not found"
    res = run("k8s_drain", api, name="locked", state="cordon")
    assert res.failed and res.msg == (
        'PATCH /api/v1/nodes/locked failed (Forbidden): nodes "locked" is forbidden: '
        'User "student" cannot patch resource "nodes"')


# -- k8s_drain: drain ---------------------------------------------------------------------------

def test_drain_evicts_replicaset_pod_and_skips_daemonset_pod(api):
    node = api.add_node()
    api.add_pod("web")
    api.add_pod("proxy", owner="DaemonSet")
    api.add_pod("elsewhere", node="worker-1")
    first = run("k8s_drain", api, name=NODE, delete_options={"ignore_daemonsets": True})
    assert (first.changed, first.failed) == (True, False), first.msg
    assert first.msg == "node worker-3 drained (1 pod evicted)"
    assert first.data == {"evicted": ["default/web"]}
    assert node["spec"]["unschedulable"] is True
    assert sorted(api.pods) == ["default/elsewhere", "default/proxy"]
    assert api.bodies[api.calls.index("POST /api/v1/namespaces/default/pods/web/eviction")] == {
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": "web", "namespace": "default"}}

    second = run("k8s_drain", api, name=NODE, delete_options={"ignore_daemonsets": "yes"})
    assert (second.changed, second.msg) == (False, "node worker-3 drained (0 pods evicted)")


def test_drain_refuses_bare_and_daemonset_pods_and_evicts_nothing(api):
    node = api.add_node()
    api.add_pod("web")
    api.add_pod("bare", owner=None)
    api.add_pod("proxy", owner="DaemonSet")
    res = run("k8s_drain", api, name=NODE)
    assert res.failed and res.data == {"evicted": []}
    assert res.msg == (
        "cannot drain node worker-3 (the node stays cordoned): "
        "cannot delete Pods that declare no controller (use delete_options.force): default/bare; "
        "cannot delete DaemonSet-managed Pods (use delete_options.ignore_daemonsets): "
        "default/proxy")
    assert not any("eviction" in c for c in api.calls) and len(api.pods) == 3
    assert node["spec"]["unschedulable"] is True  # as kubectl drain leaves it

    forced = run("k8s_drain", api, name=NODE,
                 delete_options={"force": True, "ignore_daemonsets": True})
    assert not forced.failed and forced.data == {"evicted": ["default/web", "default/bare"]}
    assert list(api.pods) == ["default/proxy"]


@pytest.mark.parametrize("pod, options, verdict", [
    ({}, {}, k8s.EVICT),
    ({"metadata": {"deletionTimestamp": "2025-01-01T00:00:00Z"}}, {}, k8s.SKIP),
    ({"metadata": {"annotations": {k8s.MIRROR_ANNOTATION: "x"}}, "owner": "Node"}, {}, k8s.SKIP),
    ({"spec": {"volumes": [{"name": "tmp", "emptyDir": {}}]}}, {}, k8s.NO_EMPTYDIR),
    ({"spec": {"volumes": [{"name": "tmp", "emptyDir": {}}]}},
     {"delete_emptydir_data": True}, k8s.EVICT),
    ({"owner": None}, {}, k8s.NO_CONTROLLER),
    ({"owner": None, "status": {"phase": "Succeeded"}}, {}, k8s.EVICT),
    ({"owner": "DaemonSet"}, {}, k8s.NO_DAEMONSETS),
    ({"owner": "DaemonSet"}, {"ignore_daemonsets": True}, k8s.SKIP),
])
def test_pod_verdict_follows_kubectl_filters(pod, options, verdict):
    owner = pod.get("owner", "ReplicaSet")
    meta = {"name": "p", "namespace": "default", **pod.get("metadata", {})}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "controller": True}]
    obj = {"metadata": meta, "spec": pod.get("spec", {}), "status": pod.get("status", {})}
    assert k8s.pod_verdict(obj, k8s.drain_options(options)) == verdict


def test_drain_retries_an_eviction_a_disruption_budget_refuses(api):
    api.add_node()
    api.add_pod("web")
    api.pdb_refusals["default/web"] = 2
    res = run("k8s_drain", api, name=NODE, delete_options={"wait_timeout": 5})
    assert not res.failed and res.data == {"evicted": ["default/web"]}
    assert api.calls.count("POST /api/v1/namespaces/default/pods/web/eviction") == 3

    api.add_pod("db")
    api.pdb_refusals["default/db"] = 1000
    stuck = run("k8s_drain", api, name=NODE, delete_options={"wait_timeout": 0})
    assert stuck.failed and stuck.msg == ("timed out after 0 s evicting default/db: Cannot evict "
                                          "pod as it would violate the pod's disruption budget.")
    assert "default/db" in api.pods and stuck.data == {"evicted": []}


def test_drain_with_eviction_disabled_deletes_with_the_grace_period(api):
    api.add_node()
    api.add_pod("web")
    res = run("k8s_drain", api, name=NODE, delete_options={
        "disable_eviction": True, "terminate_grace_period": 5})
    assert res.msg == "node worker-3 drained (1 pod deleted)" and not api.pods
    assert api.bodies[api.calls.index("DELETE /api/v1/namespaces/default/pods/web")] == {
        "gracePeriodSeconds": 5}


def test_drain_check_mode_reports_and_only_reads(api):
    node = api.add_node()
    api.add_pod("web")
    res = run("k8s_drain", api, check=True, name=NODE)
    assert (res.changed, res.failed) == (True, False)
    assert res.msg == "node worker-3 would be drained (1 pod to be evicted: default/web)"
    assert writes(api) == [] and "unschedulable" not in node["spec"] and len(api.pods) == 1
    bad = run("k8s_drain", api, check=True, name=NODE, delete_options={"forse": True})
    assert bad.failed and "unknown delete_options key 'forse'" in bad.msg


# -- k8s_info -----------------------------------------------------------------------------------

def test_info_reads_and_waits_for_a_condition(api):
    node = api.add_node(ready="False")
    assert run("k8s_info", api, kind="Pod", name="web").data == {"resources": []}
    threading.Timer(0.2, lambda: node["status"].update(
        conditions=[{"type": "Ready", "status": "True"}])).start()
    res = run("k8s_info", api, kind="Node", name=NODE, wait=True, wait_sleep=0.05,
              wait_condition={"type": "Ready"})
    assert (res.changed, res.failed, res.msg) == (False, False, "Node worker-3 is Ready=True")
    assert res.data["resources"][0]["metadata"]["name"] == NODE


def test_info_wait_times_out_with_the_last_state(api):
    api.add_node(ready="False")
    res = run("k8s_info", api, kind="Node", name=NODE, wait=True, wait_timeout=1,
              wait_sleep=0.2, wait_condition={"type": "Ready", "status": True})
    assert res.failed and res.msg == ("timed out after 1 s waiting for Node worker-3 to be "
                                      "Ready=True (last: Ready=False)")
    check = run("k8s_info", api, check=True, kind="Node", name=NODE, wait=True,
                wait_condition={"type": "Ready"})
    assert not check.failed and check.msg == "check mode: not waiting; Node worker-3 exists"
    bad = run("k8s_info", api, kind="Gadget", name="x")
    assert bad.failed and "kind 'Gadget' is not supported" in bad.msg


# -- k8s ----------------------------------------------------------------------------------------

def test_k8s_absent_deletes_then_ok(api):
    api.add_pod("web")
    check = run("k8s", api, check=True, kind="Pod", name="web", state="absent")
    assert (check.changed, check.msg) == (True, "Pod default/web would be deleted")
    assert writes(api) == [] and "default/web" in api.pods

    first = run("k8s", api, kind="Pod", name="web", namespace="default", state="absent",
                wait=True, wait_timeout=5)
    assert (first.changed, first.failed, first.msg) == (True, False, "Pod default/web deleted")
    assert not api.pods
    second = run("k8s", api, kind="Pod", name="web", state="absent")
    assert (second.changed, second.msg) == (False, "Pod default/web is already absent")


def test_k8s_supports_only_state_absent(api):
    res = run("k8s", api, kind="Pod", name="web")
    assert res.failed and res.msg == "k8s: only state 'absent' is supported, got 'present'"
    assert api.calls == []


# -- connection ---------------------------------------------------------------------------------

def test_unreachable_server_and_bad_kubeconfig(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = f"http://127.0.0.1:{port}"
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server, token="t")
    res = run_module(MODULES["k8s_info"], FakeTransport(),
                     {"kind": "Node", "name": NODE, "kubeconfig": kubeconfig})
    assert res.failed and res.msg == f"the API server at {server} cannot be reached: " \
        "Connection refused"
    missing = run_module(MODULES["k8s_drain"], FakeTransport(),
                         {"name": NODE, "kubeconfig": str(tmp_path / "nope")})
    assert missing.failed and missing.msg == \
        f"cannot read kubeconfig {tmp_path}/nope: No such file or directory"


def test_https_with_a_client_certificate_leaves_no_key_behind(tmp_path, monkeypatch):
    ca_pem, ca_key = pki.new_ca()
    server_pem, server_key = pki.new_cert(ca_pem, ca_key, "apiserver", ips=["127.0.0.1"],
                                          server=True)
    client_pem, client_key = pki.new_cert(ca_pem, ca_key, "admin", client=True)
    (tmp_path / "server.crt").write_bytes(server_pem)
    (tmp_path / "server.key").write_bytes(server_key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    context.load_verify_locations(cadata=ca_pem.decode())
    context.verify_mode = ssl.CERT_REQUIRED  # no request gets through without the client cert
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    fake = FakeApi()
    fake.add_node()
    b64 = base64.b64encode
    with serve(fake.app(), context) as port:
        kubeconfig = write_kubeconfig(
            tmp_path / "kubeconfig", f"https://127.0.0.1:{port}",
            cluster={"certificate-authority-data": b64(ca_pem).decode()},
            **{"client-certificate-data": b64(client_pem).decode(),
               "client-key-data": b64(client_key).decode()})
        res = run_module(MODULES["k8s_info"], FakeTransport(),
                         {"kind": "Node", "name": NODE, "kubeconfig": kubeconfig})
    assert (res.failed, res.msg) == (False, "Node worker-3 exists"), res.msg
    assert list(temp.iterdir()) == []
