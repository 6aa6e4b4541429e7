"""The seam for the service proxy (ClusterIP and NodePort), which a later issue fills in.

Where it sits: the node agent already follows the cluster's Services through an
informer (it needs them for the pods' ``<NAME>_SERVICE_HOST`` variables) and calls
:meth:`ServiceProxy.sync` with all of them whenever one changes; the proxy will add an
Endpoints (or EndpointSlice) informer of its own for the second argument. The proxy
described in ``docs/workloads.md`` will implement this protocol:

* every ClusterIP added as a /32 to a dummy interface ``kc<id>svc`` (as kube-proxy's IPVS
  mode does), a userspace listener on ``ClusterIP:port`` (``SO_REUSEPORT``, so several
  agents on one machine share it) and on ``<node address>:<nodePort>``;
* connections balanced across the ready endpoints.

Until then :class:`NoProxy` accepts the calls and does nothing, so the agent's wiring
does not change when the real proxy arrives.
"""

from __future__ import annotations

from typing import Any, Protocol


class ServiceProxy(Protocol):
    def start(self) -> None: ...
    def sync(self, services: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> None: ...
    def stop(self) -> None: ...


class NoProxy:
    """No service proxy yet: Services get environment variables, but no traffic."""

    def start(self) -> None:
        pass

    def sync(self, services: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> None:
        pass

    def stop(self) -> None:
        pass
