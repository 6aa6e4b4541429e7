"""DefaultBinder (Bind): the scheduler's one write, a Binding sent to the API server.

The scheduler never edits a pod. It POSTs a ``v1.Binding`` to the pod's ``binding``
subresource::

    POST /api/v1/namespaces/default/pods/web-1/binding
    {"apiVersion": "v1", "kind": "Binding",
     "metadata": {"name": "web-1", "namespace": "default", "uid": "..."},
     "target": {"apiVersion": "v1", "kind": "Node", "name": "worker-1"}}

and the API server sets ``spec.nodeName`` (once: a second binding is a Conflict) and
the ``PodScheduled=True`` condition. The node agent of ``worker-1``, watching pods
with that ``spec.nodeName``, then starts the containers. The pod's uid in the
Binding makes the write fail if the pod was deleted and created again meanwhile.
"""

from __future__ import annotations

from typing import Any

from ...client import resources as r
from ...client.errors import ApiError
from ...client.rest import Client
from ..framework import SUCCESS, Code, Status
from ..nodeinfo import PodInfo

NAME = "DefaultBinder"


def binding(pod: PodInfo, node_name: str) -> dict[str, Any]:
    meta = {"name": pod.name, "namespace": pod.namespace}
    if pod.uid:
        meta["uid"] = pod.uid
    return {"apiVersion": "v1", "kind": "Binding", "metadata": meta,
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}


class DefaultBinder:
    NAME = NAME

    def __init__(self, client: Client) -> None:
        self.client = client

    def bind(self, pod: PodInfo, node_name: str) -> Status:
        try:
            self.client.create(r.PODS, binding(pod, node_name), pod.namespace, subresource="binding", name=pod.name)
        except ApiError as e:
            # The message is the API server's ("pod web-1 is already assigned to node ...");
            # the scheduler decides from the code whether to retry.
            return Status(Code.ERROR, (e.message or str(e),))
        return SUCCESS


def new(_args: dict[str, Any] | None = None, *, client: Client) -> DefaultBinder:
    return DefaultBinder(client)
