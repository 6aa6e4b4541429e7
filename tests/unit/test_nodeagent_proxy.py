"""The service proxy's desired state (Services + EndpointSlices -> routes) and its balancer.

Pure functions and a fake clock: what kube-proxy would program for each Service, and
which backend each new connection gets.
"""

from __future__ import annotations

import pytest

from nodeagent import proxy
from nodeagent.proxy_relay import Balancer
from nodeagent.proxy_rules import Backend, Route, desired_state
from nodeagent.proxy_userspace import UserspaceProxy, interface_name

NODE, ADDRESS = "worker-1", "127.0.1.11"


def service(name: str, *, ns: str = "shop", ip: str | None = "10.96.0.10", ports=None, **spec) -> dict:
    body = {"ports": ports if ports is not None else [{"name": "http", "port": 80, "targetPort": "web"}], **spec}
    if ip is not None:
        body.setdefault("clusterIP", ip)
        body.setdefault("clusterIPs", [ip] if ip != "None" else ["None"])
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": body}


def endpoint(ip: str, *, ready: bool | None = True, node: str = NODE) -> dict:
    conditions = {} if ready is None else {"ready": ready}
    return {"addresses": [ip], "conditions": conditions, "nodeName": node}


def eslice(svc: str, endpoints: list[dict], ports=None, *, ns: str = "shop", name: str = "", **extra) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name or f"{svc}-abcde", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc}},
            "endpoints": endpoints,
            "ports": ports if ports is not None else [{"name": "http", "port": 8080, "protocol": "TCP"}], **extra}


def desired(services, endpoints, cluster_ips=True):
    return desired_state(services, endpoints, node_name=NODE, node_address=ADDRESS, cluster_ips=cluster_ips)


def backends(*specs: str) -> tuple[Backend, ...]:
    return tuple(Backend(s.split(":")[0], int(s.split(":")[1])) for s in specs)


# -- desired state -----------------------------------------------------------------------------


def test_a_cluster_ip_service_routes_to_its_ready_endpoints_on_the_named_target_port():
    d = desired([service("web")], [eslice("web", [endpoint("10.244.1.6"), endpoint("10.244.1.5"),
                                                  endpoint("10.244.1.7", ready=False)])])
    assert d.addresses == {"10.96.0.10"}
    assert d.routes == {("10.96.0.10", 80): Route("shop/web:http", backends("10.244.1.5:8080", "10.244.1.6:8080"))}
    assert d.listening() == d.routes


def test_ready_absent_counts_as_ready_and_the_first_address_is_the_endpoint():
    ep = {"addresses": ["10.244.1.5", "10.244.9.9"], "conditions": {}}
    d = desired([service("web")], [eslice("web", [ep])])
    assert d.routes[("10.96.0.10", 80)].backends == backends("10.244.1.5:8080")


def test_each_service_port_gets_the_endpoint_port_of_the_same_name():
    svc = service("db", ports=[{"name": "sql", "port": 5432, "targetPort": 5432},
                               {"name": "metrics", "port": 9100, "targetPort": "prom"}])
    s = eslice("db", [endpoint("10.244.1.5")], ports=[{"name": "metrics", "port": 19100},
                                                     {"name": "sql", "port": 15432}])
    d = desired([svc], [s])
    assert d.routes[("10.96.0.10", 5432)] == Route("shop/db:sql", backends("10.244.1.5:15432"))
    assert d.routes[("10.96.0.10", 9100)] == Route("shop/db:metrics", backends("10.244.1.5:19100"))


def test_an_unnamed_port_matches_the_unnamed_endpoint_port_and_is_named_without_a_colon():
    svc = service("web", ports=[{"port": 80, "targetPort": 8080}])
    d = desired([svc], [eslice("web", [endpoint("10.244.1.5")], ports=[{"name": "", "port": 8080}])])
    assert d.routes[("10.96.0.10", 80)] == Route("shop/web", backends("10.244.1.5:8080"))


def test_endpoints_from_several_slices_are_merged_and_other_services_slices_ignored():
    d = desired([service("web")], [
        eslice("web", [endpoint("10.244.1.5")], name="web-1"),
        eslice("web", [endpoint("10.244.2.5")], name="web-2"),
        eslice("web", [endpoint("10.244.3.5")], ns="elsewhere"),
        eslice("other", [endpoint("10.244.4.5")]),
        eslice("web", [endpoint("fd00::5")], name="web-v6", addressType="IPv6"),
    ])
    assert d.routes[("10.96.0.10", 80)].backends == backends("10.244.1.5:8080", "10.244.2.5:8080")


