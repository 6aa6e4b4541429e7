"""Builders and a fake API for scheduler tests (upstream's ``pkg/scheduler/testing``, in small).

Where it sits: used by the scheduler's unit tests and by the benchmark to make Node and
Pod objects that look like what the API server stores; nothing in the scheduler itself
imports it.

* :func:`make_node` / :func:`make_pod` - objects with just the fields the scheduler
  reads, spelled as the API spells them (``"500m"``, ``"1Gi"``);
* :class:`FakeBindingClient` - the client package's :class:`FakeClient` plus the two
  writes only the scheduler makes: ``POST pods/<name>/binding`` (sets ``spec.nodeName``
  once, as the API server does) and the strategic-merge ``PATCH pods/<name>/status``
  of one condition (merged by ``type``).
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

from ..client import resources as r
from ..client.errors import ApiError
from ..client.fake import FakeClient
from ..client.resources import Resource

Obj = dict[str, Any]
_uids = itertools.count(1)


def make_node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: int | str = 110,
              labels: dict[str, str] | None = None, taints: list[Obj] | None = None,
              unschedulable: bool = False, extra: dict[str, str] | None = None) -> Obj:
    """A Ready node with ``cpu``/``memory``/``pods`` as both capacity and allocatable."""
    allocatable = {"cpu": cpu, "memory": memory, "pods": str(pods), **(extra or {})}
    spec: Obj = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": f"node-uid-{name}",
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", **(labels or {})}},
            "spec": spec,
            "status": {"capacity": dict(allocatable), "allocatable": allocatable,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "kubelet is posting ready status"}]}}


def make_pod(name: str, *, namespace: str = "default", cpu: str | None = None, memory: str | None = None,
             node: str | None = None, labels: dict[str, str] | None = None, owner: str | None = None,
             priority: int | None = None, tolerations: list[Obj] | None = None,
             node_selector: dict[str, str] | None = None, affinity: Obj | None = None,
             host_port: int | None = None, init: list[Obj] | None = None, extra: dict[str, str] | None = None,
             scheduler_name: str = "default-scheduler", uid: str | None = None) -> Obj:
    """A pod with one container requesting ``cpu``/``memory`` (and ``extra`` resources).

    ``owner`` names a ReplicaSet that controls the pod (its uid is ``rs-<owner>``)."""
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    requests.update(extra or {})
    container: Obj = {"name": "app", "image": "kubeclass/hello:1"}
    if requests:
        container["resources"] = {"requests": requests}
    if host_port:
        container["ports"] = [{"containerPort": host_port, "hostPort": host_port, "protocol": "TCP"}]
    spec: Obj = {"containers": [container], "schedulerName": scheduler_name, "priority": priority or 0}
    for key, value in (("nodeName", node), ("tolerations", tolerations), ("nodeSelector", node_selector),
                       ("affinity", affinity), ("initContainers", init)):
        if value:
            spec[key] = value
    meta: Obj = {"name": name, "namespace": namespace, "uid": uid or f"pod-uid-{next(_uids)}",
                 "labels": dict(labels or {})}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                    "uid": f"rs-{owner}", "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": "Pending"}}


def taint(key: str, effect: str = "NoSchedule", value: str = "") -> Obj:
    return {"key": key, "value": value, "effect": effect} if value else {"key": key, "effect": effect}


CONTROL_PLANE_TAINT = taint("node-role.kubernetes.io/control-plane")


class FakeBindingClient(FakeClient):
    """:class:`FakeClient` that also binds pods and merges status conditions."""

    def create(self, res: Resource, body: Obj, namespace: str | None = None, *, field_manager: str | None = None,
               subresource: str | None = None, name: str | None = None) -> Obj:
        if res.resource != "pods" or subresource != "binding":
            return super().create(res, body, namespace, field_manager=field_manager, subresource=subresource,
                                  name=name)
        with self._mutex:
            self._record("create", res, namespace, name or "", {"subresource": "binding",
                                                                 "body": copy.deepcopy(body)})
            pod = self._must(res, name or "", namespace)
            target = (body.get("target") or {}).get("name")
            if pod["spec"].get("nodeName"):
                message = (f'Operation cannot be fulfilled on pods/binding "{name}": '
                           f'pod {name} is already assigned to node "{pod["spec"]["nodeName"]}"')
                raise ApiError({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 409,
                                "reason": "Conflict", "message": message})
            new = copy.deepcopy(pod)
            new["spec"]["nodeName"] = target
            _set_condition(new, {"type": "PodScheduled", "status": "True"})
            self._store_update(res, new)
            return {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}

    def patch(self, res: Resource, name: str, patch: Any, namespace: str | None = None, *,
              patch_type: str = "merge", field_manager: str | None = None, force: bool | None = None,
              subresource: str | None = None) -> Obj:
        if not (res.resource == "pods" and patch_type == "strategic" and subresource == "status"):
            return super().patch(res, name, patch, namespace, patch_type=patch_type, field_manager=field_manager,
                                 force=force, subresource=subresource)
        with self._mutex:
            self._record("patch", res, namespace, name, {"type": patch_type, "subresource": subresource,
                                                         "patch": copy.deepcopy(patch)})
            new = copy.deepcopy(self._must(res, name, namespace))
            for condition in (patch.get("status") or {}).get("conditions") or []:
                _set_condition(new, condition)
            return self._store_update(res, new)

    def pod(self, name: str, namespace: str = "default") -> Obj:
        stored = self.stored(r.PODS, name, namespace)
        assert stored is not None, f"no pod {namespace}/{name}"
        return stored


def _set_condition(pod: Obj, condition: Obj) -> None:
    """Strategic merge of one condition: the list is merged by ``type``."""
    conditions = pod.setdefault("status", {}).setdefault("conditions", [])
    for existing in conditions:
        if existing.get("type") == condition.get("type"):
            existing.update(condition)
            return
    conditions.append(dict(condition))
