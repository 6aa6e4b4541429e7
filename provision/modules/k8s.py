"""k8s_drain, k8s_info and k8s: cordon and drain nodes, read and delete objects, via the API.

Data flow (B): executor ─▶ **k8s modules** ─▶ HTTPS (requests) ─▶ the cluster's API server.
Unlike every other module, these run on the controller machine and never touch the host transport
(`self.t`): like Ansible's kubernetes.core modules delegated to localhost, they read a
kubeconfig here and talk to the API server from this process (`provision.k8sapi`). The kubeconfig's CA and client
certificate are written to a private temp dir for the length of one task, then removed.

`k8s_drain` does what `kubectl drain` does: cordon, list the node's pods, refuse (naming them)
pods it may not evict unless an option allows it, evict the rest through the eviction
subresource (retrying while a PodDisruptionBudget says 429), then wait until they are gone.
`k8s_info` reads one object and may wait for a status condition; `k8s` deletes one object
(only `state: absent`). Check mode only reads. An unreachable server or an error Status from
the API becomes a failed Result with the server's address or the Status `message`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, NamedTuple

from provision.k8sapi import (MERGE_PATCH, MIRROR_ANNOTATION, POLL_SECONDS, Api, KubeError, connect,
                              is_gone, status_message, wait_until)
from provision.modules.base import Arg, ArgumentError, Module, Result, _convert

KUBECONFIG = Arg("path", required=True)
__all__ = ["MERGE_PATCH", "MIRROR_ANNOTATION", "K8s", "K8sDrain", "K8sInfo"]


class K8sModule(Module):
    """A module that talks to the API server from the controller; `self.t` is never used."""

    def run(self) -> Result:
        try:
            with connect(self.args["kubeconfig"]) as api:
                return self.converge(api)
        except KubeError as exc:
            return Result(False, str(exc), failed=True)

    def converge(self, api: Api) -> Result:
        raise NotImplementedError


# -- objects by kind (k8s_info, k8s) ------------------------------------------------------------

class Kind(NamedTuple):
    api_version: str
    resource: str
    namespaced: bool


KINDS = {
    "Node": Kind("v1", "nodes", False),
    "Namespace": Kind("v1", "namespaces", False),
    "Pod": Kind("v1", "pods", True),
    "Service": Kind("v1", "services", True),
    "ConfigMap": Kind("v1", "configmaps", True),
    "Secret": Kind("v1", "secrets", True),
    "Deployment": Kind("apps/v1", "deployments", True),
    "ReplicaSet": Kind("apps/v1", "replicasets", True),
    "DaemonSet": Kind("apps/v1", "daemonsets", True),
    "StatefulSet": Kind("apps/v1", "statefulsets", True),
}
OBJECT_ARGS = {
    "kind": Arg(required=True),
    "name": Arg(required=True),
    "namespace": Arg(),
    "api_version": Arg(),
    "kubeconfig": KUBECONFIG,
}


def check_kind(module: str, kind: str) -> None:
    if kind not in KINDS:
        raise ArgumentError(f"{module}: kind {kind!r} is not supported "
                            f"(supported: {', '.join(KINDS)})")


class Target(NamedTuple):
    label: str  # "Node worker-3", "Pod default/web"
    path: str


def target(args: dict[str, Any], default_namespace: str) -> Target:
    """Where the object named by kind/name/namespace/api_version lives in the REST API."""
    kind = KINDS[args["kind"]]
    version = args["api_version"] or kind.api_version
    path = "/api/v1" if version == "v1" else f"/apis/{version}"
    name = args["name"]
    if not kind.namespaced:
        return Target(f"{args['kind']} {name}", f"{path}/{kind.resource}/{name}")
    ns = args["namespace"] or default_namespace
    return Target(f"{args['kind']} {ns}/{name}",
                  f"{path}/namespaces/{ns}/{kind.resource}/{name}")


def condition_status(obj: dict[str, Any], ctype: str) -> str | None:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return str(cond.get("status"))
    return None


class K8sInfo(K8sModule):
    NAME = "k8s_info"
    ARGS = {
        **OBJECT_ARGS,
        "wait": Arg("bool", default=False),
        "wait_condition": Arg("raw"),
        "wait_timeout": Arg("int", default=120),
        "wait_sleep": Arg("float", default=1.0),
    }

    @classmethod
    def validate(cls, args: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(args)
        check_kind(cls.NAME, out["kind"])
        cond = out["wait_condition"]
        if cond is not None and not (isinstance(cond, dict) and cond.get("type")
                                     and set(cond) <= {"type", "status"}):
            raise ArgumentError(f"{cls.NAME}: wait_condition must be a mapping with 'type' "
                                f"and optionally 'status', got {cond!r}")
        return out

    def converge(self, api: Api) -> Result:
        where = target(self.args, api.namespace)
        if not self.args["wait"] or self.check_mode:
            obj = api.get(where.path)
            prefix = "check mode: not waiting; " if self.args["wait"] else ""
            found = "not found" if obj is None else "exists"
            return Result(False, f"{prefix}{where.label} {found}",
                          data={"resources": [obj] if obj else []})
        cond = self.args["wait_condition"]
        wanted = f"{cond['type']}={cond.get('status', 'True')}" if cond else "exists"
        last: dict[str, dict[str, Any] | None] = {}

        def matches() -> bool:
            last["obj"] = api.get(where.path)
            return self._observed(last["obj"]) == wanted

        timeout = self.args["wait_timeout"]
        done = wait_until(matches, time.monotonic() + timeout, self.args["wait_sleep"])
        data = {"resources": [last["obj"]] if last["obj"] else []}
        if done:
            return Result(False, f"{where.label} {'is ' + wanted if cond else wanted}", data=data)
        goal = f"be {wanted}" if cond else "exist"
        return Result(False, f"timed out after {timeout} s waiting for {where.label} to {goal} "
                      f"(last: {self._observed(last['obj'])})", failed=True, data=data)

    def _observed(self, obj: dict[str, Any] | None) -> str:
        """What `obj` shows, in the words of `wanted` above: equal when it is what we wait for."""
        cond = self.args["wait_condition"]
        if obj is None:
            return "not found"
        if not cond:
            return "exists"
        status = condition_status(obj, cond["type"])
        return f"no {cond['type']} condition" if status is None else f"{cond['type']}={status}"


class K8s(K8sModule):
    NAME = "k8s"
    ARGS = {
        **OBJECT_ARGS,
        # Ansible's default; making `absent` the default would turn a forgotten line into a delete
        "state": Arg(default="present"),
        "wait": Arg("bool", default=False),
        "wait_timeout": Arg("int", default=60),
    }

    @classmethod
    def validate(cls, args: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(args)
        check_kind(cls.NAME, out["kind"])
        if out["state"] != "absent":
            raise ArgumentError(f"{cls.NAME}: only state 'absent' is supported, "
                                f"got {out['state']!r}")
        return out

    def converge(self, api: Api) -> Result:
        where = target(self.args, api.namespace)
        obj = api.get(where.path)
        if obj is None:
            return Result(False, f"{where.label} is already absent")
        if self.check_mode:
            return Result(True, f"{where.label} would be deleted")
        api.delete(where.path)
        if self.args["wait"]:
            timeout = self.args["wait_timeout"]
            uid = obj.get("metadata", {}).get("uid")
            if not wait_until(lambda: is_gone(api, where.path, uid),
                              time.monotonic() + timeout, POLL_SECONDS):
                return Result(True, f"{where.label} deleted, but still there after "
                              f"{timeout} s", failed=True)
        return Result(True, f"{where.label} deleted")


# -- drain ---------------------------------------------------------------------------------------

DELETE_OPTIONS = {
    "ignore_daemonsets": Arg("bool", default=False),
    "delete_emptydir_data": Arg("bool", default=False),
    "force": Arg("bool", default=False),
    "terminate_grace_period": Arg("int"),
    "wait_timeout": Arg("int", default=120),
    "disable_eviction": Arg("bool", default=False),
}
EVICT, SKIP = "evict", "skip"
NO_DAEMONSETS = "cannot delete DaemonSet-managed Pods (use delete_options.ignore_daemonsets)"
NO_EMPTYDIR = "cannot delete Pods with local storage (use delete_options.delete_emptydir_data)"
NO_CONTROLLER = "cannot delete Pods that declare no controller (use delete_options.force)"


def drain_options(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ArgumentError(f"k8s_drain: delete_options must be a mapping, got {raw!r}")
    unknown = sorted(set(raw) - set(DELETE_OPTIONS))
    if unknown:
        raise ArgumentError(f"k8s_drain: unknown delete_options key {unknown[0]!r} "
                            f"(takes: {', '.join(DELETE_OPTIONS)})")
    return {name: spec.default if raw.get(name) is None
            else _convert("k8s_drain", f"delete_options.{name}", spec, raw[name])
            for name, spec in DELETE_OPTIONS.items()}


def pod_ref(pod: dict[str, Any]) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"


def pod_path(pod: dict[str, Any]) -> str:
    return f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods/{pod['metadata']['name']}"


def pod_verdict(pod: dict[str, Any], opts: dict[str, Any]) -> str:
    """EVICT, SKIP, or why the drain may not touch the pod: kubectl's filters, in its order."""
    meta = pod["metadata"]
    if meta.get("deletionTimestamp"):
        return SKIP  # already terminating
    owner = next((ref for ref in meta.get("ownerReferences") or [] if ref.get("controller")),
                 None)
    if owner and owner.get("kind") == "DaemonSet":
        # its controller would recreate it at once, and it tolerates the cordon anyway
        return SKIP if opts["ignore_daemonsets"] else NO_DAEMONSETS
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        return SKIP  # a static pod's mirror: only the node agent can remove it
    # a pod that has finished loses nothing by being deleted
    finished = pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
    volumes = pod.get("spec", {}).get("volumes") or []
    if not finished and not opts["delete_emptydir_data"] and any("emptyDir" in v for v in volumes):
        return NO_EMPTYDIR
    if not finished and owner is None and not opts["force"]:
        return NO_CONTROLLER  # nothing would recreate it elsewhere
    return EVICT


