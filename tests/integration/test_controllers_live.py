"""The controller manager against a real API server process, checked over plain HTTP.

Starts ``python -m controlplane.api.server`` (SQLite store, plain HTTP, static tokens)
and ``python -m controlplane.controllers.manager`` with a kubeconfig pointing at it,
then does what a user would with kubectl and looks at the result:

* deleting a Deployment (Background) removes its ReplicaSet and Pod;
* deleting it with Orphan keeps them, with the ownerReference removed;
* deleting it with Foreground removes Pod, then ReplicaSet, then the Deployment;
* deleting a namespace removes its content, waits for content held by a finalizer,
  then removes the namespace;
* a custom resource's objects are collected once discovery has found the new CRD;
* a new namespace gets its "default" ServiceAccount (and gets it back when deleted);
* the manager exits cleanly and promptly on SIGTERM;
* the REST client itself works over TLS with a client certificate from kubeconfig
  data, fails over from a dead endpoint, and can close a watch from another thread.

Nothing creates ReplicaSets or Pods here yet, so the test creates the chain itself.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

import pki
from controlplane.client import resources as r
from controlplane.client.errors import is_not_found
from controlplane.client.rest import Client

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "integration-admin-token"
Obj = dict[str, Any]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 30.0, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


class API:
    """Plain HTTP to the API server, as a user with the admin token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {TOKEN}"

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
             params: dict[str, str] | None = None) -> tuple[int, Obj]:
        resp = self.session.request(method, self.base + path, json=body, params=params, timeout=30,
                                    headers={"Content-Type": content_type} if body is not None else None)
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, {"raw": resp.text}

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Obj:
        code, obj = self.call(method, path, body, **kw)
        assert code < 300, f"{method} {path} -> {code}: {obj}"
        return obj

    def exists(self, path: str) -> bool:
        code, obj = self.call("GET", path)
        assert code in (200, 404), f"GET {path} -> {code}: {obj}"
        return code == 200

    def deleted_versions(self, path: str, since: str) -> dict[str, int]:
        """name -> resourceVersion of its DELETED event, from a watch replaying history after ``since``."""
        resp = self.session.get(self.base + path, params={"watch": "true", "resourceVersion": since,
                                                           "timeoutSeconds": "2"}, stream=True, timeout=30)
        assert resp.status_code == 200, resp.text
        found = {}
        for line in resp.iter_lines():
            if not line:
                continue
            event = yaml.safe_load(line)  # JSON is YAML
            if event["type"] == "DELETED":
                found[event["object"]["metadata"]["name"]] = int(event["object"]["metadata"]["resourceVersion"])
        return found


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("live")


@pytest.fixture(scope="module")
def api(workdir: Path) -> Iterator[API]:
    (workdir / "tokens.csv").write_text(f'{TOKEN},admin,admin-uid,"system:masters"\n')
    port = free_port()
    log = open(workdir / "apiserver.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlplane.api.server", "--store", f"sqlite:///{workdir}/db",
         "--bind", f"127.0.0.1:{port}", "--token-auth-file", str(workdir / "tokens.csv")],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = API(f"http://127.0.0.1:{port}")

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the API server exited ({proc.returncode}); see {workdir / 'apiserver.log'}:\n"
                                     + (workdir / "apiserver.log").read_text()[-3000:])
            try:
                return client.session.get(client.base + "/readyz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for("the API server's /readyz", ready, timeout=60)
        yield client
    finally:
        stop_process(proc)
        log.close()


def write_kubeconfig(workdir: Path, server: str) -> Path:
    path = workdir / "controller-manager.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "cm",
        "clusters": [{"name": "kc", "cluster": {"server": server}}],
        "users": [{"name": "cm", "user": {"token": TOKEN}}],
        "contexts": [{"name": "cm", "context": {"cluster": "kc", "user": "cm"}}],
    }))
    return path


