"""Core defaults: what `kubectl get -o yaml` shows after a create on a real 1.33 cluster."""

from __future__ import annotations

import base64
import copy

import pytest

from controlplane.api.defaults import core
from controlplane.api.validation.core import RULES


def test_a_minimal_pod_is_filled_in_as_a_real_cluster_stores_it():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
    core.default_pod(pod)
    assert pod["spec"] == {
        "containers": [{
            "name": "web", "image": "nginx", "imagePullPolicy": "Always", "resources": {},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        }],
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
        ],
    }
    assert RULES["Pod"].validate(pod) == []


def test_defaulting_twice_changes_nothing():
    pod = {"metadata": {"name": "web"},
           "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}
    core.default_pod(pod)
    again = copy.deepcopy(pod)
    core.default_pod(again)
    assert again == pod


@pytest.mark.parametrize("image, policy", [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
    ("localhost:5000/nginx", "Always"), ("localhost:5000/nginx:1.0", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"), ("nginx:latest@sha256:" + "a" * 64, "Always"),
])
def test_image_pull_policy_follows_the_tag(image, policy):
    assert core.image_pull_policy(image) == policy


def test_user_values_are_kept():
    spec = {"containers": [{"name": "a", "image": "nginx", "imagePullPolicy": "Never",
                            "ports": [{"containerPort": 53, "protocol": "UDP"}]}],
            "restartPolicy": "Never", "terminationGracePeriodSeconds": 0, "dnsPolicy": "Default",
            "serviceAccountName": "builder", "enableServiceLinks": False}
    pod = {"spec": spec}
    core.default_pod(pod)
    kept = (spec["restartPolicy"], spec["terminationGracePeriodSeconds"], spec["dnsPolicy"])
    assert kept == ("Never", 0, "Default")
    assert spec["containers"][0]["imagePullPolicy"] == "Never"
    assert spec["containers"][0]["ports"] == [{"containerPort": 53, "protocol": "UDP"}]
    kept = (spec["serviceAccountName"], spec["serviceAccount"], spec["enableServiceLinks"])
    assert kept == ("builder", "builder", False)


def test_container_details():
    spec = {"containers": [{
        "name": "a", "image": "app:1",
        "ports": [{"containerPort": 8080}],
        "resources": {"limits": {"cpu": "0.5", "memory": "1.5Gi"}, "requests": {"cpu": 0.1}},
        "livenessProbe": {"httpGet": {"port": 8080}},
        "readinessProbe": {"grpc": {"port": 9090}, "periodSeconds": 5},
        "lifecycle": {"preStop": {"httpGet": {"port": 8080, "path": "/quit"}}},
        "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
    }]}
    pod = {"spec": spec}
    core.default_pod(pod)
    c = spec["containers"][0]
    assert c["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    # canonical quantities, and a request for every limit (pods only)
    assert c["resources"] == {"limits": {"cpu": "500m", "memory": "1536Mi"},
                              "requests": {"cpu": "100m", "memory": "1536Mi"}}
    assert c["livenessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
                                  "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                                  "failureThreshold": 3}
    assert c["readinessProbe"]["grpc"] == {"port": 9090, "service": ""}
    assert c["readinessProbe"]["periodSeconds"] == 5
    assert c["lifecycle"]["preStop"]["httpGet"] == {"port": 8080, "path": "/quit", "scheme": "HTTP"}
    assert c["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "spec.nodeName",
                                                    "apiVersion": "v1"}


def test_volume_defaults():
    spec = {"containers": [{"name": "a", "image": "x"}], "volumes": [
        {"name": "scratch"},
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "sec", "secret": {"secretName": "s"}},
        {"name": "logs", "hostPath": {"path": "/var/log"}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
    ]}
    core.default_pod_spec(spec)
    assert spec["volumes"] == [
        {"name": "scratch", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}},
        {"name": "sec", "secret": {"secretName": "s", "defaultMode": 420}},
        {"name": "logs", "hostPath": {"path": "/var/log", "type": ""}},
        {"name": "info", "downwardAPI": {"defaultMode": 420, "items": [
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}]}},
        {"name": "token", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}},
    ]


def test_template_specs_get_no_admission_defaults():
    spec = {"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}}}]}
    core.default_pod_spec(spec)
    for field in ("serviceAccountName", "priority", "tolerations", "enableServiceLinks",
                  "preemptionPolicy"):
        assert field not in spec
    assert spec["containers"][0]["resources"] == {"limits": {"cpu": "1"}}


def test_host_network_pods_publish_their_ports():
    pod = {"spec": {"hostNetwork": True, "containers": [{"name": "a", "image": "x",
                                                           "ports": [{"containerPort": 9100}]}]}}
    core.default_pod(pod)
    assert pod["spec"]["containers"][0]["ports"] == [
        {"containerPort": 9100, "protocol": "TCP", "hostPort": 9100}]


@pytest.mark.parametrize("tolerations, added", [
    ([], ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}],
     ["node.kubernetes.io/unreachable"]),
    ([{"operator": "Exists"}], []),  # tolerates everything already
])
def test_default_toleration_seconds(tolerations, added):
    pod = {"spec": {"containers": [{"name": "a", "image": "x"}],
                    "tolerations": copy.deepcopy(tolerations)}}
    core.default_pod(pod)
    assert [t["key"] for t in pod["spec"]["tolerations"][len(tolerations):]] == added