def plan_drain(pods: list[dict[str, Any]],
               opts: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The pods to evict, and one error per reason that blocks the drain (naming the pods)."""
    evict: list[dict[str, Any]] = []
    blocked: dict[str, list[str]] = defaultdict(list)
    for pod in pods:
        verdict = pod_verdict(pod, opts)
        if verdict == EVICT:
            evict.append(pod)
        elif verdict != SKIP:
            blocked[verdict].append(pod_ref(pod))
    return evict, [f"{reason}: {', '.join(refs)}" for reason, refs in blocked.items()]


def evict(api: Api, pod: dict[str, Any], opts: dict[str, Any]) -> str | None:
    """Evict (or delete) one pod; the server's reason if a PodDisruptionBudget refuses it now."""
    grace = opts["terminate_grace_period"]
    options = {} if grace is None else {"gracePeriodSeconds": grace}
    if opts["disable_eviction"]:
        api.delete(pod_path(pod), options or None)
        return None
    meta = pod["metadata"]
    body: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction",
                            "metadata": {"name": meta["name"], "namespace": meta["namespace"]}}
    if options:
        body["deleteOptions"] = options
    # 404: the pod is already gone, which is what eviction wants
    resp = api.request("POST", pod_path(pod) + "/eviction", body=body, tolerate=(404, 429))
    return status_message(resp) if resp.status_code == 429 else None


