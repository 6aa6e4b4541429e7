"""Defaults of the core kinds, so that a stored object looks as a real cluster stores it.

Where it sits: ``validation.core.RULES`` points each kind's ``default`` here; the
workload defaults (``defaults.apps``, ``defaults.batch``) call :func:`default_pod_spec`
for their pod templates. Every function fills in what is missing, in place, and
never overwrites what the user set, so it is safe on create and on update.

What it promises: upstream's ``pkg/apis/core/v1/defaults.go`` (with the declarative
``+default`` tags and the v1 conversions that show in ``kubectl get -o yaml``), plus,
for pods only, what the admission plugins of every real cluster add on create:
ServiceAccount (``serviceAccountName: default``), Priority (``priority: 0``) and
DefaultTolerationSeconds (tolerate ``not-ready`` and ``unreachable`` for 300 s).
"""

from __future__ import annotations

import base64
from typing import Any

from ..validation.quantity import normalize as normalize_quantity
from ..validation.volumes import VOLUME_SOURCES

# DefaultTolerationSeconds admission; the cluster's profile may shorten them at start-up.
NOT_READY_TOLERATION_SECONDS = 300
UNREACHABLE_TOLERATION_SECONDS = 300


def set_default_toleration_seconds(not_ready: int, unreachable: int) -> None:
    """The API server's ``--default-not-ready-toleration-seconds`` and
    ``--default-unreachable-toleration-seconds``: how long pods stay on a node that went
    away (the classroom timing profile shortens upstream's 300 s to seconds)."""
    global NOT_READY_TOLERATION_SECONDS, UNREACHABLE_TOLERATION_SECONDS
    NOT_READY_TOLERATION_SECONDS, UNREACHABLE_TOLERATION_SECONDS = not_ready, unreachable
# The two built-in PriorityClasses; any other class counts as priority 0 here.
SYSTEM_PRIORITIES = {"system-cluster-critical": 2000000000, "system-node-critical": 2000001000}


def _section(obj: dict, key: str) -> dict:
    """``obj[key]``, created empty if it is missing or null."""
    if not isinstance(obj.get(key), dict):
        obj[key] = {}
    return obj[key]


def _default(obj: dict, key: str, value: Any) -> Any:
    """Set ``obj[key]`` unless the user did. Missing, null and "" all mean "not set" (Go
    cannot tell them apart); 0 and false are real values."""
    if (obj.get(key) is None or obj.get(key) == "") and value is not None:
        obj[key] = value
    return obj.get(key)


# -- pod specs (also inside templates) ------------------------------------------------------------


def default_pod_spec(spec: dict) -> None:
    """SetDefaults_PodSpec and everything below it: containers, probes, volumes."""
    _default(spec, "dnsPolicy", "ClusterFirst")
    _default(spec, "restartPolicy", "Always")
    _default(spec, "securityContext", {})
    _default(spec, "terminationGracePeriodSeconds", 30)
    _default(spec, "schedulerName", "default-scheduler")
    # v1 keeps the deprecated serviceAccount as a mirror of serviceAccountName.
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if account:
        spec["serviceAccountName"] = spec["serviceAccount"] = account
    # Dynamic resource allocation is off in 1.33, so its fields are dropped, as upstream does.
    spec.pop("resourceClaims", None)
    for kind in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(kind) or []:
            _default_container(container)
    for volume in spec.get("volumes") or []:
        _default_volume(volume)


def image_pull_policy(image: str) -> str:
    """``Always`` for an image without a tag or tagged ``latest``, else ``IfNotPresent``."""
    name = image.split("@", 1)[0]
    digest = "@" in image
    last = name.rsplit("/", 1)[-1]  # a registry's ":port" is before the last slash
    tag = last.split(":", 1)[1] if ":" in last else ""
    if not tag and not digest:
        tag = "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_container(container: dict) -> None:
    _default(container, "imagePullPolicy", image_pull_policy(container.get("image") or ""))
    _default(container, "terminationMessagePath", "/dev/termination-log")
    _default(container, "terminationMessagePolicy", "File")
    resources = _section(container, "resources")  # always shown, as `resources: {}`
    resources.pop("claims", None)
    for kind in ("limits", "requests"):
        if isinstance(resources.get(kind), dict):
            resources[kind] = {k: normalize_quantity(v) for k, v in resources[kind].items()}
    for port in container.get("ports") or []:
        _default(port, "protocol", "TCP")
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(kind), dict):
            _default_probe(container[kind])
    lifecycle = container.get("lifecycle") or {}
    for hook in ("postStart", "preStop"):
        if isinstance(lifecycle.get(hook), dict):
            _default_handler(lifecycle[hook])
    for var in container.get("env") or []:
        field_ref = (var.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            _default(field_ref, "apiVersion", "v1")


def _default_probe(probe: dict) -> None:
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                       ("failureThreshold", 3)):
        if not probe.get(key):
            probe[key] = value
    _default_handler(probe)


