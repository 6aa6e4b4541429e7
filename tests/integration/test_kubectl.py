"""The real kubectl (1.33 and 1.32) against a real local cluster: what a student types.

Each kubectl version works in its own namespace and API group, so the two runs never
see each other's objects.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import textwrap
import time

import pytest
import yaml

from tests.livecluster import KUBECTL_VERSIONS, Cluster, kubectl_binary

pytestmark = pytest.mark.slow


def manifest(ns: str, group: str, replicas: int = 2) -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: {ns}
          labels: {{app: web}}
        spec:
          replicas: {replicas}
          selector:
            matchLabels: {{app: web}}
          template:
            metadata:
              labels: {{app: web}}
            spec:
              containers:
              - name: nginx
                image: nginx:1.25
                ports:
                - containerPort: 80
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: web
          namespace: {ns}
        spec:
          selector: {{app: web}}
          ports:
          - port: 80
            targetPort: 80
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: web-config
          namespace: {ns}
        data:
          greeting: hello
        ---
        apiVersion: v1
        kind: Secret
        metadata:
          name: web-secret
          namespace: {ns}
        type: Opaque
        data:
          password: czNjcmV0
        ---
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: crontabs.{group}
        spec:
          group: {group}
          scope: Namespaced
          names: {{plural: crontabs, singular: crontab, kind: CronTab}}
          versions:
          - name: v1
            served: true
            storage: true
            schema:
              openAPIV3Schema:
                type: object
                properties:
                  spec:
                    type: object
                    properties:
                      cronSpec: {{type: string}}
                      image: {{type: string}}
            additionalPrinterColumns:
            - {{name: Spec, type: string, jsonPath: .spec.cronSpec}}
        ---
        apiVersion: {group}/v1
        kind: CronTab
        metadata:
          name: my-crontab
          namespace: {ns}
        spec:
          cronSpec: "* * * * */5"
          image: my-cron-image
        """)


