"""Pod validation: each case breaks one thing in a valid, defaulted pod and expects the
exact lines kubectl prints under 'The Pod "web" is invalid:'."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from controlplane.api.defaults.core import default_pod
from controlplane.api.fielderrors import Path
from controlplane.api.validation.core import RULES, validate_pod_spec, validate_pod_template_spec

RULE = RULES["Pod"]
Change = Callable[[dict], Any]
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or"
             " '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or"
             " '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
NAME_PART_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must"
                 " start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name', "
                 " or '123-abc', regex used for validation is"
                 " '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters,"
                   " '-', '_' or '.', and must start and end with an alphanumeric character (e.g."
                   " 'MyValue',  or 'my_value',  or '12345', regex used for validation is"
                   " '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
C0 = "spec.containers[0]"


def valid_pod() -> dict:
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "5"},
        "spec": {
            "containers": [{"name": "app", "image": "nginx:1.27",
                            "ports": [{"name": "http", "containerPort": 80}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    }
    default_pod(pod)
    return pod


# -- small builders for the tables below -----------------------------------------------------


def spec(**fields: Any) -> Change:
    return lambda pod: pod["spec"].update(fields)


def container(**fields: Any) -> Change:
    return lambda pod: pod["spec"]["containers"][0].update(fields)


def port(**fields: Any) -> Change:
    return lambda pod: pod["spec"]["containers"][0]["ports"][0].update(fields)


def add_port(**fields: Any) -> Change:
    return lambda pod: pod["spec"]["containers"][0]["ports"].append({"protocol": "TCP", **fields})


def mount(**fields: Any) -> Change:
    return lambda pod: pod["spec"]["containers"][0]["volumeMounts"][0].update(fields)


def env(**var: Any) -> Change:
    return container(env=[{"name": "A", **var}])


def annotate(key: str, value: str) -> Change:
    return lambda pod: pod["metadata"].setdefault("annotations", {}).update({key: value})


def probe(**fields: Any) -> dict:
    """A probe as the defaults leave it."""
    return {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
            "failureThreshold": 3, **fields}


def init_container(**fields: Any) -> dict:
    return {"name": "init", "image": "busybox", "imagePullPolicy": "Always",
            "terminationMessagePolicy": "File", **fields}


def both(*changes: Change) -> Change:
    return lambda pod: [change(pod) for change in changes]


def errors_after(change: Change) -> list[str]:
    pod = valid_pod()
    change(pod)
    return [str(e) for e in RULE.validate(pod)]


def cases(table: list[tuple]) -> Any:
    return pytest.mark.parametrize("change, expected", [c[1:] for c in table],
                                   ids=[c[0] for c in table])


def test_the_valid_pod_is_valid():
    assert RULE.validate(valid_pod()) == []


# -- containers --------------------------------------------------------------------------------

CONTAINER_CASES = [
    ("no containers", spec(containers=[]), ["spec.containers: Required value"]),
    ("container name", container(name="App"), [f'{C0}.name: Invalid value: "App": {LABEL_MSG}']),
    ("no container name", container(name=""), [f"{C0}.name: Required value"]),
    ("no image", container(image=""), [f"{C0}.image: Required value"]),
    ("image with spaces", container(image=" nginx"),
     [f'{C0}.image: Invalid value: " nginx": must not have leading or trailing whitespace']),
    ("duplicate container", lambda p: p["spec"]["containers"].append(copy.deepcopy(
        p["spec"]["containers"][0])),
     ['spec.containers[1].name: Duplicate value: "app"']),
    ("init container named like a container", spec(initContainers=[init_container(name="app")]),
     ['spec.initContainers[0].name: Duplicate value: "app"']),
    ("pull policy", container(imagePullPolicy="Sometimes"),
     [f'{C0}.imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always",'
      ' "IfNotPresent", "Never"']),
    ("termination message policy", container(terminationMessagePolicy="Log"),
     [f'{C0}.terminationMessagePolicy: Unsupported value: "Log": supported values: "File",'
      ' "FallbackToLogsOnError"']),
    ("restartPolicy on a container", container(restartPolicy="Always"),
     [f"{C0}.restartPolicy: Forbidden: may not be set for non-init containers"]),
    ("container port zero", port(containerPort=0),
     [f"{C0}.ports[0].containerPort: Required value"]),
    ("container port too big", port(containerPort=70000),
     [f"{C0}.ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535,"
      " inclusive"]),
    ("host port too big", port(hostPort=70000),
     [f"{C0}.ports[0].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive"]),
    ("protocol", port(protocol="HTTP"),
     [f'{C0}.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP",'
      ' "UDP"']),
    ("port name too long", port(name="http-alternative"),
     [f'{C0}.ports[0].name: Invalid value: "http-alternative": must be no more than 15'
      " characters"]),
    ("port name without letters", port(name="8080"),
     [f'{C0}.ports[0].name: Invalid value: "8080": must contain at least one letter (a-z)']),
    ("duplicate port name", add_port(name="http", containerPort=81),
     [f'{C0}.ports[1].name: Duplicate value: "http"']),
    ("same host port twice",
     both(add_port(containerPort=81, hostPort=8080), add_port(containerPort=82, hostPort=8080)),
     [f'{C0}.ports[2].hostPort: Duplicate value: "TCP//8080"']),
    ("mount of unknown volume", mount(name="cache"),
     [f'{C0}.volumeMounts[0].name: Not found: "cache"']),
    ("two mounts at one path",
     lambda p: p["spec"]["containers"][0]["volumeMounts"].append({"name": "data",
                                                                  "mountPath": "/data"}),
     [f'{C0}.volumeMounts[1].mountPath: Invalid value: "/data": must be unique']),
    ("mount without path", mount(mountPath=""),
     [f"{C0}.volumeMounts[0].mountPath: Required value"]),
    ("subPath escaping", mount(subPath="../etc"),
     [f"{C0}.volumeMounts.subPath: Invalid value: \"../etc\": must not contain '..'"]),
]


@cases(CONTAINER_CASES)
def test_containers(change, expected):
    assert errors_after(change) == expected


ENV_CASES = [
    ("no name", container(env=[{"value": "x"}]), [f"{C0}.env[0].name: Required value"]),
    ("name with =", container(env=[{"name": "A=B"}]),
     [f'{C0}.env[0].name: Invalid value: "A=B": a valid environment variable name must consist'
      " only of printable ASCII characters other than '='"]),
    ("value and valueFrom",
     env(value="x", valueFrom={"configMapKeyRef": {"name": "cm", "key": "k"}}),
     [f'{C0}.env[0].valueFrom: Invalid value: "": may not be specified when `value` is not'
      " empty"]),
    ("empty valueFrom", env(valueFrom={}),
     [f'{C0}.env[0].valueFrom: Invalid value: "": must specify one of: `fieldRef`,'
      " `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"]),
    ("secret key missing", env(valueFrom={"secretKeyRef": {"name": "s"}}),
     [f"{C0}.env[0].valueFrom.secretKeyRef.key: Required value"]),
    ("unknown field path", env(valueFrom={"fieldRef": {"apiVersion": "v1",
                                                       "fieldPath": "spec.foo"}}),
     [f'{C0}.env[0].valueFrom.fieldRef.fieldPath: Invalid value: "spec.foo": error converting'
      " fieldPath: field label not supported: spec.foo"]),
    ("field path not for env", env(valueFrom={"fieldRef": {"apiVersion": "v1",
                                                           "fieldPath": "metadata.labels"}}),
     [f'{C0}.env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "metadata.labels":'
      ' supported values: "metadata.name", "metadata.namespace", "metadata.uid",'
      ' "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs",'
      ' "status.podIP", "status.podIPs"']),
    ("envFrom without source", container(envFrom=[{"prefix": "X_"}]),
     [f'{C0}.envFrom: Invalid value: "": must specify one of: `configMapRef` or `secretRef`']),
]


@cases(ENV_CASES)
def test_env(change, expected):
    assert errors_after(change) == expected


RESOURCE_CASES = [
    ("request over limit", container(resources={"limits": {"cpu": "500m"},
                                                "requests": {"cpu": "1"}}),
     [f'{C0}.resources.requests: Invalid value: "1": must be less than or equal to cpu limit'
      " of 500m"]),
    ("unknown resource", container(resources={"limits": {"gpu": "1"}}),
     [f'{C0}.resources.limits[gpu]: Invalid value: "gpu": must be a standard resource type or'
      " fully qualified",
      f'{C0}.resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for'
      " containers"]),
    ("extended resource without limit",
     container(resources={"requests": {"example.com/dongle": "1"}}),
     [f"{C0}.resources.limits: Required value: Limit must be set for non overcommitable"
      " resources"]),
    ("fractional extended resource",
     container(resources={"limits": {"example.com/dongle": "500m"}}),
     [f'{C0}.resources.limits[example.com/dongle]: Invalid value: "500m": must be an'
      " integer"]),
    ("negative memory", container(resources={"requests": {"memory": "-1Gi"}}),
     [f'{C0}.resources.requests[memory]: Invalid value: "-1Gi": must be greater than or equal'
      " to 0"]),
    ("not a quantity", container(resources={"requests": {"memory": "lots"}}),
     [f'{C0}.resources.requests[memory]: Invalid value: "lots": quantities must match the'
      " regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"]),
]


@cases(RESOURCE_CASES)
def test_resources(change, expected):
    assert errors_after(change) == expected


PROBE_CASES = [
    ("two handlers", container(livenessProbe=probe(exec={"command": ["true"]},
                                                   tcpSocket={"port": 80})),
     [f"{C0}.livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"]),
    ("no handler", container(readinessProbe=probe()),
     [f"{C0}.readinessProbe: Required value: must specify a handler type"]),
    ("liveness success threshold",
     container(livenessProbe=probe(tcpSocket={"port": "http"}, successThreshold=2)),
     [f"{C0}.livenessProbe.successThreshold: Invalid value: 2: must be 1"]),
    ("negative delay", container(readinessProbe=probe(
        httpGet={"path": "/", "port": 80, "scheme": "HTTP"}, initialDelaySeconds=-5)),
     [f"{C0}.readinessProbe.initialDelaySeconds: Invalid value: -5: must be greater than or"
      " equal to 0"]),
    ("numeric port name", container(startupProbe=probe(tcpSocket={"port": "8080"})),
     [f'{C0}.startupProbe.tcpSocket.port: Invalid value: "8080": must contain at least one'
      " letter (a-z)"]),
    ("http scheme", container(livenessProbe=probe(httpGet={"path": "/", "port": 80,
                                                           "scheme": "FTP"})),
     [f'{C0}.livenessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP",'
      ' "HTTPS"']),
    ("sleep longer than the grace period",
     container(lifecycle={"preStop": {"sleep": {"seconds": 60}}}),
     [f"{C0}.lifecycle.preStop.sleep: Invalid value: 60: must be non-negative and less than"
      " terminationGracePeriodSeconds (30)"]),
    ("probe on an init container",
     spec(initContainers=[init_container(livenessProbe=probe(exec={"command": ["true"]}))]),
     ["spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers"
      " without restartPolicy=Always"]),
    ("probe on a sidecar", spec(initContainers=[init_container(
        restartPolicy="Always", livenessProbe=probe(exec={"command": ["true"]}))]), []),
]


@cases(PROBE_CASES)
def test_probes_and_hooks(change, expected):
    assert errors_after(change) == expected


# -- the rest of the spec ----------------------------------------------------------------------

SPEC_CASES = [
    ("restart policy", spec(restartPolicy="Sometimes"),
     ['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always",'
      ' "OnFailure", "Never"']),
    ("dns policy", spec(dnsPolicy="Cluster"),
     ['spec.dnsPolicy: Unsupported value: "Cluster": supported values:'
      ' "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"']),
    ("dns none without config", spec(dnsPolicy="None"),
     ["spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"]),
    ("node selector label", spec(nodeSelector={"disk": "ssd fast"}),
     [f'spec.nodeSelector: Invalid value: "ssd fast": {LABEL_VALUE_MSG}']),
    ("no grace period", spec(terminationGracePeriodSeconds=None),
     ["spec.terminationGracePeriodSeconds: Required value"]),
    ("deadline", spec(activeDeadlineSeconds=0),
     ["spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647,"
      " inclusive"]),
    ("hostname", spec(hostname="web.example"),
     ['spec.hostname: Invalid value: "web.example": must not contain dots']),
    ("run as user", spec(securityContext={"runAsUser": -1}),
     ["spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 4294967295,"
      " inclusive"]),
    ("host network with another host port", both(spec(hostNetwork=True), port(hostPort=8080)),
     [f"{C0}.ports[0].hostPort: Invalid value: 8080: must match `containerPort` when"
      " `hostNetwork` is true"]),
    ("ephemeral containers on create",
     spec(ephemeralContainers=[{"name": "debug", "image": "busybox"}]),
     ["spec.ephemeralContainers: Forbidden: cannot be set on create"]),
    ("node name and scheduling gates",
     spec(nodeName="node-1", schedulingGates=[{"name": "example.com/wait"}]),
     ["spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"]),
    ("os", spec(os={"name": "plan9"}),
     ['spec.os: Unsupported value: "plan9": supported values: "linux", "windows"']),
    ("mirror pod without node", annotate("kubernetes.io/config.mirror", "x"),
     ['metadata.annotations[kubernetes.io/config.mirror]: Invalid value: "x": must set'
      " spec.nodeName if mirror pod annotation is set"]),
    ("deletion cost", annotate("controller.kubernetes.io/pod-deletion-cost", "high"),
     ['metadata.annotations[controller.kubernetes.io/pod-deletion-cost]: Invalid value: "high":'
      " must be a 32bit integer"]),
]


@cases(SPEC_CASES)
def test_pod_spec(change, expected):
    assert errors_after(change) == expected


def volume(**fields: Any) -> Change:
    return lambda pod: pod["spec"]["volumes"].append(fields)


V1 = "spec.volumes[1]"
VOLUME_CASES = [
    ("duplicate volume", volume(name="data", emptyDir={}), [f'{V1}.name: Duplicate value: "data"']),
    ("volume name", volume(name="Cache", emptyDir={}),
     [f'{V1}.name: Invalid value: "Cache": {LABEL_MSG}']),
    ("two sources", volume(name="cfg", emptyDir={}, configMap={"name": "cm", "defaultMode": 420}),
     [f"{V1}.configMap: Forbidden: may not specify more than 1 volume type"]),
    ("configMap without name", volume(name="cfg", configMap={"defaultMode": 420}),
     [f"{V1}.configMap.name: Required value"]),
    ("secret mode", volume(name="s", secret={"secretName": "s", "defaultMode": 1000}),
     [f"{V1}.secret.defaultMode: Invalid value: 1000: must be a number between 0 and 0777"
      " (octal), both inclusive"]),
    ("item path", volume(name="s", secret={"secretName": "s", "defaultMode": 420,
                                           "items": [{"key": "k", "path": "/etc/k"}]}),
     [f'{V1}.secret.items[0].path: Invalid value: "/etc/k": must be a relative path']),
    ("hostPath type", volume(name="h", hostPath={"path": "/var/log", "type": "Folder"}),
     [f'{V1}.hostPath.type: Unsupported value: "Folder": supported values: "", "BlockDevice",'
      ' "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"']),
    ("hostPath without path", volume(name="h", hostPath={"type": ""}),
     [f"{V1}.hostPath.path: Required value"]),
    ("pvc without claim", volume(name="p", persistentVolumeClaim={}),
     [f"{V1}.persistentVolumeClaim.claimName: Required value"]),
    ("downward API field", volume(name="d", downwardAPI={"defaultMode": 420, "items": [
        {"path": "node", "fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}]}),
     [f'{V1}.downwardAPI.fieldRef.fieldPath: Unsupported value: "spec.nodeName": supported'
      ' values: "metadata.annotations", "metadata.labels", "metadata.name",'
      ' "metadata.namespace", "metadata.uid"']),
]


@cases(VOLUME_CASES)
def test_volumes(change, expected):
    assert errors_after(change) == expected


def tolerate(**toleration: Any) -> Change:
    return lambda pod: pod["spec"]["tolerations"].append(toleration)


T2 = "spec.tolerations[2]"  # the defaults already add two
ANTI = "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
NODE_AFFINITY = "spec.affinity.nodeAffinity"
SCHEDULING_CASES = [
    ("empty key needs Exists", tolerate(operator="Equal", value="x"),
     [f'{T2}.operator: Invalid value: "Equal": operator must be Exists when `key` is empty,'
      ' which means "match all values and all keys"']),
    ("seconds need NoExecute",
     tolerate(key="k", operator="Exists", effect="NoSchedule", tolerationSeconds=5),
     [f"{T2}.effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when"
      " `tolerationSeconds` is set"]),
    ("exists with value", tolerate(key="k", operator="Exists", value="v"),
     [f"{T2}.operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'"]),
    ("operator", tolerate(key="k", operator="In"),
     [f'{T2}.operator: Unsupported value: "In": supported values: "Equal", "Exists"']),
    ("effect", tolerate(key="k", operator="Exists", effect="NoRun"),
     [f'{T2}.effect: Unsupported value: "NoRun": supported values: "NoSchedule",'
      ' "PreferNoSchedule", "NoExecute"']),
    ("affinity without topology key", spec(affinity={"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}}]}}),
     [f"{ANTI}.topologyKey: Required value: can not be empty",
      f'{ANTI}.topologyKey: Invalid value: "": name part must be non-empty',
      f'{ANTI}.topologyKey: Invalid value: "": {NAME_PART_MSG}']),
    ("node affinity without terms", spec(affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}),
     [f"{NODE_AFFINITY}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms:"
      " Required value: must have at least one node selector term"]),
    ("preferred weight", spec(affinity={"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 0, "preference": {
            "matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]}}),
     [f"{NODE_AFFINITY}.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid"
      " value: 0: must be in the range 1-100"]),
    ("spread skew", spec(topologySpreadConstraints=[
        {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]),
     ["spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero"]),
]


@cases(SCHEDULING_CASES)
def test_scheduling_fields(change, expected):
    assert errors_after(change) == expected


# -- updates -----------------------------------------------------------------------------------

FORBIDDEN_PREFIX = (
    "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only"
    " additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be"
    " set to 1 if it was previously negative)")
GATED = spec(schedulingGates=[{"name": "example.com/a"}])
UPDATE_CASES = [
    ("image", container(image="nginx:1.28"), None, []),
    ("more tolerations", tolerate(key="k", operator="Exists"), None, []),
    ("shorter toleration seconds",
     lambda p: p["spec"]["tolerations"][0].update(tolerationSeconds=10), None, []),
    ("set deadline", spec(activeDeadlineSeconds=60), None, []),
    ("env", container(env=[{"name": "A", "value": "b"}]), None,
     [FORBIDDEN_PREFIX + '\n- containers[0].env: null\n+ containers[0].env: [{"name": "A",'
                         ' "value": "b"}]']),
    ("add container",
     lambda p: p["spec"]["containers"].append({**p["spec"]["containers"][0], "name": "two"}),
     None, ["spec.containers: Forbidden: pod updates may not add or remove containers"]),
    # Upstream's error list has this twice (spec check, then update check); kubectl's
    # aggregate prints it once.
    ("remove image", container(image=""), None, [f"{C0}.image: Required value"] * 2),
    ("remove toleration", lambda p: p["spec"]["tolerations"].pop(), None,
     ["spec.tolerations: Forbidden: existing toleration can not be modified except its"
      " tolerationSeconds"]),
    ("longer deadline", spec(activeDeadlineSeconds=120), spec(activeDeadlineSeconds=60),
     ["spec.activeDeadlineSeconds: Invalid value: 120: must be less than or equal to previous"
      " value"]),
    ("drop deadline", lambda p: p["spec"].pop("activeDeadlineSeconds"),
     spec(activeDeadlineSeconds=60),
     ['spec.activeDeadlineSeconds: Invalid value: "null": must not update from a positive'
      " integer to nil value"]),
    ("add scheduling gate", spec(schedulingGates=[{"name": "example.com/b"}]), None,
     ["spec.schedulingGates[0].name: Forbidden: only deletion is allowed, but found new"
      " scheduling gate 'example.com/b'"]),
    ("remove scheduling gate", lambda p: p["spec"].pop("schedulingGates"), GATED, []),
    ("gated pod gains a node selector", spec(nodeSelector={"zone": "a"}), GATED, []),
    ("gated pod changes its node selector", spec(nodeSelector={"zone": "b"}),
     both(GATED, spec(nodeSelector={"zone": "a"})),
     ['spec.nodeSelector: Invalid value: map[string]string{"zone":"b"}: only additions to'
      " spec.nodeSelector are allowed (no mutations or deletions)"]),
]


@pytest.mark.parametrize("change, old_change, expected", [c[1:] for c in UPDATE_CASES],
                         ids=[c[0] for c in UPDATE_CASES])
def test_pod_update(change, old_change, expected):
    old = valid_pod()
    if old_change:
        old_change(old)
    new = copy.deepcopy(old)
    change(new)
    assert [str(e) for e in RULE.validate_update(new, old)] == expected


def status(**fields: Any) -> Change:
    return lambda pod: pod.setdefault("status", {}).update(fields)


NEVER_FINISHED = both(spec(restartPolicy="Never"), status(containerStatuses=[
    {"name": "app", "state": {"terminated": {"exitCode": 0}}}]))
STATUS_CASES = [
    ("phase and ips", status(phase="Running", podIPs=[{"ip": "10.244.1.5"}]), None, []),
    ("bad pod ip", status(podIPs=[{"ip": "10.244.1"}]), None,
     ['status.podIPs[0]: Invalid value: "10.244.1": must be a valid IP address, (e.g. 10.9.8.7'
      " or 2001:db8::ffff)"]),
    ("two ipv4 ips", status(podIPs=[{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]), None,
     ['status.podIPs: Invalid value: []core.PodIP{core.PodIP{IP:"10.0.0.1"},'
      ' core.PodIP{IP:"10.0.0.2"}}: may specify no more than one IP for each IP family']),
    ("qos class", status(qosClass="Guaranteed"), status(qosClass="BestEffort"),
     ['status.qosClass: Invalid value: "Guaranteed": field is immutable']),
    ("node name", spec(nodeName="node-1"), None,
     ["status.nodeName: Forbidden: may not be changed directly"]),
    ("restart of a finished container",
     status(containerStatuses=[{"name": "app", "state": {"running": {}}}]), NEVER_FINISHED,
     ["status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated"
      " state"]),
    ("custom condition type", status(conditions=[{"type": "example.com/Ready!",
                                                  "status": "True"}]), None,
     [f'metadata.conditions[0].Type: Invalid value: "example.com/Ready!": {NAME_PART_MSG}']),
]


@pytest.mark.parametrize("change, old_change, expected", [c[1:] for c in STATUS_CASES],
                         ids=[c[0] for c in STATUS_CASES])
def test_pod_status_update(change, old_change, expected):
    old = valid_pod()
    if old_change:
        old_change(old)
    new = copy.deepcopy(old)
    change(new)
    assert [str(e) for e in RULE.validate_status_update(new, old)] == expected


# -- templates ---------------------------------------------------------------------------------


def test_template_reports_labels_where_upstream_does():
    template = {"metadata": {"labels": {"app": "-web"}}, "spec": valid_pod()["spec"]}
    errs = [str(e) for e in validate_pod_template_spec(template, Path("spec", "template"))]
    assert errs == [f'spec.template.labels: Invalid value: "-web": {LABEL_VALUE_MSG}']


def test_template_spec_allows_an_unset_host_port_with_host_network():
    pod_spec = valid_pod()["spec"]
    pod_spec["hostNetwork"] = True  # a pod's defaults would copy containerPort into hostPort
    assert validate_pod_spec(pod_spec, Path("spec", "template", "spec")) == []


def test_template_errors_carry_the_template_path():
    errs = [str(e) for e in validate_pod_template_spec({"spec": {"containers": []}},
                                                       Path("spec", "template"))]
    assert errs[0] == "spec.template.spec.terminationGracePeriodSeconds: Required value"
    assert "spec.template.spec.containers: Required value" in errs