def _default_handler(handler: dict) -> None:
    http = handler.get("httpGet")
    if isinstance(http, dict):
        _default(http, "path", "/")
        _default(http, "scheme", "HTTP")
    grpc = handler.get("grpc")
    if isinstance(grpc, dict) and grpc.get("service") is None:
        grpc["service"] = ""




def _default_volume(volume: dict) -> None:
    if not any(volume.get(source) is not None for source in VOLUME_SOURCES):
        volume["emptyDir"] = {}  # a volume with no source is scratch space
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        if isinstance(volume.get(source), dict):
            _default(volume[source], "defaultMode", 0o644)  # 420, as the API shows it
    if isinstance(volume.get("hostPath"), dict) and volume["hostPath"].get("type") is None:
        volume["hostPath"]["type"] = ""
    _default_field_refs((volume.get("downwardAPI") or {}).get("items"))
    for source in (volume.get("projected") or {}).get("sources") or []:
        token = source.get("serviceAccountToken")
        if isinstance(token, dict):
            _default(token, "expirationSeconds", 3600)
        _default_field_refs((source.get("downwardAPI") or {}).get("items"))


def _default_field_refs(items: Any) -> None:
    for item in items or []:
        if isinstance(item.get("fieldRef"), dict):
            _default(item["fieldRef"], "apiVersion", "v1")


# -- pods -----------------------------------------------------------------------------------------


def default_pod(pod: dict) -> None:
    """A pod as the apiserver stores it: spec defaults, then what admission adds."""
    spec = _section(pod, "spec")
    default_pod_spec(spec)
    for kind in ("containers", "initContainers"):
        for container in spec.get(kind) or []:
            _requests_from_limits(container["resources"])
            if spec.get("hostNetwork"):
                for port in container.get("ports") or []:
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    _default(spec, "enableServiceLinks", True)
    _admit_pod(spec)


def _requests_from_limits(resources: dict) -> None:
    """A limit without a request also sets the request (pods only, not templates)."""
    limits = resources.get("limits")
    if isinstance(limits, dict) and limits:
        requests = _section(resources, "requests")
        for name, value in limits.items():
            _default(requests, name, value)