def evict_all(api: Api, pods: list[dict[str, Any]], opts: dict[str, Any],
              deadline: float) -> dict[str, str]:
    """Evict every pod, retrying those a PodDisruptionBudget protects until the deadline;
    the ones still refused then, with the server's reason."""
    pending = {pod_ref(pod): pod for pod in pods}
    while True:
        refused = {ref: why for ref, pod in pending.items() if (why := evict(api, pod, opts))}
        if not refused or time.monotonic() >= deadline:
            return refused
        time.sleep(POLL_SECONDS)
        pending = {ref: pending[ref] for ref in refused}


def wait_all_gone(api: Api, pods: list[dict[str, Any]], deadline: float) -> list[str]:
    """Wait until every pod is gone; the ones still there at the deadline."""
    left = pods
    while True:
        left = [pod for pod in left
                if not is_gone(api, pod_path(pod), pod["metadata"].get("uid"))]
        if not left or time.monotonic() >= deadline:
            return [pod_ref(pod) for pod in left]
        time.sleep(POLL_SECONDS)


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class K8sDrain(K8sModule):
    NAME = "k8s_drain"
    ARGS = {
        "name": Arg(required=True),
        "state": Arg(default="drain", choices=("drain", "cordon", "uncordon")),
        "kubeconfig": KUBECONFIG,
        "delete_options": Arg("raw", default={}),
    }

    @classmethod
    def validate(cls, args: dict[str, Any]) -> dict[str, Any]:
        out = super().validate(args)
        out["delete_options"] = drain_options(out["delete_options"])
        return out

    def converge(self, api: Api) -> Result:
        name, state = self.args["name"], self.args["state"]
        node = api.get(f"/api/v1/nodes/{name}")
        if node is None:
            return Result(False, f"node {name} not found", failed=True)
        cordon = state != "uncordon"
        changed = bool(node.get("spec", {}).get("unschedulable")) != cordon
        if changed and not self.check_mode:
            api.merge_patch(f"/api/v1/nodes/{name}", {"spec": {"unschedulable": cordon}})
        if state == "drain":
            return self._drain(api, changed)
        done = "cordoned" if cordon else "uncordoned"
        return Result(changed, f"node {name} {done}" if changed else f"node {name} already {done}",
                      data={"evicted": []})

    def _drain(self, api: Api, cordoned: bool) -> Result:
        name, opts = self.args["name"], self.args["delete_options"]
        pods = api.list("/api/v1/pods", {"fieldSelector": f"spec.nodeName={name}"})
        to_evict, errors = plan_drain(pods, opts)
        refs = [pod_ref(p) for p in to_evict]
        if errors:
            stays = " (the node stays cordoned)" if cordoned and not self.check_mode else ""
            return Result(cordoned and not self.check_mode,
                          f"cannot drain node {name}{stays}: {'; '.join(errors)}",
                          failed=True, data={"evicted": []})
        verb = "deleted" if opts["disable_eviction"] else "evicted"
        if self.check_mode:
            which = f": {', '.join(refs)}" if refs else ""
            return Result(cordoned or bool(refs), f"node {name} would be drained "
                          f"({plural(len(refs), 'pod')} to be {verb}{which})",
                          data={"evicted": refs})
        deadline = time.monotonic() + opts["wait_timeout"]
        timeout = f"timed out after {opts['wait_timeout']} s"
        refused = evict_all(api, to_evict, opts, deadline)
        if refused:
            evicted = [ref for ref in refs if ref not in refused]
            return Result(cordoned or bool(evicted), f"{timeout} evicting " + "; ".join(
                f"{ref}: {why}" for ref, why in refused.items()), failed=True,
                data={"evicted": evicted})
        left = wait_all_gone(api, to_evict, deadline)
        if left:
            return Result(True, f"{timeout} waiting for pods to leave node {name}: "
                          f"{', '.join(left)}", failed=True, data={"evicted": refs})
        return Result(cordoned or bool(refs),
                      f"node {name} drained ({plural(len(refs), 'pod')} {verb})",
                      data={"evicted": refs})
