"""Service and Endpoints validation, starting each case from a valid, defaulted object."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from controlplane.api.defaults.core import (default_endpoints, default_service,
                                            prepare_service_update)
from controlplane.api.validation.core import RULES

RULE = RULES["Service"]
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters,"
                   " '-', '_' or '.', and must start and end with an alphanumeric character (e.g."
                   " 'MyValue',  or 'my_value',  or '12345', regex used for validation is"
                   " '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
BAD_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
BAD_CIDR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def valid_service(**spec: Any) -> dict:
    svc = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "3"},
        "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10",
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec},
    }
    default_service(svc)
    return svc


def errors(svc: dict) -> list[str]:
    return [str(e) for e in RULE.validate(svc)]


def test_valid_services():
    assert errors(valid_service()) == []
    assert errors(valid_service(type="NodePort", ports=[{"port": 80, "nodePort": 30080}])) == []
    assert errors(valid_service(clusterIP="None", ports=[])) == []
    assert errors(valid_service(clusterIP="None", selector=None)) == []  # both families
    external = valid_service(type="ExternalName", externalName="db.example.com.", clusterIP="")
    assert errors(external) == []


def test_service_names_are_dns_1035_labels():
    assert RULE.name is not None
    assert RULE.name("web") == []
    assert RULE.name("1web") == [
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with"
        " an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or"
        " 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"]


def ports(*entries: dict) -> dict:
    return {"ports": list(entries)}


CASES = [
    ("no ports", ports(), ["spec.ports: Required value"]),
    ("unnamed second port", ports({"port": 80}, {"port": 443}),
     ["spec.ports[0].name: Required value", "spec.ports[1].name: Required value"]),
    ("duplicate port name", ports({"name": "http", "port": 80}, {"name": "http", "port": 81}),
     ['spec.ports[1].name: Duplicate value: "http"']),
    ("port zero", ports({"port": 0, "targetPort": 80}),
     ["spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"]),
    ("protocol", ports({"port": 80, "protocol": "HTTP"}),
     ['spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP",'
      ' "UDP"']),
    ("target port name", ports({"port": 80, "targetPort": "web_http"}),
     ['spec.ports[0].targetPort: Invalid value: "web_http": must contain only alpha-numeric'
      " characters (a-z, 0-9), and hyphens (-)"]),
    ("target port number", ports({"port": 80, "targetPort": 70000}),
     ["spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive"]),
    ("node port on ClusterIP", ports({"port": 80, "nodePort": 30080}),
     ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]),
    ("same port twice", ports({"name": "a", "port": 80}, {"name": "b", "port": 80}),
     ['spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP",'
      ' AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0,'
      ' StrVal:""}, NodePort:0}']),
    ("type", {"type": "Internal"},
     ['spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName",'
      ' "LoadBalancer", "NodePort"']),
    ("session affinity", {"sessionAffinity": "Cookie"},
     ['spec.sessionAffinity: Unsupported value: "Cookie": supported values: "ClientIP",'
      ' "None"']),
    ("affinity timeout", {"sessionAffinity": "ClientIP",
                          "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 100000}}},
     ["spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 100000: must be"
      " greater than 0 and less than 86400"]),
    ("cluster IP", {"clusterIP": "10.96.0.300"},
     [f'spec.clusterIPs[0]: Invalid value: "10.96.0.300": {BAD_IP}']),
    ("cluster IPs disagree", {"clusterIPs": ["10.96.0.11"]},
     ['spec.clusterIPs: Invalid value: []string{"10.96.0.11"}: first value must match'
      " `clusterIP`"]),
    ("headless NodePort", {"type": "NodePort", "clusterIP": "None"},
     ["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort"
      " services"]),
    ("selector label", {"selector": {"app": "web shop"}},
     [f'spec.selector: Invalid value: "web shop": {LABEL_VALUE_MSG}']),
    ("external name missing", {"type": "ExternalName", "clusterIP": ""},
     ["spec.externalName: Required value"]),
    ("external name with cluster IP", {"type": "ExternalName", "externalName": "db.example.com"},
     ["spec.clusterIPs: Forbidden: may not be set for ExternalName services"]),
    ("external IP loopback", {"externalIPs": ["127.0.0.1"]},
     ['spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range'
      " (127.0.0.0/8, ::1/128)"]),
    ("traffic policy on ClusterIP", {"externalTrafficPolicy": "Local"},
     ['spec.externalTrafficPolicy: Invalid value: "Local": may only be set for'
      " externally-accessible services"]),
    ("source ranges on ClusterIP", {"loadBalancerSourceRanges": ["10.0.0.0/8"]},
     ["spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is"
      " 'LoadBalancer'"]),
    ("bad source range", {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/33"]},
     [f'spec.LoadBalancerSourceRanges[0]: Invalid value: "10.0.0.0/33": {BAD_CIDR}']),
    ("internal traffic policy", {"internalTrafficPolicy": "Node"},
     ['spec.internalTrafficPolicy: Unsupported value: "Node": supported values: "Cluster",'
      ' "Local"']),
    ("ip family", {"ipFamilies": ["IPv5"]},
     ['spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"']),
    ("family of the cluster IP", {"ipFamilies": ["IPv6"]},
     ['spec.clusterIPs[0]: Invalid value: "10.96.0.10": expected an IPv6 value as indicated by'
      " `ipFamilies[0]`"]),
]


@pytest.mark.parametrize("spec, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_service_create(spec, expected):
    assert errors(valid_service(**spec)) == expected


def update_errors(change: Callable[[dict], Any], **old_spec: Any) -> list[str]:
    old = valid_service(**old_spec)
    new = copy.deepcopy(old)
    change(new)
    prepare_service_update(new, old)
    return [str(e) for e in RULE.validate_update(new, old)]


def test_cluster_ip_may_not_change():
    def move(svc: dict) -> None:
        svc["spec"].update(clusterIP="10.96.0.99", clusterIPs=["10.96.0.99"])
    assert update_errors(move) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.99"}: may not change once set']


def test_a_replace_without_cluster_ip_keeps_it():
    def replace(svc: dict) -> None:
        for key in ("clusterIP", "clusterIPs"):
            svc["spec"].pop(key)
    assert update_errors(replace) == []


def test_switching_to_cluster_ip_drops_node_ports():
    def to_cluster_ip(svc: dict) -> None:
        svc["spec"]["type"] = "ClusterIP"
        svc["spec"].pop("externalTrafficPolicy")  # as kubectl apply removes it from the manifest
    node_port = ports({"port": 80, "nodePort": 30080})
    assert update_errors(to_cluster_ip, type="NodePort", **node_port) == []


def test_switching_to_external_name_releases_the_cluster_ip():
    def to_external(svc: dict) -> None:
        svc["spec"].update(type="ExternalName", externalName="db.example.com")
    assert update_errors(to_external) == []


def test_node_ports_survive_a_replace():
    old = valid_service(type="NodePort", **ports({"name": "http", "port": 80, "nodePort": 30080}))
    new = valid_service(type="NodePort", **ports({"name": "http", "port": 80}))
    prepare_service_update(new, old)
    assert new["spec"]["ports"][0]["nodePort"] == 30080


def test_load_balancer_ingress_on_status():
    old = valid_service(type="LoadBalancer")
    new = copy.deepcopy(old)
    ingress = [{"ip": "192.0.2.10", "ipMode": "VIP"}, {"hostname": "10.0.0.1"}]
    new["status"] = {"loadBalancer": {"ingress": ingress}}
    assert [str(e) for e in RULE.validate_status_update(new, old)] == [
        'status.loadBalancer.ingress[1].hostname: Invalid value: "10.0.0.1": must be a DNS name,'
        " not an IP address"]
    cluster_ip = valid_service()
    cluster_ip["status"] = new["status"]
    assert [str(e) for e in RULE.validate_status_update(cluster_ip, valid_service())] == [
        "status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is"
        " 'LoadBalancer'"]


# -- Endpoints --------------------------------------------------------------------------------


def endpoint_errors(subsets: list[dict]) -> list[str]:
    ep = {"apiVersion": "v1", "kind": "Endpoints",
          "metadata": {"name": "web", "namespace": "default"}, "subsets": subsets}
    default_endpoints(ep)
    return [str(e) for e in RULES["Endpoints"].validate(ep)]


POD_IP = {"ip": "10.244.1.5"}
ENDPOINT_CASES = [
    ("valid", [{"addresses": [POD_IP], "ports": [{"port": 8080}]}], []),
    ("no addresses", [{"ports": [{"port": 80}]}],
     ["subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"]),
    ("bad ip", [{"addresses": [{"ip": "web"}]}],
     [f'subsets[0].addresses[0].ip: Invalid value: "web": {BAD_IP}',
      'subsets[0].addresses[0].ip: Invalid value: "web": must be a valid IP address']),
    ("link-local ip", [{"notReadyAddresses": [{"ip": "169.254.1.1"}]}],
     ['subsets[0].notReadyAddresses[0].ip: Invalid value: "169.254.1.1": may not be in the'
      " link-local range (169.254.0.0/16, fe80::/10)"]),
    ("unnamed ports", [{"addresses": [POD_IP], "ports": [{"port": 80}, {"name": "b", "port": 81}]}],
     ["subsets[0].ports[0].name: Required value"]),
    ("port number", [{"addresses": [POD_IP], "ports": [{"port": 0}]}],
     ["subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"]),
]


@pytest.mark.parametrize("subsets, expected", [c[1:] for c in ENDPOINT_CASES],
                         ids=[c[0] for c in ENDPOINT_CASES])
def test_endpoints(subsets, expected):
    assert endpoint_errors(subsets) == expected
