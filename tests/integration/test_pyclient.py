"""The official Python client (``kubernetes`` v37) against a real kubeclass cluster.

What a student writes in a script or a notebook: load the kubeconfig (client certificate)
or build a ``Configuration`` with a bearer token, then call the typed APIs (``CoreV1Api``,
``AppsV1Api``, ``ApiextensionsV1Api``, ``CustomObjectsApi``), ``watch.Watch`` and the
``DynamicClient``. The typed client validates every response with strict pydantic models, so
a response missing a required field, or with a field of the wrong type, fails these tests
with a ``ValidationError``; the calls that return plain dicts (delete, custom objects, error
bodies) are checked with the same models here.

Each test works in a namespace of its own and deletes it at the end (the namespace
controller removes what is left inside). Objects carry labels the tests select on, so that
what controllers add to every namespace (upstream: ``kube-root-ca.crt``) does not count.
The CronTab CRD is shared by the module.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.slow

GROUP, VERSION, PLURAL = "pyclient.kubeclass.example.com", "v1", "crontabs"
CRD_NAME = f"{PLURAL}.{GROUP}"


# -- helpers -------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def status_of(exc: ApiException) -> client.V1Status:
    """The metav1.Status in an error response, read as strictly as the client reads objects."""
    assert exc.headers is not None, exc
    assert exc.headers["Content-Type"].startswith("application/json"), exc
    return client.V1Status.from_dict(json.loads(exc.body))


def expect_error(code: int, reason: str, call: Callable[[], Any]) -> client.V1Status:
    with pytest.raises(ApiException) as info:
        call()
    assert info.value.status == code, info.value
    status = status_of(info.value)
    assert (status.kind, status.status, status.code, status.reason) == (
        "Status", "Failure", code, reason)
    return status


def gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as e:
        if e.status == 404:
            return True
        raise
    return False


def deleted_uid(answer: dict[str, Any]) -> str:
    """A DELETE answers with the deleted object or with a Status "Success" (which one depends
    on the kind); the Python client returns either as a plain dict."""
    if answer.get("kind") == "Status":
        status = client.V1Status.from_dict(answer)
        assert status.status == "Success", answer
        return status.details.uid
    return client.V1ObjectMeta.from_dict(answer["metadata"]).uid


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data)


def deployment(name: str) -> client.V1Deployment:
    labels = {"app": name}
    containers = [client.V1Container(name="web", image="nginx:1.27"),
                  client.V1Container(name="sidecar", image="busybox:1.36", command=["sleep", "1d"])]
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=1, selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels),
                                              spec=client.V1PodSpec(containers=containers))))


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_client(cluster: Any) -> Iterator[client.ApiClient]:
    """Client-certificate authentication, from the admin kubeconfig.

    ``client_configuration=`` keeps the loaded configuration out of the process-wide default,
    which other test modules may rely on; the loading is the same as a student's
    ``config.load_kube_config()`` (the first test checks that form too).
    """
    cfg = client.Configuration()
    config.load_kube_config(config_file=cluster.kubeconfig, client_configuration=cfg)
    assert cfg.cert_file and cfg.key_file and not cfg.api_key, "expected client-certificate auth"
    with client.ApiClient(cfg) as api:
        yield api


@pytest.fixture(scope="module")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="module")
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> Iterator[str]:
    name = unique("pyclient")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="module")
def crontab_crd(api_client: client.ApiClient) -> Iterator[client.V1CustomResourceDefinition]:
    ext = client.ApiextensionsV1Api(api_client)
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "cronSpec": {"type": "string"}, "image": {"type": "string"},
            "replicas": {"type": "integer", "minimum": 0}}},
        "status": {"type": "object", "properties": {"lastScheduleTime": {"type": "string"}}}}}
    crd = client.V1CustomResourceDefinition(
        metadata=client.V1ObjectMeta(name=CRD_NAME),
        spec=client.V1CustomResourceDefinitionSpec(
            group=GROUP, scope="Namespaced",
            names=client.V1CustomResourceDefinitionNames(
                plural=PLURAL, singular="crontab", kind="CronTab", short_names=["ct"]),
            versions=[client.V1CustomResourceDefinitionVersion(
                name=VERSION, served=True, storage=True,
                subresources=client.V1CustomResourceSubresources(status={}),
                schema=client.V1CustomResourceValidation(open_apiv3_schema=schema))]))
    ext.create_custom_resource_definition(crd)

    def established() -> bool:
        conditions = ext.read_custom_resource_definition(CRD_NAME).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for("the CronTab CRD to be Established", established, timeout=20)
    yield ext.read_custom_resource_definition(CRD_NAME)
    ext.delete_custom_resource_definition(CRD_NAME)


# -- authentication ------------------------------------------------------------------


def test_load_kube_config_sets_the_default_client(cluster: Any) -> None:
    """The two lines every tutorial starts with: ``load_kube_config()`` then ``CoreV1Api()``."""
    saved = client.Configuration.get_default_copy()
    try:
        config.load_kube_config(config_file=cluster.kubeconfig)
        names = [ns.metadata.name for ns in client.CoreV1Api().list_namespace().items]
        assert {"default", "kube-system"} <= set(names)
        version = client.VersionApi().get_code()  # GET /version/
        assert version.major == "1" and version.git_version.startswith("v1.")
    finally:
        client.Configuration.set_default(saved)


def test_bearer_token(cluster: Any) -> None:
    cfg = client.Configuration(host=cluster.server, api_key={"authorization": cluster.token},
                               api_key_prefix={"authorization": "Bearer"})
    cfg.ssl_ca_cert = cluster.ca
    name = unique("pytoken")
    with client.ApiClient(cfg) as api:
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        try:
            created = core.create_namespaced_config_map(name, configmap("hello", greeting="hi"))
            assert created.metadata.namespace == name and created.data == {"greeting": "hi"}
            assert core.read_namespaced_config_map("hello", name).data == {"greeting": "hi"}
        finally:
            core.delete_namespace(name)

    cfg.api_key = {"authorization": "not-a-token"}
    with client.ApiClient(cfg) as api:
        expect_error(401, "Unauthorized", lambda: client.CoreV1Api(api).list_namespace())


# -- ConfigMaps: every verb, every patch type, the errors ------------------------------


def test_configmap_lifecycle(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_config_map(
        namespace, configmap("settings", {"app": "demo"}, color="blue"))
    assert isinstance(created.metadata.resource_version, str)
    assert created.metadata.uid and created.metadata.creation_timestamp.tzinfo is not None

    read = core.read_namespaced_config_map("settings", namespace)
    assert (read.metadata.uid, read.data) == (created.metadata.uid, {"color": "blue"})
    listed = core.list_namespaced_config_map(namespace, label_selector="app=demo")
    assert [cm.metadata.name for cm in listed.items] == ["settings"]
    assert isinstance(listed.metadata.resource_version, str)

    # A dict body is a strategic merge patch: keys are added, the others kept.
    patched = core.patch_namespaced_config_map("settings", namespace, {"data": {"size": "L"}})
    assert patched.data == {"color": "blue", "size": "L"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    # JSON merge patch: null deletes a key.
    patched = core.patch_namespaced_config_map("settings", namespace, {"data": {"size": None}},
                                               _content_type="application/merge-patch+json")
    assert patched.data == {"color": "blue"}
    # A list body is a JSON patch (RFC 6902).
    patched = core.patch_namespaced_config_map("settings", namespace, [
        {"op": "replace", "path": "/data/color", "value": "green"},
        {"op": "add", "path": "/metadata/labels/tier", "value": "backend"}])
    assert patched.data == {"color": "green"}
    assert patched.metadata.labels == {"app": "demo", "tier": "backend"}

    # Replace sends the object back with its resourceVersion: optimistic concurrency.
    patched.data["color"] = "red"
    replaced = core.replace_namespaced_config_map("settings", namespace, patched)
    assert replaced.data == {"color": "red"}
    conflict = expect_error(
        409, "Conflict", lambda: core.replace_namespaced_config_map("settings", namespace, patched))
    assert (conflict.details.name, conflict.details.kind) == ("settings", "configmaps")
    # A JSON patch whose test op fails is an invalid patch (kopf relies on this).
    expect_error(422, "Invalid", lambda: core.patch_namespaced_config_map("settings", namespace, [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "replace", "path": "/data/color", "value": "black"}]))

    deleted = core.delete_namespaced_config_map("settings", namespace)
    assert deleted_uid(deleted) == created.metadata.uid
    missing = expect_error(
        404, "NotFound", lambda: core.read_namespaced_config_map("settings", namespace))
    assert missing.message == 'configmaps "settings" not found'
    assert (missing.details.name, missing.details.kind) == ("settings", "configmaps")


def test_create_errors(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, configmap("taken"))
    exists = expect_error(
        409, "AlreadyExists", lambda: core.create_namespaced_config_map(namespace, configmap("taken")))
    assert exists.message == 'configmaps "taken" already exists'

    invalid = expect_error(
        422, "Invalid", lambda: core.create_namespaced_config_map(namespace, configmap("Not_A_Name")))
    assert invalid.message.startswith(
        'ConfigMap "Not_A_Name" is invalid: metadata.name: Invalid value')
    assert invalid.details.kind == "ConfigMap"
    assert [(c.field, c.reason) for c in invalid.details.causes] == [
        ("metadata.name", "FieldValueInvalid")]

    expect_error(404, "NotFound", lambda: core.delete_namespaced_config_map("never-was", namespace))
    expect_error(404, "NotFound",
                 lambda: core.create_namespaced_config_map(unique("no-such-ns"), configmap("x")))

    generated = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-")))
    assert generated.metadata.name.startswith("gen-") and len(generated.metadata.name) == 9


def test_list_with_label_and_field_selectors(core: client.CoreV1Api, namespace: str) -> None:
    for name, labels in [("red", {"color": "red", "tier": "web"}), ("blue", {"color": "blue"}),
                         ("plain", {})]:
        core.create_namespaced_config_map(namespace, configmap(name, {"kit": "palette", **labels}))

    def names(**selectors: str) -> list[str]:
        found = core.list_namespaced_config_map(namespace, **selectors).items
        return sorted(cm.metadata.name for cm in found)

    assert names(label_selector="color=red") == ["red"]
    assert names(label_selector="color in (red,blue)") == ["blue", "red"]
    assert names(label_selector="color,tier!=web") == ["blue"]
    assert names(label_selector="kit=palette,!color") == ["plain"]
    assert names(label_selector="color=green") == []
    assert names(field_selector="metadata.name=blue") == ["blue"]
    assert names(field_selector="metadata.name!=blue", label_selector="color") == ["red"]

    everywhere = core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={namespace}", label_selector="kit=palette")
    assert sorted(cm.metadata.name for cm in everywhere.items) == ["blue", "plain", "red"]

    expect_error(400, "BadRequest", lambda: names(label_selector="color in (red"))
    expect_error(400, "BadRequest", lambda: names(field_selector="data.color=red"))


# -- Deployments ---------------------------------------------------------------------


def images(d: client.V1Deployment) -> list[tuple[str, str]]:
    return [(c.name, c.image) for c in d.spec.template.spec.containers]


def test_deployment_patch_scale_and_status(apps: client.AppsV1Api, namespace: str) -> None:
    created = apps.create_namespaced_deployment(namespace, deployment("web"))
    assert created.metadata.generation == 1
    assert created.spec.strategy.type == "RollingUpdate"
    assert created.spec.revision_history_limit == 10
    assert created.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"

    # Strategic merge patch merges the containers list by name: the sidecar stays.
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}}
    patched = apps.patch_namespaced_deployment("web", namespace, patch)
    assert images(patched) == [("web", "nginx:1.28"), ("sidecar", "busybox:1.36")]
    assert patched.metadata.generation == 2
    # A JSON merge patch replaces lists whole.
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.29"}]}}}}
    patched = apps.patch_namespaced_deployment("web", namespace, patch,
                                               _content_type="application/merge-patch+json")
    assert images(patched) == [("web", "nginx:1.29")]
    patched = apps.patch_namespaced_deployment("web", namespace, [
        {"op": "add", "path": "/spec/minReadySeconds", "value": 5},
        {"op": "replace", "path": "/spec/replicas", "value": 2}])
    assert (patched.spec.min_ready_seconds, patched.spec.replicas) == (5, 2)

    scale = apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 3}})
    assert (scale.kind, scale.api_version, scale.spec.replicas) == ("Scale", "autoscaling/v1", 3)
    assert scale.status.selector == "app=web"
    assert apps.read_namespaced_deployment_scale("web", namespace).spec.replicas == 3
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 3

    current = apps.read_namespaced_deployment_status("web", namespace)
    assert current.spec.replicas == 3 and current.metadata.generation == 5
    # /status writes leave .spec alone.
    status = apps.patch_namespaced_deployment_status(
        "web", namespace, {"spec": {"replicas": 9}, "status": {"observedGeneration": 5}},
        _content_type="application/merge-patch+json")
    assert status.spec.replicas == 3 and status.status.observed_generation == 5

    # Read, modify, replace; a 409 means someone (a controller writing status) came between.
    for _ in range(5):
        current = apps.read_namespaced_deployment("web", namespace)
        current.spec.replicas = 4
        current.metadata.labels["edited"] = "yes"
        try:
            replaced = apps.replace_namespaced_deployment("web", namespace, current)
            break
        except ApiException as e:
            if e.status != 409:
                raise
    assert replaced.spec.replicas == 4 and replaced.metadata.labels["edited"] == "yes"
    listed = apps.list_namespaced_deployment(namespace, label_selector="edited=yes")
    assert [d.metadata.name for d in listed.items] == ["web"]


def test_delete_foreground_as_query_parameter(apps: client.AppsV1Api, core: client.CoreV1Api,
                                              namespace: str) -> None:
    """Foreground: the owner waits, marked with the foregroundDeletion finalizer, until the
    garbage collector has removed its dependents (here a ConfigMap it owns)."""
    owner = apps.create_namespaced_deployment(namespace, deployment("fg"))
    dependent = configmap("fg-config")
    dependent.metadata.owner_references = [client.V1OwnerReference(
        api_version="apps/v1", kind="Deployment", name="fg", uid=owner.metadata.uid,
        block_owner_deletion=True)]
    core.create_namespaced_config_map(namespace, dependent)

    answer = apps.delete_namespaced_deployment("fg", namespace, propagation_policy="Foreground")
    deleting = client.V1Deployment.from_dict(answer)
    assert deleting.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in (deleting.metadata.finalizers or [])

    wait_for("the Deployment to be deleted",
             lambda: gone(lambda: apps.read_namespaced_deployment("fg", namespace)), timeout=60)
    # Foreground means the owner goes last: its blocking dependent must be gone already.
    assert gone(lambda: core.read_namespaced_config_map("fg-config", namespace))


# -- Services and Namespaces ---------------------------------------------------------


def test_service(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_service(namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
        spec=client.V1ServiceSpec(selector={"app": "web"},
                                  ports=[client.V1ServicePort(name="http", port=80)])))
    assert created.spec.type == "ClusterIP" and created.spec.session_affinity == "None"
    assert created.spec.cluster_ip and created.spec.cluster_ips == [created.spec.cluster_ip]
    port = created.spec.ports[0]
    assert (port.port, port.protocol, port.target_port) == (80, "TCP", 80)

    # A replace without clusterIP keeps the allocated one.
    allocated = created.spec.cluster_ip
    created.spec.cluster_ip = created.spec.cluster_ips = None
    created.spec.ports[0].port = 8080
    replaced = core.replace_namespaced_service("web", namespace, created)
    assert (replaced.spec.cluster_ip, replaced.spec.ports[0].port) == (allocated, 8080)

    nodeport = core.patch_namespaced_service("web", namespace, {"spec": {"type": "NodePort"}})
    assert nodeport.spec.type == "NodePort"
    assert 30000 <= nodeport.spec.ports[0].node_port <= 32767

    listed = core.list_namespaced_service(namespace, label_selector="app=web")
    assert [s.metadata.name for s in listed.items] == ["web"]
    core.delete_namespaced_service("web", namespace)
    assert gone(lambda: core.read_namespaced_service("web", namespace))


def test_namespace_lifecycle(core: client.CoreV1Api) -> None:
    name = unique("pyns")
    created = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=name, labels={"course": "k8s-101"})))
    try:
        assert created.status.phase == "Active" and created.spec.finalizers == ["kubernetes"]
        assert created.metadata.labels["kubernetes.io/metadata.name"] == name
        listed = core.list_namespace(label_selector="course=k8s-101")
        assert name in [ns.metadata.name for ns in listed.items]
        patched = core.patch_namespace(name, {"metadata": {"labels": {"week": "3"}}})
        assert (patched.metadata.labels["week"], patched.metadata.labels["course"]) == (
            "3", "k8s-101")
        core.create_namespaced_config_map(name, configmap("inside"))
    finally:
        answer = core.delete_namespace(name)
    terminating = client.V1Namespace.from_dict(answer)
    assert terminating.status.phase == "Terminating" and terminating.metadata.deletion_timestamp
    wait_for(f"namespace {name} to be deleted", lambda: gone(lambda: core.read_namespace(name)))
    expect_error(404, "NotFound", lambda: core.read_namespaced_config_map("inside", name))


# -- Watch ---------------------------------------------------------------------------


def test_watch_sees_changes_made_by_another_thread(core: client.CoreV1Api, namespace: str) -> None:
    watched = {"demo": "watch"}
    core.create_namespaced_config_map(namespace, configmap("before", watched, step="0"))
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            time.sleep(1)  # let the watch start first
            core.create_namespaced_config_map(namespace, configmap("live", watched, step="1"))
            core.patch_namespaced_config_map("live", namespace, {"data": {"step": "2"}})
            core.delete_namespaced_config_map("live", namespace)
        except BaseException as e:  # noqa: BLE001 - reported by the test thread below
            errors.append(e)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    seen: list[tuple[str, str, str | None, str]] = []
    w = watch.Watch()
    # timeout_seconds ends the stream on the server; _request_timeout guards against a hang.
    for event in w.stream(core.list_namespaced_config_map, namespace, label_selector="demo=watch",
                          timeout_seconds=15, allow_watch_bookmarks=True, _request_timeout=30):
        if event["type"] == "BOOKMARK":
            continue
        obj = event["object"]
        assert isinstance(obj, client.V1ConfigMap), event
        seen.append((event["type"], obj.metadata.name, (obj.data or {}).get("step"),
                     obj.metadata.resource_version))
        if (event["type"], obj.metadata.name) == ("DELETED", "live"):
            w.stop()
    thread.join(10)
    assert not errors, errors
    # Without a resourceVersion the watch starts with the current state, as ADDED events.
    assert [s[:3] for s in seen] == [("ADDED", "before", "0"), ("ADDED", "live", "1"),
                                     ("MODIFIED", "live", "2"), ("DELETED", "live", "2")], seen
    versions = [int(s[3]) for s in seen[1:]]
    assert versions == sorted(versions) and len(set(versions)) == 3


def test_watch_resumes_from_a_list(core: client.CoreV1Api, namespace: str) -> None:
    """The informer pattern: list, then watch from the list's resourceVersion."""
    core.create_namespaced_config_map(namespace, configmap("old", {"demo": "resume"}))
    listed = core.list_namespaced_config_map(namespace, label_selector="demo=resume")
    core.create_namespaced_config_map(namespace, configmap("new", {"demo": "resume"}))
    stream = watch.Watch().stream(core.list_namespaced_config_map, namespace,
                                  label_selector="demo=resume",
                                  resource_version=listed.metadata.resource_version,
                                  timeout_seconds=2, _request_timeout=20)
    events = [(e["type"], e["object"].metadata.name) for e in stream if e["type"] != "BOOKMARK"]
    assert events == [("ADDED", "new")]


