"""A kopf operator, run for real, against a real kubeclass cluster.

The operator is ``operators/greeting_operator.py`` (read its docstring for what it does),
started as a user starts one: ``python -m kopf run --standalone --namespace NS FILE`` with
``KUBECONFIG`` pointing at the admin kubeconfig (client certificates over TLS). The test
plays the user: it changes Greetings with kubectl and looks at the effects with the Python
client, polling with a deadline, since the operator reacts asynchronously.

What kopf needs from the API server, all exercised here: legacy discovery, list-then-watch
of CRDs, namespaces and the custom resource, JSON patches with a ``test`` op (its finalizer),
merge patches of metadata and of the ``/status`` subresource, Events, deletion that waits for
finalizers; and, from the controller manager, garbage collection of the objects a custom
resource owns.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.slow

OPERATOR = Path(__file__).parent / "operators" / "greeting_operator.py"
GROUP, VERSION, PLURAL = "kubeclass.example.com", "v1", "greetings"
FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"

CRD = f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {PLURAL}.{GROUP}
spec:
  group: {GROUP}
  scope: Namespaced
  names: {{plural: {PLURAL}, singular: greeting, kind: Greeting}}
  versions:
  - name: {VERSION}
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [to]
            properties:
              salutation: {{type: string}}
              to: {{type: string}}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true  # kopf keeps handler results here
"""