def test_without_slices_the_endpoints_object_is_used_ready_addresses_only():
    legacy = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "shop"},
              "subsets": [{"addresses": [{"ip": "10.244.1.5"}], "notReadyAddresses": [{"ip": "10.244.1.6"}],
                           "ports": [{"name": "http", "port": 8080}]}]}
    d = desired([service("web")], [legacy])
    assert d.routes[("10.96.0.10", 80)].backends == backends("10.244.1.5:8080")


def test_a_service_without_ready_endpoints_keeps_its_address_but_gets_no_listener():
    d = desired([service("web")], [eslice("web", [endpoint("10.244.1.5", ready=False)])])
    assert d.addresses == {"10.96.0.10"}  # owned, so connections are refused here, not sent elsewhere
    assert d.routes[("10.96.0.10", 80)].backends == ()
    assert d.listening() == {}
    assert desired([service("web")], []).listening() == {}


def test_a_node_port_service_also_listens_on_the_node_address():
    svc = service("web", type="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30080}])
    d = desired([svc], [eslice("web", [endpoint("10.244.1.5")])])
    route = Route("shop/web:http", backends("10.244.1.5:8080"))
    assert d.routes == {("10.96.0.10", 80): route, (ADDRESS, 30080): route}


def test_a_load_balancer_service_gets_node_ports_too():
    svc = service("web", type="LoadBalancer", ports=[{"name": "http", "port": 80, "nodePort": 31000}])
    assert (ADDRESS, 31000) in desired([svc], [eslice("web", [endpoint("10.244.1.5")])]).routes


def test_unprivileged_only_node_ports_are_routed_and_no_address_is_owned():
    svcs = [service("web", type="NodePort", ports=[{"name": "http", "port": 80, "nodePort": 30080}]),
            service("plain", ip="10.96.0.11")]
    d = desired(svcs, [eslice("web", [endpoint("127.100.0.2")]), eslice("plain", [endpoint("127.100.0.3")])],
                cluster_ips=False)
    assert d.addresses == frozenset()
    assert list(d.routes) == [(ADDRESS, 30080)]


@pytest.mark.parametrize("svc", [
    service("headless", ip="None"),
    service("pending", ip=None),
    service("external", ip=None, type="ExternalName", externalName="example.com"),
])
def test_headless_unallocated_and_external_name_services_get_nothing(svc):
    d = desired([svc], [eslice(svc["metadata"]["name"], [endpoint("10.244.1.5")])])
    assert d.addresses == frozenset() and d.routes == {}


def test_udp_ports_are_left_out_and_said_so():
    svc = service("dns", ports=[{"name": "dns", "port": 53, "protocol": "UDP"},
                                {"name": "dns-tcp", "port": 53, "protocol": "TCP"}])
    s = eslice("dns", [endpoint("10.244.1.5")], ports=[{"name": "dns", "port": 53, "protocol": "UDP"},
                                                      {"name": "dns-tcp", "port": 53, "protocol": "TCP"}])
    d = desired([svc], [s])
    assert d.routes == {("10.96.0.10", 53): Route("shop/dns:dns-tcp", backends("10.244.1.5:53"))}
    assert d.skipped == ("shop/dns:dns: UDP port 53 (only TCP is proxied)",)


def test_every_ipv4_cluster_ip_is_owned_and_routed():
    svc = service("web", clusterIPs=["10.96.0.10", "fd00::10"])
    d = desired([svc], [eslice("web", [endpoint("10.244.1.5")])])
    assert d.addresses == {"10.96.0.10"} and list(d.routes) == [("10.96.0.10", 80)]
    assert any("IPv6" in m for m in d.skipped)


def test_traffic_policy_local_keeps_this_nodes_endpoints():
    svc = service("web", type="NodePort", internalTrafficPolicy="Local", externalTrafficPolicy="Cluster",
                  ports=[{"name": "http", "port": 80, "nodePort": 30080}])
    s = eslice("web", [endpoint("10.244.1.5"), endpoint("10.244.2.5", node="worker-2")])
    d = desired([svc], [s])
    assert d.routes[("10.96.0.10", 80)].backends == backends("10.244.1.5:8080")
    assert d.routes[(ADDRESS, 30080)].backends == backends("10.244.1.5:8080", "10.244.2.5:8080")
    svc["spec"].update(internalTrafficPolicy="Cluster", externalTrafficPolicy="Local")
    d = desired([svc], [s])
    assert d.routes[("10.96.0.10", 80)].backends == backends("10.244.1.5:8080", "10.244.2.5:8080")
    assert d.routes[(ADDRESS, 30080)].backends == backends("10.244.1.5:8080")


def test_session_affinity_client_ip_with_its_default_and_explicit_timeout():
    s = eslice("web", [endpoint("10.244.1.5")])
    assert desired([service("web", sessionAffinity="ClientIP")], [s]).routes[("10.96.0.10", 80)].affinity_seconds == 10800
    explicit = service("web", sessionAffinity="ClientIP",
                       sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})
    assert desired([explicit], [s]).routes[("10.96.0.10", 80)].affinity_seconds == 60
    assert desired([service("web", sessionAffinity="None")], [s]).routes[("10.96.0.10", 80)].affinity_seconds == 0


