"""The node's heartbeat: a Lease in ``kube-node-lease`` renewed every few seconds.

Where it sits: the node agent's loop calls :meth:`NodeLease.step`; the node lifecycle
controller reads ``spec.renewTime`` and marks the node NotReady/Unknown when it grows
older than its grace period. This is kubelet's node lease controller
(``component-helpers/apimachinery/lease/controller.go``):

* the Lease is ``kube-node-lease/<node>``, ``holderIdentity`` the node name,
  ``leaseDurationSeconds`` from the timing profile (classroom 4 s, kubernetes 40 s),
  owned by the Node (deleting the Node deletes its Lease);
* it is renewed every ``lease_renew`` seconds (classroom 1 s, kubernetes 10 s) with a
  conditional PUT (the Lease's resourceVersion), so two agents that claim the same
  node name notice each other as conflicts;
* after a failure it tries again sooner, 200 ms doubling up to 7 s (upstream's numbers).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from controlplane.client import ApiError, Client, is_already_exists, is_conflict, is_not_found
from controlplane.client import resources as r

from .daemon import Every

log = logging.getLogger(__name__)
NAMESPACE = "kube-node-lease"


def micro_time(now: datetime.datetime | None = None) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds."""
    now = now or datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeLease:
    def __init__(self, client: Client, node_name: str, duration: int, renew: float,
                 node_uid: Callable[[], str] = lambda: "") -> None:
        self.client = client
        self.node_name = node_name
        self.duration = duration
        self.node_uid = node_uid
        self.every = Every(renew)
        self.lease: dict[str, Any] | None = None
        self._retry = 0.2

    def body(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.node_name, "namespace": NAMESPACE}
        if self.node_uid():
            meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.node_name,
                                        "uid": self.node_uid()}]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": self.duration,
                         "renewTime": micro_time()}}

    def step(self, now: float) -> float:
        if self.every.due(now):
            try:
                self.renew()
                self._retry = 0.2
                self.every.done(now)
            except Exception as e:  # noqa: BLE001 - keep trying: a missed renewal is what NotReady means
                log.warning("cannot renew the lease of node %s: %s", self.node_name, e)
                self.every.done(now, retry_in=self._retry)
                self._retry = min(self._retry * 2, 7.0)
        return self.every.wait(now)

    def renew(self) -> None:
        if self.lease is None:
            self.lease = self._get_or_create()
            return
        lease = dict(self.lease)
        lease["spec"] = {**(lease.get("spec") or {}), "holderIdentity": self.node_name,
                         "leaseDurationSeconds": self.duration, "renewTime": micro_time()}
        try:
            self.lease = self.client.update(r.LEASES, lease, NAMESPACE)
        except ApiError as e:
            if is_conflict(e) or is_not_found(e):
                self.lease = None  # somebody else wrote it, or it was deleted: read it afresh next time
            raise

    def _get_or_create(self) -> dict[str, Any]:
        try:
            current = self.client.get(r.LEASES, self.node_name, NAMESPACE)
        except ApiError as e:
            if not is_not_found(e):
                raise
            try:
                return self.client.create(r.LEASES, self.body(), NAMESPACE)
            except ApiError as e2:
                if not is_already_exists(e2):
                    raise
                current = self.client.get(r.LEASES, self.node_name, NAMESPACE)
        current["spec"] = {**(current.get("spec") or {}), **self.body()["spec"]}
        if self.node_uid() and not (current.get("metadata") or {}).get("ownerReferences"):
            current["metadata"]["ownerReferences"] = self.body()["metadata"]["ownerReferences"]
        return self.client.update(r.LEASES, current, NAMESPACE)
