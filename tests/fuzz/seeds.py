"""Valid objects of every kind the API server serves: the raw material the fuzzer mutates.

Where it sits: ``test_fuzz_api.py`` creates one of each in the namespace the test owns
(so updates, patches and subresources hit real objects), and ``strategies.py`` copies
them and breaks the copies. Each object is what a student could apply with kubectl and
a real 1.33 apiserver would accept; the setup asserts that this server accepts them too.

Also here: the two CRDs the test creates (a namespaced ``Widget`` with status and
scale subresources, printer columns and a schema using most of what OpenAPI offers;
and a cluster-scoped ``Gadget`` the fuzzer may rewrite at will), and the bodies of the
special subresources (Binding, Eviction, Scale, DeleteOptions).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]

CR_GROUP = "fuzz.kubeclass.test"
TIME = "2024-05-01T10:00:00Z"
MICROTIME = "2024-05-01T10:00:00.000000Z"


def _meta(name: str, ns: str = "", labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": {"app": "fuzz", **(labels or {})}, "annotations": {"fuzz/seed": "true"}}
    if ns:
        meta["namespace"] = ns
    return meta


def _pod_spec(app: str, restart: str = "Always") -> Obj:
    return {
        "containers": [{
            "name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"],
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "MODE", "value": "fuzz"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 5},
        }],
        "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["true"]}],
        "volumes": [{"name": "data", "emptyDir": {}},
                    {"name": "cfg", "configMap": {"name": "cfg", "optional": True}}],
        "restartPolicy": restart,
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "fuzz", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
        "terminationGracePeriodSeconds": 0,
    }


def _template(app: str, restart: str = "Always") -> Obj:
    return {"metadata": {"labels": {"app": app}}, "spec": _pod_spec(app, restart)}


def _selector(app: str) -> Obj:
    return {"matchLabels": {"app": app}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}


# -- namespaced kinds ----------------------------------------------------------------


def pod(name: str, ns: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _meta(name, ns), "spec": _pod_spec("fuzz")}


def deployment(name: str, ns: str) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, ns), "spec": {
        "replicas": 1, "selector": _selector(name), "template": _template(name),
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
        "revisionHistoryLimit": 3, "progressDeadlineSeconds": 600}}


def replicaset(name: str, ns: str) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": _meta(name, ns),
            "spec": {"replicas": 0, "selector": _selector(name), "template": _template(name)}}


def statefulset(name: str, ns: str) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": _meta(name, ns), "spec": {
        "replicas": 0, "serviceName": name, "selector": {"matchLabels": {"app": name}}, "template": _template(name),
        "podManagementPolicy": "Parallel", "updateStrategy": {"type": "RollingUpdate"},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}


def daemonset(name: str, ns: str) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": _meta(name, ns), "spec": {
        "selector": {"matchLabels": {"app": name}}, "template": _template(name),
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}}}


def controllerrevision(name: str, ns: str) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": _meta(name, ns),
            "data": {"spec": {"template": {"metadata": {"labels": {"app": name}}}}}, "revision": 1}


def service(name: str, ns: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, ns), "spec": {
        "type": "NodePort", "selector": {"app": "fuzz"}, "sessionAffinity": "None",
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                  {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}]}}


def configmap(name: str, ns: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(name, ns),
            "data": {"app.properties": "a=1\nb=2\n", "key": "value"}, "binaryData": {"blob": "AAECAw=="}}


def secret(name: str, ns: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(name, ns), "type": "Opaque",
            "data": {"password": "czNjcjN0"}, "stringData": {"user": "admin"}}


def serviceaccount(name: str, ns: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, ns),
            "secrets": [{"name": "token"}], "imagePullSecrets": [{"name": "registry"}],
            "automountServiceAccountToken": False}


def endpoints(name: str, ns: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": _meta(name, ns), "subsets": [{
        "addresses": [{"ip": "10.1.2.3", "targetRef": {"kind": "Pod", "name": "p", "namespace": ns}}],
        "notReadyAddresses": [{"ip": "10.1.2.4"}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}


def event(name: str, ns: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Event", "metadata": _meta(name, ns),
            "involvedObject": {"kind": "Pod", "namespace": ns, "name": "p", "apiVersion": "v1"},
            "reason": "Started", "message": "started container", "type": "Normal", "count": 1,
            "firstTimestamp": TIME, "lastTimestamp": TIME, "source": {"component": "fuzz"},
            "reportingComponent": "fuzz", "reportingInstance": "fuzz-1"}


def events_v1(name: str, ns: str) -> Obj:
    return {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": _meta(name, ns),
            "eventTime": MICROTIME, "reportingController": "kubeclass.test/fuzz", "reportingInstance": "fuzz-1",
            "action": "Scheduling", "reason": "Scheduled", "type": "Warning", "note": "a note",
            "regarding": {"kind": "Pod", "namespace": ns, "name": "p", "apiVersion": "v1"},
            "series": {"count": 2, "lastObservedTime": MICROTIME}}


def job(name: str, ns: str) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(name, ns), "spec": {
        "completions": 1, "parallelism": 1, "backoffLimit": 2, "activeDeadlineSeconds": 600,
        "ttlSecondsAfterFinished": 3600, "completionMode": "NonIndexed", "suspend": True,
        "template": _template(name, "Never")}}


def lease(name: str, ns: str) -> Obj:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": _meta(name, ns), "spec": {
        "holderIdentity": "fuzz-1", "leaseDurationSeconds": 15, "acquireTime": MICROTIME,
        "renewTime": MICROTIME, "leaseTransitions": 0}}


def endpointslice(name: str, ns: str) -> Obj:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": _meta(name, ns, {"kubernetes.io/service-name": "svc"}), "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.2.5"], "conditions": {"ready": True, "serving": True},
                           "nodeName": "node-1", "zone": "a"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def hpa(name: str, ns: str) -> Obj:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta(name, ns),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 1, "maxReplicas": 3,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}],
                     "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [
                         {"type": "Pods", "value": 1, "periodSeconds": 60}]}}}}


def pdb(name: str, ns: str) -> Obj:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(name, ns),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "fuzz"}},
                     "unhealthyPodEvictionPolicy": "IfHealthyBudget"}}


def role(name: str, ns: str) -> Obj:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(name, ns),
            "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
                      {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"],
                       "verbs": ["*"]}]}


def rolebinding(name: str, ns: str) -> Obj:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(name, ns),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                         {"kind": "ServiceAccount", "name": "default", "namespace": ns}]}


def widget(name: str, ns: str) -> Obj:
    return {"apiVersion": f"{CR_GROUP}/v1", "kind": "Widget", "metadata": _meta(name, ns), "spec": {
        "replicas": 1, "size": "small", "color": "blue", "count": 3, "ratio": 0.5, "enabled": True,
        "tags": ["a", "b"], "settings": {"k": "v"}, "port": 8080, "when": TIME, "extra": {"free": [1, {"x": None}]},
        "items": [{"name": "one", "value": 1}]}}


# -- cluster-scoped kinds ------------------------------------------------------------


def namespace(name: str, ns: str = "") -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(name), "spec": {"finalizers": ["kubernetes"]}}


def node(name: str, ns: str = "") -> Obj:
    return {"apiVersion": "v1", "kind": "Node", "metadata": _meta(name, labels={"kubernetes.io/hostname": name}),
            "spec": {"podCIDR": "10.244.9.0/24", "taints": [{"key": "fuzz", "value": "x", "effect": "NoSchedule"}],
                     "unschedulable": True}}


def clusterrole(name: str, ns: str = "") -> Obj:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(name),
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]},
                      {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}


def clusterrolebinding(name: str, ns: str = "") -> Obj:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": _meta(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "students"}]}


def _widget_schema() -> Obj:
    return {"type": "object", "properties": {
        "spec": {"type": "object", "required": ["size"], "properties": {
            "replicas": {"type": "integer", "minimum": 0, "maximum": 3},
            "size": {"type": "string", "enum": ["small", "large"]},
            "color": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 20, "default": "red"},
            "count": {"type": "integer", "format": "int32", "multipleOf": 1},
            "ratio": {"type": "number", "minimum": 0, "exclusiveMaximum": True, "maximum": 1},
            "enabled": {"type": "boolean"},
            "tags": {"type": "array", "maxItems": 5, "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "settings": {"type": "object", "additionalProperties": {"type": "string"}},
            "port": {"x-kubernetes-int-or-string": True},
            "when": {"type": "string", "format": "date-time", "nullable": True},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "required": ["name"], "properties": {
                          "name": {"type": "string"}, "value": {"type": "integer"}}}},
        }},
        "status": {"type": "object", "properties": {
            "replicas": {"type": "integer"}, "selector": {"type": "string"}, "phase": {"type": "string"}}},
    }}


def widget_crd() -> Obj:
    """The CRD whose objects the fuzzer writes; the fuzzer never rewrites the CRD itself."""
    version = {"served": True, "storage": True, "schema": {"openAPIV3Schema": _widget_schema()},
               "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                        "statusReplicasPath": ".status.replicas",
                                                        "labelSelectorPath": ".status.selector"}},
               "additionalPrinterColumns": [
                   {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
                   {"name": "Count", "type": "integer", "jsonPath": ".spec.count"},
                   {"name": "When", "type": "date", "jsonPath": ".spec.when"},
                   {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "priority": 1},
                   {"name": "Items", "type": "string", "jsonPath": ".spec.items[*].name"}]}
    beta = copy.deepcopy(version)
    beta.update(name="v1beta1", storage=False, deprecated=True, deprecationWarning="use v1")
    version["name"] = "v1"
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets.{CR_GROUP}", "labels": {"app": "fuzz"}},
            "spec": {"group": CR_GROUP, "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList",
                               "shortNames": ["wdg"], "categories": ["fuzz"]},
                     "versions": [version, beta]}}


def gadget_crd(name: str = "", ns: str = "") -> Obj:
    """A cluster-scoped CRD: the one the fuzzer may update, patch and delete."""
    plural = name.split(".", 1)[0] if name else "gadgets"
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{CR_GROUP}", "labels": {"app": "fuzz"}},
            "spec": {"group": CR_GROUP, "scope": "Cluster",
                     "names": {"plural": plural, "singular": plural.rstrip("s") or "x",
                               "kind": plural.capitalize().rstrip("s") or "X"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {
                                       "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def gadget(name: str, ns: str = "") -> Obj:
    return {"apiVersion": f"{CR_GROUP}/v1", "kind": "Gadget", "metadata": _meta(name), "spec": {"any": [1, "x"]}}


# -- the catalog ---------------------------------------------------------------------

Factory = Callable[[str, str], Obj]

# (group, kind) -> a factory of valid objects, (name, namespace) -> object.
KINDS: dict[tuple[str, str], Factory] = {
    ("", "Pod"): pod, ("", "Service"): service, ("", "ConfigMap"): configmap, ("", "Secret"): secret,
    ("", "ServiceAccount"): serviceaccount, ("", "Endpoints"): endpoints, ("", "Event"): event,
    ("", "Namespace"): namespace, ("", "Node"): node,
    ("apps", "Deployment"): deployment, ("apps", "ReplicaSet"): replicaset, ("apps", "StatefulSet"): statefulset,
    ("apps", "DaemonSet"): daemonset, ("apps", "ControllerRevision"): controllerrevision,
    ("batch", "Job"): job, ("coordination.k8s.io", "Lease"): lease,
    ("discovery.k8s.io", "EndpointSlice"): endpointslice, ("events.k8s.io", "Event"): events_v1,
    ("autoscaling", "HorizontalPodAutoscaler"): hpa, ("policy", "PodDisruptionBudget"): pdb,
    ("rbac.authorization.k8s.io", "Role"): role, ("rbac.authorization.k8s.io", "RoleBinding"): rolebinding,
    ("rbac.authorization.k8s.io", "ClusterRole"): clusterrole,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): clusterrolebinding,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): gadget_crd,
    (CR_GROUP, "Widget"): widget, (CR_GROUP, "Gadget"): gadget,
}


def generic(group: str, version: str, kind: str) -> Factory:
    """A minimal object for a kind this file does not know yet (a resource added after it)."""
    api_version = f"{group}/{version}" if group else version
    return lambda name, ns: {"apiVersion": api_version, "kind": kind, "metadata": _meta(name, ns)}


# -- bodies of special subresources ---------------------------------------------------


def binding(pod_name: str, ns: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod_name, "namespace": ns},
            "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}


def eviction(pod_name: str, ns: str) -> Obj:
    return {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod_name, "namespace": ns},
            "deleteOptions": {"gracePeriodSeconds": 0}}


def scale(name: str, ns: str) -> Obj:
    return {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1}}


def delete_options(name: str = "", ns: str = "") -> Obj:
    return {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background",
            "gracePeriodSeconds": 0, "preconditions": {"uid": "00000000-0000-0000-0000-000000000000"},
            "dryRun": ["All"]}


def namespace_finalize(name: str, ns: str = "") -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "spec": {"finalizers": []}}


SUBRESOURCE_BODIES: dict[str, Factory] = {"binding": binding, "eviction": eviction, "scale": scale,
                                          "finalize": namespace_finalize}