@dataclasses.dataclass
class Kubectl:
    """One kubectl version with a fresh namespace and API group of its own."""

    cluster: Cluster
    version: str
    ns: str
    group: str

    @property
    def binary(self) -> str:
        return kubectl_binary(self.version)

    def __call__(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.cluster.kubectl(*args, version=self.version, **kw)


@pytest.fixture(params=KUBECTL_VERSIONS)
def kc(request, cluster: Cluster):
    version = request.param.replace(".", "")
    name = request.node.originalname.removeprefix("test_").replace("_", "-")[:30].strip("-")
    k = Kubectl(cluster, request.param, f"kc{version}-{name}", f"v{version}.example.com")
    k("apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {k.ns}\n")
    yield k
    k("delete", "namespace", k.ns, "--wait=false", check=False)


def test_version_and_discovery(kc):
    run = kc
    out = run("version").stdout
    assert "Server Version: v1.33.0+kubeclass" in out
    resources = run("api-resources").stdout
    for line in ("deployments", "customresourcedefinitions", "horizontalpodautoscalers", "poddisruptionbudgets"):
        assert line in resources
    namespaces = run("get", "ns").stdout
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert name in namespaces and "Active" in namespaces


def test_apply_twice_then_server_side_and_diff(kc, tmp_path):
    run, ns, group = kc, kc.ns, kc.group
    path = tmp_path / "app.yaml"
    path.write_text(manifest(ns, group))
    # As against a real cluster: kubectl maps every object to a resource before it creates
    # any, so the CronTab is unknown until its CRD exists; the next apply creates it.
    first = run("apply", "-f", str(path), check=False)
    assert first.stdout.splitlines() == [
        "deployment.apps/web created", "service/web created", "configmap/web-config created",
        "secret/web-secret created", f"customresourcedefinition.apiextensions.k8s.io/crontabs.{group} created"]
    assert f'no matches for kind "CronTab" in version "{group}/v1"' in first.stderr
    assert "ensure CRDs are installed first" in first.stderr
    second = run("apply", "-f", str(path)).stdout.splitlines()
    assert second[-1] == f"crontab.{group}/my-crontab created"
    assert all(line.endswith(" unchanged") for line in second[:-1]) and len(second) == 6
    again = run("apply", "-f", str(path)).stdout.splitlines()
    assert all(line.endswith(" unchanged") for line in again) and len(again) == 6
    ssa = run("apply", "--server-side", "-f", str(path)).stdout.splitlines()
    assert all(line.endswith(" serverside-applied") for line in ssa) and len(ssa) == 6
    assert run("diff", "-f", str(path), check=False).returncode == 0
    changed = tmp_path / "changed.yaml"
    changed.write_text(manifest(ns, group, replicas=3))
    diff = run("diff", "-f", str(changed), check=False)
    assert diff.returncode == 1 and "+  replicas: 3" in diff.stdout
    assert run("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout == "2"
    assert "my-crontab" in run("get", f"crontabs.{group}", "-n", ns).stdout


def test_get_in_every_format(kc):
    run, ns, group = kc, kc.ns, kc.group
    run("apply", "-f", "-", input=manifest(ns, group).split("---\napiVersion: apiextensions")[0])
    wide = run("get", "deploy", "-n", ns, "-o", "wide").stdout
    assert wide.split("\n")[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS",
                                           "IMAGES", "SELECTOR"]
    assert "nginx:1.25" in wide and "app=web" in wide
    assert json.loads(run("get", "cm", "web-config", "-n", ns, "-o", "json").stdout)["data"] == {"greeting": "hello"}
    assert "kind: Service" in run("get", "svc", "web", "-n", ns, "-o", "yaml").stdout
    assert run("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout \
        == "nginx:1.25"
    everything = run("get", "all", "-A").stdout
    assert f"{ns}" in everything and "deployment.apps/web" in everything and "service/kubernetes" in everything
    assert run("get", "deploy", "web", "-n", ns, "-o", "name").stdout.strip() == "deployment.apps/web"


def test_watch_sees_another_clients_change(kc, cluster):
    run, ns = kc, kc.ns
    run("apply", "-f", "-", input=f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\n  namespace: {ns}\n")
    watcher = subprocess.Popen(
        [kc.binary, "--kubeconfig", cluster.kubeconfig, "get", "cm", "-n", ns, "-w",
         "--output-watch-events"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={"HOME": cluster.home, "PATH": "/usr/bin"})
    try:
        time.sleep(2)
        run("patch", "cm", "watched", "-n", ns, "--type=merge", "-p", '{"data":{"changed":"yes"}}')
        run("delete", "cm", "watched", "-n", ns)
        time.sleep(2)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    lines = [line.split() for line in out.splitlines() if "watched" in line]
    assert [line[0] for line in lines] == ["ADDED", "MODIFIED", "DELETED"], out


def test_describe_label_annotate_patch_scale(kc):
    run, ns, group = kc, kc.ns, kc.group
    run("apply", "-f", "-", input=manifest(ns, group).split("---\napiVersion: apiextensions")[0])
    assert run("label", "deploy", "web", "-n", ns, "tier=front").stdout.strip() == "deployment.apps/web labeled"
    assert run("annotate", "deploy", "web", "-n", ns, "note=hello").stdout.strip() == "deployment.apps/web annotated"
    run("patch", "deploy", "web", "-n", ns, "--type=merge", "-p", '{"spec":{"replicas":3}}')
    run("patch", "deploy", "web", "-n", ns, "--type=strategic", "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}')
    run("patch", "deploy", "web", "-n", ns, "--type=json", "-p", '[{"op":"replace","path":"/spec/replicas","value":4}]')
    assert run("scale", "deployment", "web", "-n", ns, "--replicas=5").stdout.strip() == "deployment.apps/web scaled"
    d = json.loads(run("get", "deploy", "web", "-n", ns, "-o", "json").stdout)
    assert d["spec"]["replicas"] == 5 and d["metadata"]["generation"] == 5
    assert d["metadata"]["labels"]["tier"] == "front" and d["metadata"]["annotations"]["note"] == "hello"
    assert sorted(c["name"] for c in d["spec"]["template"]["spec"]["containers"]) == ["nginx", "sidecar"]
    described = run("describe", "deploy", "web", "-n", ns).stdout
    for text in ("Name:                   web", f"Namespace:              {ns}", "tier=front",
                 "Replicas:               5 desired", "RollingUpdateStrategy:  25% max unavailable, 25% max surge"):
        assert text in described


def test_explain(kc):
    run = kc
    out = run("explain", "deployment.spec").stdout
    assert "KIND:       Deployment" in out and "FIELD: spec <DeploymentSpec>" in out
    assert "replicas\t<integer>" in out and "template\t<PodTemplateSpec> -required-" in out
    recursive = run("explain", "pods.spec.containers.ports", "--recursive").stdout
    assert "containerPort\t<integer> -required-" in recursive


def test_invalid_manifest_and_stale_update(kc, tmp_path):
    run, ns, group = kc, kc.ns, kc.group
    bad = textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: bad, namespace: {ns}}}
        spec:
          replicas: -2
          selector: {{matchLabels: {{app: bad}}}}
          template:
            metadata: {{labels: {{app: other}}}}
            spec:
              containers: [{{name: c}}]
        """)
    result = run("apply", "-f", "-", input=bad, check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'The Deployment "bad" is invalid: ',
        "* spec.replicas: Invalid value: -2: must be greater than or equal to 0",
        '* spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: '
        "`selector` does not match template `labels`",
        "* spec.template.spec.containers[0].image: Required value",
    ]
    typo = bad.replace("replicas: -2", "replicaz: 2").replace("app: other", "app: bad").replace(
        "{name: c}", "{name: c, image: nginx}")
    result = run("apply", "-f", "-", input=typo, check=False)
    assert 'strict decoding error: unknown field "spec.replicaz"' in result.stderr
    run("apply", "-f", "-", input=manifest(ns, group).split("---\napiVersion: apiextensions")[0])
    stale = tmp_path / "stale.json"
    stale.write_text(run("get", "deploy", "web", "-n", ns, "-o", "json").stdout)
    run("scale", "deploy", "web", "-n", ns, "--replicas=6")
    result = run("replace", "-f", str(stale), check=False)
    assert result.returncode == 1 and "Error from server (Conflict)" in result.stderr
    assert 'Operation cannot be fulfilled on deployments.apps "web": the object has been modified' in result.stderr


def test_wait_for_delete(kc):
    run, ns = kc, kc.ns
    body = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gone\n  namespace: {ns}\n  finalizers: [example.com/hold]\n"
    run("apply", "-f", "-", input=body)
    run("delete", "cm", "gone", "-n", ns, "--wait=false")
    result = run("wait", "--for=delete", "cm/gone", "-n", ns, "--timeout=2s", check=False)
    assert result.returncode != 0  # still held by its finalizer
    run("patch", "cm", "gone", "-n", ns, "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    assert run("wait", "--for=delete", "cm/gone", "-n", ns, "--timeout=20s").returncode == 0


def owned_chain(run, ns: str) -> tuple[str, str]:
    """A Deployment, and the ReplicaSet and Pod its controllers made for it.
    Returns the names of the ReplicaSet and the Pod."""
    run("apply", "-f", "-", input=manifest(ns, "unused.example.com", replicas=1).split("---")[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rs = run("get", "rs", "-n", ns, "-o", "name").stdout.split()
        pods = run("get", "pods", "-n", ns, "-o", "name").stdout.split()
        if rs and pods:
            return rs[0], pods[0]
        time.sleep(0.3)
    raise AssertionError("the deployment and replicaset controllers made no ReplicaSet and Pod")


def gone(run, ns: str, *objects: str, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(run("get", o, "-n", ns, "--ignore-not-found", "-o", "name").stdout.strip() == "" for o in objects):
            return True
        time.sleep(0.5)
    return False


def test_delete_cascade_background(kc):
    run, ns = kc, kc.ns
    rs, pod = owned_chain(run, ns)
    assert run("delete", "deploy", "web", "-n", ns).stdout.strip() == 'deployment.apps "web" deleted'
    assert gone(run, ns, rs, pod), "the garbage collector removes the dependents"


def test_delete_cascade_foreground(kc):
    run, ns = kc, kc.ns
    rs, pod = owned_chain(run, ns)
    run("delete", "deploy", "web", "-n", ns, "--cascade=foreground", timeout=90)
    assert gone(run, ns, "deploy/web", rs, pod)


def test_delete_cascade_orphan(kc):
    run, ns = kc, kc.ns
    rs, pod = owned_chain(run, ns)
    run("delete", "deploy", "web", "-n", ns, "--cascade=orphan", timeout=90)
    assert gone(run, ns, "deploy/web")
    orphan = json.loads(run("get", rs, "-n", ns, "-o", "json").stdout)
    assert not orphan["metadata"].get("ownerReferences")
    assert run("get", pod, "-n", ns, "-o", "name").stdout.strip() == pod


def test_deleting_a_namespace_empties_it(cluster):
    cluster.kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata:\n  name: short-lived\n")
    cluster.kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inside\n"
                                              "  namespace: short-lived\n")
    sa = cluster.kubectl("get", "sa", "default", "-n", "short-lived", "-o", "name", check=False)
    cluster.kubectl("delete", "namespace", "short-lived", timeout=90)
    assert cluster.kubectl("get", "ns", "short-lived", "--ignore-not-found", "-o", "name").stdout == ""
    assert sa.returncode == 0 or "NotFound" in sa.stderr


def test_imperative_create_explains_the_protobuf_refusal(cluster):
    result = cluster.kubectl("create", "namespace", "imperative", check=False)
    assert result.returncode == 1 and "Error from server (UnsupportedMediaType)" in result.stderr
    assert "kubectl create namespace demo --dry-run=client -o yaml | kubectl apply -f -" in result.stderr
    piped = subprocess.run(
        f"{kubectl_binary('1.33')} --kubeconfig {cluster.kubeconfig} create namespace imperative "
        f"--dry-run=client -o yaml | {kubectl_binary('1.33')} --kubeconfig {cluster.kubeconfig} "
        "apply -f -", shell=True, capture_output=True, text=True, env={"HOME": cluster.home, "PATH": "/usr/bin"})
    assert piped.stdout.strip() == "namespace/imperative created"


def test_credentials_are_required(cluster, tmp_path):
    with open(cluster.kubeconfig) as f:
        config = yaml.safe_load(f)
    config["users"][0]["user"] = {"token": "not-a-valid-token"}
    path = tmp_path / "bad.kubeconfig"
    path.write_text(json.dumps(config))
    result = subprocess.run([kubectl_binary("1.33"), "--kubeconfig", str(path), "get", "ns"],
                            capture_output=True, text=True, env={"HOME": cluster.home})
    assert "You must be logged in to the server (Unauthorized)" in result.stderr
    config["users"][0]["user"] = {"token": cluster.token}
    path.write_text(json.dumps(config))
    result = subprocess.run([kubectl_binary("1.33"), "--kubeconfig", str(path), "get", "ns"],
                            capture_output=True, text=True, env={"HOME": cluster.home})
    assert result.returncode == 0 and "kube-system" in result.stdout


def test_create_from_a_file(kc, tmp_path):
    run, ns = kc, kc.ns
    path = tmp_path / "cm.yaml"
    path.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: made\n  namespace: {ns}\ndata:\n  a: b\n")
    assert run("create", "-f", str(path)).stdout.strip() == "configmap/made created"
    again = run("create", "-f", str(path), check=False)
    assert again.returncode == 1
    assert f'Error from server (AlreadyExists): error when creating "{path}": configmaps "made" already exists' \
        in again.stderr
    path.write_text(path.read_text().replace("  a: b", "  a: b\n  typo: [1]"))
    typed = run("create", "-f", str(path), "--dry-run=server", check=False)
    assert typed.returncode == 1 and "cannot unmarshal array" in typed.stderr