def start_manager(workdir: Path, api: API, name: str, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "controlplane.controllers.manager",
             "--kubeconfig", str(write_kubeconfig(workdir, api.base)), "--workers", "2", "--discovery-period", "1",
             # These tests build owners and dependents by hand: no workload controller may
             # manage them meanwhile.
             "--controllers", "garbagecollector,namespace,serviceaccount", *extra],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc, log_path


@pytest.fixture(scope="module")
def manager(workdir: Path, api: API) -> Iterator[subprocess.Popen[bytes]]:
    proc, log_path = start_manager(workdir, api, "manager")
    try:
        time.sleep(0.5)
        assert proc.poll() is None, "the controller manager exited at once:\n" + log_path.read_text()
        yield proc
    finally:
        stop_process(proc)


# -- objects -----------------------------------------------------------------------------

LABELS = {"app": "web"}
POD_SPEC = {"containers": [{"name": "web", "image": "nginx:1.27"}]}


def owner_ref(owner: Obj, kind: str, api_version: str) -> Obj:
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def namespace(api: API, name: str) -> Obj:
    ns = api.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return ns


def chain(api: API, ns: str) -> tuple[Obj, Obj, Obj]:
    """Deployment -> ReplicaSet -> Pod, linked by ownerReferences as the controllers would."""
    template = {"metadata": {"labels": LABELS}, "spec": POD_SPEC}
    deploy = api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": LABELS}, "template": template}})
    rs = api.ok("POST", f"/apis/apps/v1/namespaces/{ns}/replicasets", {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-5d4f", "labels": LABELS,
                     "ownerReferences": [owner_ref(deploy, "Deployment", "apps/v1")]},
        "spec": {"replicas": 1, "selector": {"matchLabels": LABELS}, "template": template}})
    pod = api.ok("POST", f"/api/v1/namespaces/{ns}/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-5d4f-x7k2p", "labels": LABELS,
                     "ownerReferences": [owner_ref(rs, "ReplicaSet", "apps/v1")]},
        "spec": POD_SPEC})
    return deploy, rs, pod


def paths(ns: str) -> tuple[str, str, str]:
    return (f"/apis/apps/v1/namespaces/{ns}/deployments/web", f"/apis/apps/v1/namespaces/{ns}/replicasets/web-5d4f",
            f"/api/v1/namespaces/{ns}/pods/web-5d4f-x7k2p")


def delete(api: API, path: str, policy: str) -> Obj:
    return api.ok("DELETE", path, {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy})


# -- the tests ---------------------------------------------------------------------------


def test_background_deletion_removes_the_whole_chain(api: API, manager: subprocess.Popen[bytes]) -> None:
    namespace(api, "gc-background")
    chain(api, "gc-background")
    deploy_path, rs_path, pod_path = paths("gc-background")
    delete(api, deploy_path, "Background")
    assert not api.exists(deploy_path), "Background: the owner goes at once"
    wait_for("the ReplicaSet to be collected", lambda: not api.exists(rs_path))
    wait_for("the Pod to be collected", lambda: not api.exists(pod_path))


def test_orphan_deletion_keeps_dependents_without_the_owner_reference(api: API, manager: subprocess.Popen[bytes]) -> None:
    namespace(api, "gc-orphan")
    _, rs, _ = chain(api, "gc-orphan")
    deploy_path, rs_path, pod_path = paths("gc-orphan")
    deleted = delete(api, deploy_path, "Orphan")
    assert "orphan" in deleted["metadata"]["finalizers"], "Orphan: the owner waits for the collector"
    wait_for("the orphaned Deployment to go", lambda: not api.exists(deploy_path))
    kept = api.ok("GET", rs_path)
    assert "ownerReferences" not in kept["metadata"] or kept["metadata"]["ownerReferences"] == []
    assert kept["metadata"]["uid"] == rs["metadata"]["uid"]
    pod = api.ok("GET", pod_path)
    assert [o["uid"] for o in pod["metadata"]["ownerReferences"]] == [rs["metadata"]["uid"]], \
        "only the deleted owner's references are removed"
    time.sleep(2)
    assert api.exists(rs_path) and api.exists(pod_path), "orphans are not collected later either"


