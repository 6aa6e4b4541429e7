"""The seam for the service proxy (ClusterIP and NodePort): a protocol and how to choose one.

Where it sits: the node agent follows the cluster's Services, EndpointSlices and
Endpoints through informers and calls :meth:`ServiceProxy.sync` with all of them
whenever one changes; ``sync`` must be quick (it runs on an informer's thread), so a
proxy only notes the newest state and converges on a thread of its own. Two
implementations:

* :class:`~nodeagent.proxy_userspace.UserspaceProxy` (``--proxy-mode userspace``, the
  default): the agent owns every ClusterIP (a ``/32`` on its interface ``kc<id>s<n>``,
  as root), listens on ``ClusterIP:port`` and ``<node address>:<nodePort>`` and relays
  each connection to a ready endpoint. Read :mod:`.proxy_rules` (what to serve),
  :mod:`.proxy_userspace` (converging to it), :mod:`.proxy_relay` (one connection);
* :class:`NoProxy` (``--proxy-mode none``): Services get environment variables, but no
  traffic (for agents that share a machine with another service proxy).
"""

from __future__ import annotations

from typing import Any, Protocol


class ServiceProxy(Protocol):
    def start(self) -> None: ...
    def sync(self, services: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> None: ...
    def stop(self) -> None: ...


class NoProxy:
    """No service proxy: Services get environment variables, but no traffic."""

    def start(self) -> None:
        pass

    def sync(self, services: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> None:
        pass

    def stop(self) -> None:
        pass


def choose(mode: str, *, network_mode: str, cluster_id: str, node_index: int, node_name: str,
           node_address: str, service_cidr: str) -> ServiceProxy:
    """The proxy for ``--proxy-mode``; ClusterIPs are proxied only with network namespaces (as root)."""
    if mode == "none":
        return NoProxy()
    if mode != "userspace":
        raise ValueError(f"unknown --proxy-mode {mode!r}: choose userspace or none")
    from .proxy_userspace import ServiceInterface, UserspaceProxy, interface_name

    interface = ServiceInterface(interface_name(cluster_id, node_index, node_name)) if network_mode == "netns" else None
    return UserspaceProxy(node_name=node_name, node_address=node_address, cluster_ips=interface is not None,
                          interface=interface, service_cidr=service_cidr)