def test_interface_names_fit_linux_limit():
    assert interface_name("ab12", 11, "worker-1") == "kcab12s11"
    long = interface_name("abcdef0123", 65535, "worker-1")
    assert len(long) <= 15 and long.startswith("kcabcdef0")
    assert long != interface_name("abcdef0123", 65535, "worker-2")


# -- the balancer ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_round_robin_takes_each_backend_in_turn():
    b = Balancer(Route("shop/web", backends("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")))
    picks = [str(b.pick("10.1.1.1")) for _ in range(6)]
    assert picks == ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"] * 2


def test_pick_skips_backends_that_failed_and_gives_up_when_none_is_left():
    b = Balancer(Route("shop/web", backends("10.0.0.1:80", "10.0.0.2:80")))
    first = b.pick("c")
    other = b.pick("c", {first})
    assert other is not None and other != first
    assert b.pick("c", {first, other}) is None
    assert Balancer(Route("shop/web", ())).pick("c") is None


def test_client_ip_affinity_sticks_until_its_timeout():
    clock = Clock()
    b = Balancer(Route("shop/web", backends("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"), affinity_seconds=60),
                 clock)
    assert str(b.pick("10.1.1.1")) == "10.0.0.1:80"
    assert [str(b.pick("10.1.1.1")) for _ in range(3)] == ["10.0.0.1:80"] * 3
    assert str(b.pick("10.1.1.2")) == "10.0.0.2:80"  # another client goes on with the rotation
    clock.now += 59
    assert str(b.pick("10.1.1.1")) == "10.0.0.1:80"  # each use renews the stickiness ...
    clock.now += 59
    assert str(b.pick("10.1.1.1")) == "10.0.0.1:80"
    clock.now += 61  # ... and a client unseen for longer than the timeout is free again
    assert str(b.pick("10.1.1.1")) == "10.0.0.3:80"


def test_affinity_forgets_a_backend_that_is_gone_or_failed():
    b = Balancer(Route("shop/web", backends("10.0.0.1:80", "10.0.0.2:80"), affinity_seconds=60), Clock())
    first = b.pick("c")
    assert b.pick("c", {first}) != first  # a failed dial moves the client
    second = b.pick("c")
    assert second != first
    b.update(Route("shop/web", tuple(x for x in backends("10.0.0.1:80", "10.0.0.2:80") if x != second),
                   affinity_seconds=60))
    assert b.pick("c") == first


def test_an_update_restarts_the_rotation_over_the_new_backends():
    b = Balancer(Route("shop/web", backends("10.0.0.1:80", "10.0.0.2:80")))
    b.pick("c")
    b.update(Route("shop/web", backends("10.0.0.3:80", "10.0.0.4:80")))
    assert [str(b.pick("c")) for _ in range(3)] == ["10.0.0.3:80", "10.0.0.4:80", "10.0.0.3:80"]


# -- choosing the proxy ------------------------------------------------------------------------


def test_choose_proxies_cluster_ips_only_with_network_namespaces():
    common = {"cluster_id": "ab12", "node_index": 11, "node_name": NODE, "node_address": ADDRESS,
              "service_cidr": "10.96.0.0/12"}
    netns = proxy.choose("userspace", network_mode="netns", **common)
    assert isinstance(netns, UserspaceProxy) and netns.cluster_ips and netns.interface.name == "kcab12s11"
    loopback = proxy.choose("userspace", network_mode="loopback", **common)
    assert isinstance(loopback, UserspaceProxy) and not loopback.cluster_ips and loopback.interface is None
    assert isinstance(proxy.choose("none", network_mode="netns", **common), proxy.NoProxy)
    with pytest.raises(ValueError, match="iptables"):
        proxy.choose("iptables", network_mode="netns", **common)