def test_foreground_deletion_removes_dependents_first(api: API, manager: subprocess.Popen[bytes]) -> None:
    namespace(api, "gc-foreground")
    chain(api, "gc-foreground")
    deploy_path, rs_path, pod_path = paths("gc-foreground")
    since = api.ok("GET", "/api/v1/namespaces/gc-foreground/pods")["metadata"]["resourceVersion"]
    marked = delete(api, deploy_path, "Foreground")
    assert "foregroundDeletion" in marked["metadata"]["finalizers"] and marked["metadata"]["deletionTimestamp"]
    wait_for("the Deployment to go last", lambda: not api.exists(deploy_path))
    assert not api.exists(rs_path) and not api.exists(pod_path)
    pod_rv = api.deleted_versions("/api/v1/namespaces/gc-foreground/pods", since)["web-5d4f-x7k2p"]
    rs_rv = api.deleted_versions("/apis/apps/v1/namespaces/gc-foreground/replicasets", since)["web-5d4f"]
    deploy_rv = api.deleted_versions("/apis/apps/v1/namespaces/gc-foreground/deployments", since)["web"]
    assert pod_rv < rs_rv < deploy_rv, "dependents are deleted before their owners"


def test_deleting_a_namespace_removes_its_content_then_the_namespace(api: API, manager: subprocess.Popen[bytes]) -> None:
    namespace(api, "doomed")
    chain(api, "doomed")
    api.ok("POST", "/api/v1/namespaces/doomed/configmaps", {"metadata": {"name": "plain"}, "data": {"k": "v"}})
    api.ok("POST", "/api/v1/namespaces/doomed/configmaps",
           {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}, "data": {"k": "v"}})
    api.ok("POST", "/api/v1/namespaces/doomed/secrets", {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    ns = api.ok("DELETE", "/api/v1/namespaces/doomed")
    assert ns["status"]["phase"] == "Terminating"

    wait_for("the namespace's plain content to go", lambda: not any(
        api.exists(p) for p in ["/api/v1/namespaces/doomed/configmaps/plain", "/api/v1/namespaces/doomed/secrets/s",
                                *paths("doomed")]))
    held = api.ok("GET", "/api/v1/namespaces/doomed/configmaps/held")
    assert held["metadata"]["deletionTimestamp"], "the held object was deleted, and waits for its finalizer"
    time.sleep(1.5)
    assert api.ok("GET", "/api/v1/namespaces/doomed")["status"]["phase"] == "Terminating", \
        "the namespace waits while content remains"

    api.ok("PATCH", "/api/v1/namespaces/doomed/configmaps/held", {"metadata": {"finalizers": None}},
           content_type="application/merge-patch+json")
    wait_for("the namespace to be removed", lambda: not api.exists("/api/v1/namespaces/doomed"))


def test_objects_of_a_new_custom_resource_are_collected_too(api: API, manager: subprocess.Popen[bytes]) -> None:
    api.ok("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}})
    namespace(api, "gc-custom")
    collection = "/apis/example.com/v1/namespaces/gc-custom/widgets"
    wait_for("the CRD to be served", lambda: api.call("GET", collection)[0] == 200)
    owner = api.ok("POST", "/api/v1/namespaces/gc-custom/configmaps", {"metadata": {"name": "owner"}})
    api.ok("POST", collection, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {
        "name": "w1", "ownerReferences": [owner_ref(owner, "ConfigMap", "v1")]}, "spec": {"size": 1}})
    delete(api, "/api/v1/namespaces/gc-custom/configmaps/owner", "Background")
    wait_for("the Widget to be collected", lambda: not api.exists(collection + "/w1"))


def test_a_new_namespace_gets_its_default_service_account(api: API, manager: subprocess.Popen[bytes]) -> None:
    namespace(api, "fresh")
    sa_path = "/api/v1/namespaces/fresh/serviceaccounts/default"
    wait_for("the default ServiceAccount", lambda: api.exists(sa_path))
    first = api.ok("GET", sa_path)["metadata"]["uid"]
    api.ok("DELETE", sa_path)
    wait_for("the default ServiceAccount to come back", lambda: api.call("GET", sa_path)[0] == 200
             and api.ok("GET", sa_path)["metadata"]["uid"] != first)


def test_the_manager_exits_cleanly_on_sigterm(workdir: Path, api: API) -> None:
    # Without leader election: a second manager would otherwise wait as a standby.
    proc, log_path = start_manager(workdir, api, "manager-sigterm", "--leader-elect=false")
    try:
        wait_for("the second manager to start its controllers",
                 lambda: "started controllers" in log_path.read_text() or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, log_path.read_text()
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        assert code == 0, log_path.read_text()
        assert time.monotonic() - started < 5, "shutdown should take seconds, not the watch timeout"
    finally:
        stop_process(proc)


def test_the_client_over_tls_fails_over_and_closes_watches(workdir: Path) -> None:
    tls = workdir / "tls"
    paths = pki.ensure_cluster_pki(str(tls), server_dns=["localhost"], server_ips=["127.0.0.1"])
    port, dead = free_port(), free_port()
    log = open(tls / "apiserver.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlplane.api.server", "--store", f"sqlite:///{tls}/db",
         "--bind", f"127.0.0.1:{port}", "--tls-cert-file", paths["apiserver.crt"],
         "--tls-private-key-file", paths["apiserver.key"], "--client-ca-file", paths["ca.crt"]],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        def data(name: str) -> str:
            return base64.b64encode(Path(paths[name]).read_bytes()).decode()

        kubeconfig = tls / "admin.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "admin",
            "clusters": [{"name": "kc", "cluster": {"server": f"https://127.0.0.1:{dead}",
                                                    "certificate-authority-data": data("ca.crt")}}],
            "users": [{"name": "admin", "user": {"client-certificate-data": data("admin.crt"),
                                                 "client-key-data": data("admin.key")}}],
            "contexts": [{"name": "admin", "context": {"cluster": "kc", "user": "admin"}}]}))
        client = Client.from_kubeconfig(kubeconfig, extra_servers=[f"https://127.0.0.1:{port}"])

        def answers() -> bool:
            assert proc.poll() is None, (tls / "apiserver.log").read_text()[-3000:]
            try:
                client.get(r.NAMESPACES, "default")
                return True
            except Exception:  # noqa: BLE001 - still starting
                return False

        wait_for("the TLS API server", answers, timeout=60)
        assert client.server == f"https://127.0.0.1:{port}", "the dead endpoint was skipped"
        with pytest.raises(Exception) as missing:
            client.get(r.CONFIGMAPS, "absent", "default")
        assert is_not_found(missing.value)

        # (A watch from "0" starts with the existing objects, so its first line comes at once.)
        client.create(r.CONFIGMAPS, {"metadata": {"name": "before"}}, "default")
        stream = client.watch(r.CONFIGMAPS, "default", resource_version="0")
        names: list[str] = []
        reader = threading.Thread(target=lambda: names.extend(
            e["object"]["metadata"]["name"] for e in stream if e["type"] == "ADDED"))
        reader.start()
        client.create(r.CONFIGMAPS, {"metadata": {"name": "seen"}}, "default")
        wait_for("the watch to deliver the new ConfigMap", lambda: names == ["before", "seen"], timeout=20)
        stream.close()
        reader.join(5)
        assert not reader.is_alive(), "close() from another thread ends the stream"
    finally:
        stop_process(proc)
        log.close()
