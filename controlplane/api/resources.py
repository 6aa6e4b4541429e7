"""The resources the API server serves: one :class:`ResourceInfo` per group/version/resource.

Where it sits: discovery (``/api``, ``/apis``) publishes this table, the request router
looks paths up in it, and the registry decides by it where an object is stored.
The built-in table below matches what a real 1.33 apiserver publishes for these
kinds; custom resources are added at run time from their CRDs (see ``crds.py``).
"""

from __future__ import annotations

import dataclasses

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")


@dataclasses.dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""  # the group/version of the response kind, when it differs from the parent's
    version: str = ""


@dataclasses.dataclass(frozen=True)
class ResourceInfo:
    group: str
    version: str
    resource: str  # the plural, as in the URL
    kind: str
    namespaced: bool
    singular: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[Subresource, ...] = ()
    # Where objects live: events.k8s.io/v1 events share core events' storage.
    storage_group: str | None = None
    storage_resource: str | None = None
    crd_name: str = ""  # set for custom resources

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def is_custom(self) -> bool:
        return bool(self.crd_name)

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)

    def has_subresource(self, name: str) -> bool:
        return self.subresource(name) is not None

    def key_prefix(self, namespace: str = "") -> str:
        """``/registry/<group>/<resource>/[<namespace>/]``; the core group is spelled ``core``."""
        group = self.storage_group if self.storage_group is not None else self.group
        resource = self.storage_resource or self.resource
        prefix = f"/registry/{group or 'core'}/{resource}/"
        return f"{prefix}{namespace}/" if namespace else prefix

    def key(self, namespace: str, name: str) -> str:
        return f"{self.key_prefix(namespace if self.namespaced else '')}{name}"


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, STATUS_VERBS)


def _scale() -> Subresource:
    return Subresource("scale", "Scale", STATUS_VERBS, "autoscaling", "v1")


def _r(group: str, version: str, resource: str, kind: str, namespaced: bool = True, **kw) -> ResourceInfo:
    kw.setdefault("singular", kind.lower())
    return ResourceInfo(group, version, resource, kind, namespaced, **kw)


BUILTIN: tuple[ResourceInfo, ...] = (
    # core/v1
    _r("", "v1", "bindings", "Binding", verbs=("create",)),
    _r("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _r("", "v1", "endpoints", "Endpoints", short_names=("ep",), singular="endpoints"),
    _r("", "v1", "events", "Event", short_names=("ev",)),
    _r("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",),
       verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
       subresources=(Subresource("finalize", "Namespace", ("update",)), _status("Namespace"))),
    _r("", "v1", "nodes", "Node", namespaced=False, short_names=("no",),
       subresources=(_status("Node"),)),
    _r("", "v1", "pods", "Pod", short_names=("po",), categories=("all",),
       subresources=(
           Subresource("attach", "PodAttachOptions", ("create", "get")),
           Subresource("binding", "Binding", ("create",)),
           Subresource("eviction", "Eviction", ("create",), "policy", "v1"),
           Subresource("exec", "PodExecOptions", ("create", "get")),
           Subresource("log", "Pod", ("get",)),
           _status("Pod"),
       )),
    _r("", "v1", "secrets", "Secret"),
    _r("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _r("", "v1", "services", "Service", short_names=("svc",), categories=("all",),
       subresources=(_status("Service"),)),
    # apps/v1
    _r("apps", "v1", "controllerrevisions", "ControllerRevision"),
    _r("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), categories=("all",),
       subresources=(_status("DaemonSet"),)),
    _r("apps", "v1", "deployments", "Deployment", short_names=("deploy",), categories=("all",),
       subresources=(_scale(), _status("Deployment"))),
    _r("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), categories=("all",),
       subresources=(_scale(), _status("ReplicaSet"))),
    _r("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",), categories=("all",),
       subresources=(_scale(), _status("StatefulSet"))),
    # autoscaling/v2
    _r("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
       short_names=("hpa",), categories=("all",), subresources=(_status("HorizontalPodAutoscaler"),)),
    # batch/v1
    _r("batch", "v1", "jobs", "Job", categories=("all",), subresources=(_status("Job"),)),
    # coordination.k8s.io/v1
    _r("coordination.k8s.io", "v1", "leases", "Lease"),
    # discovery.k8s.io/v1
    _r("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    # events.k8s.io/v1: the same objects as core/v1 events, in the newer shape.
    _r("events.k8s.io", "v1", "events", "Event", short_names=("ev",),
       storage_group="", storage_resource="events"),
    # policy/v1
    _r("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",),
       subresources=(_status("PodDisruptionBudget"),)),
    # rbac.authorization.k8s.io/v1
    _r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    _r("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    _r("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _r("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    # apiextensions.k8s.io/v1
    _r("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
       namespaced=False, short_names=("crd", "crds"), categories=("api-extensions",),
       subresources=(_status("CustomResourceDefinition"),)),
)

# metrics.k8s.io is served, not stored: upstream, metrics-server serves it through the
# aggregation layer; here the API server builds it from the node agents (handlers/metrics.py).
# Discovery publishes these next to the stored kinds (as metrics-server publishes them:
# no singular name, get and list only).
METRICS: tuple[ResourceInfo, ...] = (
    _r("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", namespaced=False, singular="",
       verbs=("get", "list")),
    _r("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", singular="", verbs=("get", "list")),
)

# The order in which groups appear in discovery (as a real apiserver lists them).
GROUP_ORDER = (
    "", "apps", "events.k8s.io", "autoscaling", "batch", "coordination.k8s.io",
    "discovery.k8s.io", "policy", "rbac.authorization.k8s.io", "apiextensions.k8s.io", "metrics.k8s.io",
)
