"""A pod's volumes: directories on the node, later bound into its containers.

Where it sits: the pod sync calls :meth:`PodVolumes.setup` before any container starts
and again on every sync (that is how a ConfigMap edit reaches the files), and
:meth:`PodVolumes.mounts` when it starts a container; the process runtime binds those
mounts at each ``mountPath`` (:mod:`nodeagent.sandbox`). Directories follow kubelet's
layout, so a student can find them::

    <data-dir>/pods/<pod uid>/volumes/kubernetes.io~empty-dir/<volume>/
                                     kubernetes.io~configmap/<volume>/
                                     kubernetes.io~secret/<volume>/
                                     kubernetes.io~downward-api/<volume>/
                                     kubernetes.io~projected/<volume>/

Supported: ``emptyDir``, ``configMap``, ``secret``, ``downwardAPI``, ``projected`` (of
those three, plus ``serviceAccountToken``, which kubeclass does not issue yet) and
``hostPath`` (with its ``type`` checks). The last four are written with
:func:`nodeagent.atomicwriter.write_payload`, so updates are atomic.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import shutil
import stat
from collections.abc import Callable
from typing import Any

from . import downward
from .atomicwriter import FileProjection, PayloadError, write_payload
from .envvars import ObjectSource, expand

Obj = dict[str, Any]
DEFAULT_MODE = 0o644
PLUGIN_DIRS = {"emptyDir": "kubernetes.io~empty-dir", "configMap": "kubernetes.io~configmap",
               "secret": "kubernetes.io~secret", "downwardAPI": "kubernetes.io~downward-api",
               "projected": "kubernetes.io~projected"}


class MountError(Exception):
    """A volume cannot be set up; the pod stays ContainerCreating and a FailedMount event
    carries this message, as upstream: ``MountVolume.SetUp failed for volume "x" : ...``."""


@dataclasses.dataclass(frozen=True)
class Mount:
    source: str  # a path on the node
    target: str  # the container's mountPath
    read_only: bool = False


class PodVolumes:
    """The volumes of one pod. ``allocatable`` answers ``resourceFieldRef`` without limits."""

    def __init__(self, pod_dir: str, source: ObjectSource, *, allocatable: dict[str, str] | None = None,
                 warn: Callable[[str], None] = lambda message: None) -> None:
        self.pod_dir = pod_dir
        self.source = source
        self.allocatable = allocatable or {}
        self.warn = warn
        self.paths: dict[str, str] = {}  # volume name -> directory (or file) on the node
        self._warned: set[str] = set()

    # -- setting up ----------------------------------------------------------------

    def setup(self, pod: Obj, *, pod_ip: str = "", host_ip: str = "") -> dict[str, str]:
        """Create or refresh every volume; returns name -> node path. Raises MountError."""
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = volume.get("name", "")
            try:
                self.paths[name] = self._setup_one(pod, namespace, volume, pod_ip, host_ip)
            except (MountError, PayloadError, OSError, ValueError) as e:
                raise MountError(f'MountVolume.SetUp failed for volume "{name}" : {e}') from None
        return dict(self.paths)

    def _dir(self, plugin: str, name: str) -> str:
        return os.path.join(self.pod_dir, "volumes", PLUGIN_DIRS[plugin], name)

    def _setup_one(self, pod: Obj, namespace: str, volume: Obj, pod_ip: str, host_ip: str) -> str:
        name = volume["name"]
        if "emptyDir" in volume:
            path = self._dir("emptyDir", name)
            os.makedirs(path, mode=0o777, exist_ok=True)
            os.chmod(path, 0o777)  # upstream: world-writable, so any user in the pod can write
            return path
        if "hostPath" in volume:
            return host_path(volume["hostPath"])
        for plugin in ("configMap", "secret", "downwardAPI", "projected"):
            if plugin in volume:
                spec = volume[plugin] or {}
                payload = self._payload(plugin, spec, pod, namespace, pod_ip, host_ip)
                path = self._dir(plugin, name)
                write_payload(path, payload)
                return path
        kind = next((k for k in volume if k != "name"), "unknown")
        raise MountError(f"{kind} volumes are not supported by the kubeclass node agent "
                         f"(use emptyDir, configMap, secret, downwardAPI, projected or hostPath)")

    def _payload(self, plugin: str, spec: Obj, pod: Obj, namespace: str, pod_ip: str,
                 host_ip: str) -> dict[str, FileProjection]:
        default_mode = spec.get("defaultMode", DEFAULT_MODE)
        if plugin == "configMap":
            return self._object_payload("configmap", spec, namespace, default_mode)
        if plugin == "secret":
            return self._object_payload("secret", spec, namespace, default_mode)
        if plugin == "downwardAPI":
            return self._downward_payload(spec.get("items") or [], pod, pod_ip, host_ip, default_mode)
        payload: dict[str, FileProjection] = {}
        for src in spec.get("sources") or []:
            if "configMap" in src:
                payload.update(self._object_payload("configmap", src["configMap"], namespace, default_mode))
            elif "secret" in src:
                payload.update(self._object_payload("secret", src["secret"], namespace, default_mode))
            elif "downwardAPI" in src:
                payload.update(self._downward_payload((src["downwardAPI"] or {}).get("items") or [], pod,
                                                      pod_ip, host_ip, default_mode))
            elif "serviceAccountToken" in src and "token" not in self._warned:
                self._warned.add("token")
                self.warn("kubeclass does not issue service account tokens yet: "
                          f"{src['serviceAccountToken'].get('path', 'token')} is left out of the volume")
        return payload

    def _object_payload(self, kind: str, spec: Obj, namespace: str, default_mode: int) -> dict[str, FileProjection]:
        name = spec.get("name") or spec.get("secretName") or ""
        obj = self.source.secret(namespace, name) if kind == "secret" else self.source.configmap(namespace, name)
        optional = bool(spec.get("optional"))
        if obj is None:
            if optional:
                return {}
            raise MountError(f'{kind} "{name}" not found')
        data: dict[str, bytes] = {}
        if kind == "secret":
            data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        else:
            data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        items = spec.get("items")
        if not items:
            return {k: FileProjection(v, default_mode) for k, v in data.items()}
        payload = {}
        for item in items:
            key = item.get("key", "")
            if key not in data:
                if optional:
                    continue
                raise MountError(f"{kind} references non-existent {'secret' if kind == 'secret' else 'config'} "
                                 f"key: {key}")
            payload[item.get("path") or key] = FileProjection(data[key], item.get("mode", default_mode))
        return payload

    def _downward_payload(self, items: list[Obj], pod: Obj, pod_ip: str, host_ip: str,
                          default_mode: int) -> dict[str, FileProjection]:
        payload = {}
        for item in items:
            if item.get("fieldRef"):
                value = downward.field_value(pod, item["fieldRef"].get("fieldPath", ""), pod_ip=pod_ip,
                                             host_ip=host_ip, whole_maps=True)
            elif item.get("resourceFieldRef"):
                ref = item["resourceFieldRef"]
                value = downward.resource_value(pod, ref.get("containerName", ""), ref.get("resource", ""),
                                                ref.get("divisor"), self.allocatable)
            else:
                continue
            payload[item["path"]] = FileProjection(value.encode(), item.get("mode", default_mode))
        return payload

    # -- mounting ------------------------------------------------------------------

    def mounts(self, container: Obj, env: dict[str, str]) -> list[Mount]:
        """The container's ``volumeMounts`` as node path -> mountPath pairs."""
        result = []
        for vm in container.get("volumeMounts") or []:
            base = self.paths.get(vm.get("name", ""))
            if base is None:
                raise MountError(f'volume "{vm.get("name")}" is not set up')
            sub = vm.get("subPath") or (expand(vm["subPathExpr"], env) if vm.get("subPathExpr") else "")
            source = base
            if sub:
                if os.path.isabs(sub) or ".." in sub.split("/"):
                    raise MountError(f"subPath {sub!r} must be a relative path without '..'")
                source = os.path.join(base, sub)
                if not os.path.lexists(source):
                    os.makedirs(source, exist_ok=True)  # kubelet creates a missing subPath directory
                source = os.path.realpath(source)
            result.append(Mount(source, vm["mountPath"], bool(vm.get("readOnly"))))
        return result

    def teardown(self) -> None:
        """Remove the pod's volume directories (never a hostPath's content)."""
        shutil.rmtree(os.path.join(self.pod_dir, "volumes"), ignore_errors=True)
        self.paths.clear()


def host_path(spec: Obj) -> str:
    """Check (or create) a ``hostPath`` per its ``type``, as kubelet's hostPath plugin does."""
    path, kind = spec.get("path", ""), spec.get("type") or ""
    if kind == "DirectoryOrCreate":
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif kind == "FileOrCreate" and not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        open(path, "a").close()
    checks = {"Directory": (stat.S_ISDIR, "a directory"), "File": (stat.S_ISREG, "a file"),
              "Socket": (stat.S_ISSOCK, "a socket file"), "CharDevice": (stat.S_ISCHR, "a character device"),
              "BlockDevice": (stat.S_ISBLK, "a block device")}
    if kind in checks:
        test, what = checks[kind]
        try:
            ok = test(os.stat(path).st_mode)
        except FileNotFoundError:
            ok = False
        if not ok:
            raise MountError(f"hostPath type check failed: {path} is not {what}")
    return path