def _admit_pod(spec: dict) -> None:
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec["serviceAccount"] = "default"
    if spec.get("priority") is None:
        spec["priority"] = SYSTEM_PRIORITIES.get(spec.get("priorityClassName") or "", 0)
    _default(spec, "preemptionPolicy", "PreemptLowerPriority")
    tolerations = _default(spec, "tolerations", [])
    for key, seconds in (("node.kubernetes.io/not-ready", NOT_READY_TOLERATION_SECONDS),
                         ("node.kubernetes.io/unreachable", UNREACHABLE_TOLERATION_SECONDS)):
        # An empty key or effect in an existing toleration already covers the taint.
        if not any(t.get("key") in (key, "", None) and t.get("effect") in ("NoExecute", "", None)
                   for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": seconds})


# -- services -------------------------------------------------------------------------------------


def default_service(svc: dict) -> None:
    spec = _section(svc, "spec")
    _default(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        if client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    kind = _default(spec, "type", "ClusterIP")
    for port in spec.get("ports") or []:
        _default(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if _externally_accessible(spec):
        _default(spec, "externalTrafficPolicy", "Cluster")
    if kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        _default(spec, "internalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        _default(spec, "allocateLoadBalancerNodePorts", True)
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]  # an old client set only the singular field
    if kind != "ExternalName":
        _default_ip_families(spec)
    load_balancer = _section(_section(svc, "status"), "loadBalancer")
    for ingress in load_balancer.get("ingress") or []:
        if kind == "LoadBalancer" and ingress.get("ip"):
            _default(ingress, "ipMode", "VIP")


def _externally_accessible(spec: dict) -> bool:
    if spec.get("type") == "ClusterIP":
        return bool(spec.get("externalIPs"))
    return spec.get("type") in ("NodePort", "LoadBalancer")


def _needs_node_ports(spec: dict) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def _needs_health_check(spec: dict) -> bool:
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _node_ports(spec: dict) -> list[Any]:
    return [port.get("nodePort") for port in spec.get("ports") or []]


def _default_ip_families(spec: dict) -> None:
    """The families of a service on this single-stack IPv4 cluster (upstream's allocator
    does this): one family, that of the cluster IP. A headless service without a selector
    may front endpoints of any family, so upstream gives it both, on any cluster."""
    open_headless = spec.get("clusterIP") == "None" and not spec.get("selector")
    if spec.get("ipFamilyPolicy") is None:
        spec["ipFamilyPolicy"] = "RequireDualStack" if open_headless else "SingleStack"
    if not spec.get("ipFamilies"):
        ip = spec.get("clusterIP") or ""
        spec["ipFamilies"] = ["IPv6"] if ":" in ip else ["IPv4"]
    families = spec["ipFamilies"]
    if open_headless and spec["ipFamilyPolicy"] != "SingleStack" and len(families) == 1:
        families.append("IPv6" if families[0] == "IPv4" else "IPv4")


def prepare_service_update(new: dict, old: dict) -> None:
    """What the service storage does to an update before it validates it: keep the
    allocated addresses a client left out (``kubectl replace`` of a manifest without a
    clusterIP), and drop what a change of ``type`` leaves behind."""
    spec, old_spec = _section(new, "spec"), old.get("spec") or {}
    if "ExternalName" not in (spec.get("type"), old_spec.get("type")):
        _keep_cluster_ips(spec, old_spec)
    if _needs_node_ports(spec) and _needs_node_ports(old_spec):
        # A port keeps its node port, unless the user gave that number to another port.
        by_name = {p.get("name", ""): p.get("nodePort") for p in old_spec.get("ports") or []}
        used = set(_node_ports(old_spec)) & set(_node_ports(spec))
        for port in spec.get("ports") or []:
            old_port = by_name.get(port.get("name", ""))
            if not port.get("nodePort") and old_port and old_port not in used:
                port["nodePort"] = old_port
    if _needs_health_check(spec) and _needs_health_check(old_spec):
        _default(spec, "healthCheckNodePort", old_spec.get("healthCheckNodePort"))
    _drop_type_dependent_fields(new, spec, old_spec)


def _keep_cluster_ips(spec: dict, old_spec: dict) -> None:
    """patchAllocatedValues and normalizeClusterIPs: clusterIP and clusterIPs stay in step."""
    old_ip, old_ips = old_spec.get("clusterIP"), old_spec.get("clusterIPs")
    _default(spec, "clusterIP", old_ip)
    if not spec.get("clusterIPs") and old_ips and spec.get("clusterIP") == old_ip:
        spec["clusterIPs"] = list(old_ips)
    elif spec.get("clusterIP") != old_ip and spec.get("clusterIPs") == old_ips:
        # Only the singular field changed: an old client; validation will refuse the change.
        spec["clusterIPs"] = [spec["clusterIP"]]


def _drop_type_dependent_fields(new: dict, spec: dict, old_spec: dict) -> None:
    """Fields the old type needed and the new one forbids go, unless the user changed them
    (then validation tells them)."""
    kind, old_kind = spec.get("type"), old_spec.get("type")

    def drop_unchanged(*keys: str) -> None:
        for key in keys:
            if spec.get(key) == old_spec.get(key):
                spec.pop(key, None)

    if old_kind != "ExternalName" and kind == "ExternalName":
        drop_unchanged("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy")
    if _needs_node_ports(old_spec) and not _needs_node_ports(spec):
        if _node_ports(spec) == _node_ports(old_spec):
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)
    if _needs_health_check(old_spec) and not _needs_health_check(spec):
        drop_unchanged("healthCheckNodePort")
    if old_kind == "LoadBalancer" and kind != "LoadBalancer":
        drop_unchanged("allocateLoadBalancerNodePorts", "loadBalancerClass")
    if _externally_accessible(old_spec) and not _externally_accessible(spec):
        drop_unchanged("externalTrafficPolicy")
    if kind != "LoadBalancer":
        _section(new, "status")["loadBalancer"] = {}


# -- the smaller kinds ----------------------------------------------------------------------------


def default_namespace(ns: dict) -> None:
    meta = _section(ns, "metadata")
    if meta.get("name"):
        # Always set, even over a user's value: namespace selectors rely on it.
        _section(meta, "labels")["kubernetes.io/metadata.name"] = meta["name"]
    status = _section(ns, "status")
    _default(status, "phase", "Active")
    if not meta.get("resourceVersion"):
        # Only on create (a stored object always has a resourceVersion): the "kubernetes"
        # finalizer is removed later by the namespace controller and must stay removed.
        finalizers = _default(_section(ns, "spec"), "finalizers", [])
        if "kubernetes" not in finalizers:
            finalizers.append("kubernetes")


def default_node(node: dict) -> None:
    spec = _section(node, "spec")
    # v1 has both podCIDR (the first) and podCIDRs.
    if spec.get("podCIDR") and not spec.get("podCIDRs"):
        spec["podCIDRs"] = [spec["podCIDR"]]
    if spec.get("podCIDRs"):
        spec["podCIDR"] = spec["podCIDRs"][0]
    status = node.get("status")
    if isinstance(status, dict):
        for kind in ("capacity", "allocatable"):
            if isinstance(status.get(kind), dict):
                status[kind] = {k: normalize_quantity(v) for k, v in status[kind].items()}
        if status.get("capacity") and status.get("allocatable") is None:
            status["allocatable"] = dict(status["capacity"])


def default_secret(secret: dict) -> None:
    if not secret.get("type"):
        secret["type"] = "Opaque"
    # stringData is write-only: it is folded into data (base64) and never stored.
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = _section(secret, "data")
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")


def default_endpoints(endpoints: dict) -> None:
    for subset in endpoints.get("subsets") or []:
        for port in subset.get("ports") or []:
            _default(port, "protocol", "TCP")