def test_system_priority_classes():
    pod = {"spec": {"containers": [{"name": "a", "image": "x"}],
                    "priorityClassName": "system-node-critical"}}
    core.default_pod(pod)
    assert pod["spec"]["priority"] == 2000001000


# -- services -------------------------------------------------------------------------------------


def test_a_minimal_service():
    svc = {"metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    core.default_service(svc)
    assert svc == {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web"},
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "sessionAffinity": "None", "type": "ClusterIP", "internalTrafficPolicy": "Cluster",
        "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"],
    }, "status": {"loadBalancer": {}}}


@pytest.mark.parametrize("spec, expected", [
    ({"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]},
     {"externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster"}),
    ({"type": "LoadBalancer", "ports": [{"port": 80}]},
     {"allocateLoadBalancerNodePorts": True, "externalTrafficPolicy": "Cluster"}),
    ({"clusterIP": "10.96.0.10"}, {"clusterIPs": ["10.96.0.10"], "ipFamilies": ["IPv4"]}),
    ({"clusterIP": "None", "selector": {"app": "db"}},
     {"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]}),
    # headless without a selector: both families, on any cluster, as upstream's allocator
    ({"clusterIP": "None"}, {"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"]}),
    ({"sessionAffinity": "ClientIP"},
     {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}}),
])
def test_service_defaults(spec, expected):
    svc = {"spec": copy.deepcopy(spec)}
    core.default_service(svc)
    assert {k: svc["spec"].get(k) for k in expected} == expected


def test_external_name_services_get_no_ip_fields():
    svc = {"spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    core.default_service(svc)
    assert "ipFamilies" not in svc["spec"] and "ipFamilyPolicy" not in svc["spec"]
    assert "internalTrafficPolicy" not in svc["spec"]


def test_session_affinity_none_drops_its_config():
    svc = {"spec": {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}}
    core.default_service(svc)
    assert "sessionAffinityConfig" not in svc["spec"]


# -- the smaller kinds ----------------------------------------------------------------------------


def test_namespace_on_create():
    ns = {"metadata": {"name": "dev", "labels": {"kubernetes.io/metadata.name": "other"}}}
    core.default_namespace(ns)
    assert ns == {"metadata": {"name": "dev", "labels": {"kubernetes.io/metadata.name": "dev"}},
                  "status": {"phase": "Active"}, "spec": {"finalizers": ["kubernetes"]}}


def test_namespace_update_does_not_bring_the_finalizer_back():
    ns = {"metadata": {"name": "dev", "resourceVersion": "9"}, "spec": {"finalizers": []},
          "status": {"phase": "Terminating"}}
    core.default_namespace(ns)
    assert ns["spec"]["finalizers"] == [] and ns["status"]["phase"] == "Terminating"


def test_secret_string_data_becomes_data():
    secret = {"metadata": {"name": "s"}, "data": {"a": base64.b64encode(b"old").decode()},
              "stringData": {"a": "new", "b": "héllo"}}
    core.default_secret(secret)
    assert secret == {"metadata": {"name": "s"}, "type": "Opaque",
                      "data": {"a": base64.b64encode(b"new").decode(),
                               "b": base64.b64encode("héllo".encode()).decode()}}


def test_node_defaults():
    node = {"spec": {"podCIDR": "10.244.1.0/24"},
            "status": {"capacity": {"cpu": "4", "memory": "8388608Ki"}}}
    core.default_node(node)
    assert node["spec"] == {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]}
    assert node["status"]["allocatable"] == {"cpu": "4", "memory": "8Gi"}


def test_endpoint_ports_default_to_tcp():
    ep = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}
    core.default_endpoints(ep)
    assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
