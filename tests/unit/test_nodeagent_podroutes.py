"""Which routes a node agent with --pod-routes wants: one per other node, via its address."""

from nodeagent.podroutes import desired_routes


def node(name, cidr=None, address=None):
    return {"metadata": {"name": name}, "spec": {"podCIDR": cidr} if cidr else {},
            "status": {"addresses": [{"type": "InternalIP", "address": address}] if address else []}}


def test_every_other_node_is_reached_through_its_internal_ip():
    nodes = [node("master-1", "10.244.11.0/24", "10.231.0.11"),
             node("worker-1", "10.244.21.0/24", "10.231.0.21"),
             node("worker-2", "10.244.22.0/24", "10.231.0.22")]
    assert desired_routes(nodes, "worker-1") == {"10.244.11.0/24": "10.231.0.11",
                                                 "10.244.22.0/24": "10.231.0.22"}


def test_nodes_without_a_range_or_address_and_nodes_of_this_machine_get_no_route():
    nodes = [node("a", None, "10.0.0.2"), node("b", "10.244.2.0/24", None),
             node("c", "10.244.3.0/24", "127.0.0.3"), node("d", "not-a-cidr", "10.0.0.4")]
    assert desired_routes(nodes, "x") == {}