# -- Custom resources ----------------------------------------------------------------


def test_custom_objects(api_client: client.ApiClient,
                        crontab_crd: client.V1CustomResourceDefinition, namespace: str) -> None:
    assert crontab_crd.status.accepted_names.kind == "CronTab"
    custom = client.CustomObjectsApi(api_client)
    crontabs = (GROUP, VERSION, namespace, PLURAL)
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "CronTab",
            "metadata": {"name": "nightly", "labels": {"when": "night"}},
            "spec": {"cronSpec": "0 3 * * *", "image": "backup:1", "replicas": 1}}
    created = custom.create_namespaced_custom_object(*crontabs, body)
    meta = client.V1ObjectMeta.from_dict(created["metadata"])
    assert (meta.namespace, meta.generation) == (namespace, 1)
    assert isinstance(meta.resource_version, str)

    got = custom.get_namespaced_custom_object(*crontabs, "nightly")
    assert got["spec"] == body["spec"] and got["metadata"]["uid"] == meta.uid
    listed = custom.list_namespaced_custom_object(*crontabs, label_selector="when=night")
    assert listed["kind"] == "CronTabList"
    assert [o["metadata"]["name"] for o in listed["items"]] == ["nightly"]
    assert client.V1ListMeta.from_dict(listed["metadata"]).resource_version
    assert custom.list_namespaced_custom_object(*crontabs, label_selector="when=day")["items"] == []

    # A dict body goes as a merge patch (custom resources have no strategic merge).
    patched = custom.patch_namespaced_custom_object(*crontabs, "nightly",
                                                    {"spec": {"replicas": 2, "image": None}})
    assert patched["spec"] == {"cronSpec": "0 3 * * *", "replicas": 2}
    assert patched["metadata"]["generation"] == 2
    # status is a subresource: the main resource ignores it, /status takes only it.
    ignored = custom.patch_namespaced_custom_object(*crontabs, "nightly",
                                                    {"status": {"lastScheduleTime": "never"}})
    assert "status" not in ignored
    status = custom.patch_namespaced_custom_object_status(
        *crontabs, "nightly", {"status": {"lastScheduleTime": "2026-01-01T03:00:00Z"}})
    assert status["status"] == {"lastScheduleTime": "2026-01-01T03:00:00Z"}
    assert status["metadata"]["generation"] == 2

    invalid = expect_error(422, "Invalid", lambda: custom.patch_namespaced_custom_object(
        *crontabs, "nightly", {"spec": {"replicas": "many"}}))
    assert [c.field for c in invalid.details.causes] == ["spec.replicas"]
    expect_error(409, "AlreadyExists",
                 lambda: custom.create_namespaced_custom_object(*crontabs, body))

    deleted = custom.delete_namespaced_custom_object(*crontabs, "nightly")
    assert deleted_uid(deleted) == meta.uid
    missing = expect_error(404, "NotFound",
                           lambda: custom.get_namespaced_custom_object(*crontabs, "nightly"))
    assert missing.message == f'{PLURAL}.{GROUP} "nightly" not found'