def greeting(name: str, to: str, salutation: str = "Hello") -> str:
    return f"""
apiVersion: {GROUP}/{VERSION}
kind: Greeting
metadata:
  name: {name}
spec:
  salutation: {salutation}
  to: {to}
"""


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0, interval: float = 0.3,
              log: Path | None = None) -> Any:
    """Poll ``probe`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            tail = f"\n--- operator log ---\n{log.read_text()[-6000:]}" if log else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
        time.sleep(interval)


def read_or_none(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except ApiException as e:
        if e.status == 404:
            return None
        raise


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(cluster: Any) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=cluster.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as api_client:
        yield api_client


@pytest.fixture(scope="module")
def greeting_crd(cluster: Any) -> Iterator[None]:
    cluster.kubectl("apply", "-f", "-", input=CRD)
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{PLURAL}.{GROUP}", "--timeout=30s")
    yield
    cluster.kubectl("delete", "crd", f"{PLURAL}.{GROUP}", "--wait=false")


@pytest.fixture
def namespace(cluster: Any, api: client.ApiClient, greeting_crd: None) -> Iterator[str]:
    name = f"kopf-{uuid.uuid4().hex[:8]}"
    # `kubectl create namespace` sends protobuf, which kubeclass does not decode: apply instead.
    cluster.kubectl("apply", "-f", "-",
                    input=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
    yield name
    # The operator has stopped by now: a Greeting still holding kopf's finalizer (a failed
    # test) would keep the namespace Terminating forever, so let go of it first.
    custom = client.CustomObjectsApi(api)
    for item in custom.list_namespaced_custom_object(GROUP, VERSION, name, PLURAL)["items"]:
        custom.patch_namespaced_custom_object(GROUP, VERSION, name, PLURAL,
                                              item["metadata"]["name"],
                                              {"metadata": {"finalizers": None}})
    cluster.kubectl("delete", "namespace", name, "--wait=false")


class Operator:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc, self.log = proc, log

    def output(self) -> str:
        return self.log.read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None


@pytest.fixture
def operator(cluster: Any, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    log = tmp_path / "operator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--standalone", "--verbose",
             "--namespace", namespace, str(OPERATOR)],
            stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "KUBECONFIG": cluster.kubeconfig},
            start_new_session=True)
    op = Operator(proc, log)
    try:
        started = f"Starting the watch-stream for {PLURAL}.{VERSION}.{GROUP} in '{namespace}'"
        wait_for("kopf to watch Greetings", lambda: started in op.output() or not op.alive(),
                 timeout=60, log=log)
        assert op.alive(), f"kopf exited with {proc.returncode}:\n{op.output()}"
        yield op
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # kopf shuts down gracefully on SIGTERM
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


# -- the test ------------------------------------------------------------------------


def test_operator_handles_create_update_delete(cluster: Any, api: client.ApiClient,
                                               namespace: str, operator: Operator) -> None:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    greetings = (GROUP, VERSION, namespace, PLURAL)

    def get_greeting() -> dict[str, Any] | None:
        return read_or_none(lambda: custom.get_namespaced_custom_object(*greetings, "hello"))

    def get_configmap(name: str) -> client.V1ConfigMap | None:
        return read_or_none(lambda: core.read_namespaced_config_map(name, namespace))

    def until(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
        return wait_for(what, probe, timeout=timeout, log=operator.log)

    # Create: kopf adds its finalizer, the handler's result lands in status, the ConfigMap appears.
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=greeting("hello", to="world"))
    created = until("status.create_fn",
                    lambda: (g := get_greeting()) and "create_fn" in g.get("status", {}) and g)
    assert created["status"]["create_fn"] == {"message": "Hello, world!"}
    assert FINALIZER in created["metadata"]["finalizers"]

    owned = until("the ConfigMap hello-greeting", lambda: get_configmap("hello-greeting"))
    assert owned.data == {"message": "Hello, world!"}
    ref = client.V1OwnerReference(api_version=f"{GROUP}/{VERSION}", kind="Greeting", name="hello",
                                  uid=created["metadata"]["uid"], controller=True,
                                  block_owner_deletion=True)
    assert owned.metadata.owner_references == [ref]

    described = cluster.kubectl("describe", "greeting", "hello", "-n", namespace).stdout
    assert "create_fn:" in described and "Message:  Hello, world!" in described

    def greeted_event() -> list[client.CoreV1Event]:
        events = core.list_namespaced_event(namespace,
                                            field_selector="involvedObject.name=hello").items
        return [e for e in events if e.reason == "Greeted"]
    event = until("the Greeted event", greeted_event)[0]
    assert (event.type, event.message, event.involved_object.kind) == (
        "Normal", "Hello, world!", "Greeting")
    assert event.involved_object.uid == created["metadata"]["uid"]

    # Update: the ConfigMap follows the spec.
    cluster.kubectl("patch", "greeting", "hello", "-n", namespace, "--type=merge",
                    "-p", '{"spec": {"to": "students"}}')
    until("the ConfigMap to follow the spec",
          lambda: (cm := get_configmap("hello-greeting"))
          and cm.data == {"message": "Hello, students!"})
    updated = until("status.update_fn",
                    lambda: (g := get_greeting()) and "update_fn" in g["status"] and g)
    assert updated["status"]["update_fn"] == {"message": "Hello, students!"}
    assert updated["metadata"]["generation"] == 2

    # Delete: kubectl waits until the finalizer is gone and the object with it.
    before = updated["metadata"]["resourceVersion"]
    cluster.kubectl("delete", "greeting", "hello", "-n", namespace, "--timeout=60s")
    assert get_greeting() is None

    farewell = until("the farewell ConfigMap", lambda: get_configmap("hello-farewell"))
    assert farewell.data["message"] == "Goodbye, students!"
    # The handler ran while the object was held by kopf's finalizer, marked for deletion.
    assert farewell.data["finalizers"] == FINALIZER
    assert farewell.data["deletionTimestamp"] != "None"
    assert "farewell: hello is being deleted" in operator.output()

    # The history, replayed by a watch: marked for deletion with the finalizer still on, then
    # deleted once kopf removed it.
    stream = watch.Watch().stream(custom.list_namespaced_custom_object, *greetings,
                                  resource_version=before, timeout_seconds=2, _request_timeout=20)
    history = [(e["type"], e["object"]["metadata"]) for e in stream if e["type"] != "BOOKMARK"]
    kinds = [kind for kind, _ in history]
    assert kinds[-1] == "DELETED" and kinds.count("DELETED") == 1, kinds
    marked = next((meta for _, meta in history if meta.get("deletionTimestamp")), None)
    assert marked and FINALIZER in marked.get("finalizers", []), history
    assert not history[-1][1].get("finalizers"), history[-1]

    # The garbage collector removes what the Greeting owned.
    # Upstream's collector may need a discovery period (30 s) and a retry to notice a new CRD.
    until("the owned ConfigMap to be garbage-collected",
          lambda: get_configmap("hello-greeting") is None, timeout=90)
    assert get_configmap("hello-farewell") is not None
    assert operator.alive(), operator.output()
    errors = [line for line in operator.output().splitlines() if "[ERROR" in line]
    assert not errors, "\n".join(errors)