def test_custom_resource_owner_is_garbage_collected(
        api_client: client.ApiClient, core: client.CoreV1Api, namespace: str) -> None:
    """What an operator relies on: a ConfigMap owned by a custom resource goes with it, even
    when the CRD is brand new (the collector learns of new resources only by rediscovery)."""
    ext, custom = client.ApiextensionsV1Api(api_client), client.CustomObjectsApi(api_client)
    group = f"{unique('gc')}.kubeclass.example.com"
    owners = (group, "v1", namespace, "owners")
    ext.create_custom_resource_definition(client.V1CustomResourceDefinition(
        metadata=client.V1ObjectMeta(name=f"owners.{group}"),
        spec=client.V1CustomResourceDefinitionSpec(
            group=group, scope="Namespaced",
            names=client.V1CustomResourceDefinitionNames(
                plural="owners", singular="owner", kind="Owner"),
            versions=[client.V1CustomResourceDefinitionVersion(
                name="v1", served=True, storage=True, schema=client.V1CustomResourceValidation(
                    open_apiv3_schema={"type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}))])))
    try:
        wait_for("the Owner CRD to be served", lambda: not gone(
            lambda: custom.list_namespaced_custom_object(*owners)), timeout=20)
        owner = custom.create_namespaced_custom_object(*owners, {
            "apiVersion": f"{group}/v1", "kind": "Owner", "metadata": {"name": "boss"}})
        dependent = configmap("owned")
        dependent.metadata.owner_references = [client.V1OwnerReference(
            api_version=f"{group}/v1", kind="Owner", name="boss", uid=owner["metadata"]["uid"])]
        core.create_namespaced_config_map(namespace, dependent)
        time.sleep(3)  # owners live a while: the collector has seen this one alive
        custom.delete_namespaced_custom_object(*owners, "boss")
        # Upstream's collector may need a discovery period (30 s) and a retry to see a new CRD.
        wait_for("the ConfigMap owned by the deleted Owner to be garbage-collected",
                 lambda: gone(lambda: core.read_namespaced_config_map("owned", namespace)),
                 timeout=90)
    finally:
        ext.delete_custom_resource_definition(f"owners.{group}")


def test_dynamic_client(api_client: client.ApiClient,
                        crontab_crd: client.V1CustomResourceDefinition, namespace: str,
                        tmp_path: Path) -> None:
    dyn = dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))
    assert dyn.version["kubernetes"]["major"] == "1"

    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    assert (deployments.name, deployments.namespaced) == ("deployments", True)
    assert {"scale", "status"} <= set(deployments.subresources)
    assert dyn.resources.get(api_version="v1", kind="Namespace").namespaced is False

    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    configmaps.create(namespace=namespace, body={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dyn"},
        "data": {"via": "dynamic"}})
    got = configmaps.get(name="dyn", namespace=namespace)
    assert got.kind == "ConfigMap" and got.data.via == "dynamic"
    assert client.V1ConfigMap.from_dict(got.to_dict()).data == {"via": "dynamic"}

    crontabs = dyn.resources.get(api_version=f"{GROUP}/{VERSION}", kind="CronTab")
    assert crontabs.name == PLURAL and crontabs.short_names == ["ct"]
    crontabs.create(namespace=namespace, body={
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "CronTab", "metadata": {"name": "hourly"},
        "spec": {"cronSpec": "0 * * * *"}})
    assert crontabs.get(name="hourly", namespace=namespace).spec.cronSpec == "0 * * * *"
    assert [o.metadata.name for o in crontabs.get(namespace=namespace).items] == ["hourly"]
