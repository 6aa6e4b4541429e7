"""Pod volumes: names, exactly one source each, and the checks of the common sources.

Where it sits: the pod spec validator calls :func:`validate_volumes` first and passes
the names it accepted on to the containers, whose ``volumeMounts`` must refer to them.
The downward-API field selectors checked here are shared with ``env[].valueFrom``.

What it promises: upstream's ``ValidateVolumes``. The sources a teaching cluster
meets (emptyDir, hostPath, configMap, secret, persistentVolumeClaim, projected,
downwardAPI, nfs) are checked in depth; the cloud and storage-vendor sources are only
counted, so that "one source per volume" still holds for them.
"""

from __future__ import annotations

import posixpath
from typing import Any

from ..fielderrors import FieldError, Path, duplicate, forbidden, invalid, not_supported, required
from . import quantity
from .meta import is_dns1123_label, is_qualified_name

FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"

# Every volume source, in the order upstream looks at them: the first one found counts,
# each further one is "more than 1 volume type".
VOLUME_SOURCES = (
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret", "nfs",
    "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs", "quobyte",
    "downwardAPI", "fc", "flexVolume", "configMap", "azureFile", "vsphereVolume",
    "photonPersistentDisk", "portworxVolume", "azureDisk", "storageos", "projected", "scaleIO",
    "csi", "ephemeral", "image",
)
# Upstream reports a second source at these (misspelt) paths.
_FORBIDDEN_PATH = {"downwardAPI": "downwarAPI", "cephfs": "cephFS"}

HOST_PATH_TYPES = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File",
                   "FileOrCreate", "Socket"]


def validate_volumes(volumes: Any, path: Path) -> tuple[set[str], list[FieldError]]:
    """The names of the volumes that are valid, and the errors of the others."""
    names: set[str] = set()
    errs: list[FieldError] = []
    for i, volume in enumerate(volumes or []):
        vol_path = path.index(i)
        name = volume.get("name") or ""
        found = _validate_source(volume, vol_path)
        if not name:
            found.append(required(str(vol_path.child("name"))))
        else:
            found += [invalid(str(vol_path.child("name")), name, msg)
                      for msg in is_dns1123_label(name)]
        if name in names:
            found.append(duplicate(str(vol_path.child("name")), name))
        if found:
            errs += found
        else:
            names.add(name)
    return names, errs


def _validate_source(volume: dict, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    count = 0
    for source in VOLUME_SOURCES:
        if volume.get(source) is None:
            continue
        if count:
            errs.append(forbidden(str(path.child(_FORBIDDEN_PATH.get(source, source))),
                                  "may not specify more than 1 volume type"))
            continue
        count += 1
        check = _SOURCE_CHECKS.get(source)
        if check:
            errs += check(volume[source], path.child(source))
    if not count:
        errs.append(required(str(path), "must specify a volume type"))
    return errs


def _empty_dir(src: dict, path: Path) -> list[FieldError]:
    limit = quantity.try_parse(src["sizeLimit"]) if src.get("sizeLimit") is not None else None
    if limit is not None and limit.value < 0:
        return [forbidden(str(path.child("sizeLimit")),
                          "SizeLimit field must be a valid resource quantity")]
    return []


def _host_path(src: dict, path: Path) -> list[FieldError]:
    host_path = src.get("path") or ""
    if not host_path:
        return [required(str(path.child("path")))]
    errs = _no_backsteps(host_path, path.child("path"))
    kind = src.get("type")
    if kind is not None and kind not in HOST_PATH_TYPES:
        errs.append(not_supported(str(path.child("type")), kind, HOST_PATH_TYPES))
    return errs


def _secret(src: dict, path: Path) -> list[FieldError]:
    errs = [] if src.get("secretName") else [required(str(path.child("secretName")))]
    return errs + _mode(src, "defaultMode", path) + _items(src, path)


def _config_map(src: dict, path: Path) -> list[FieldError]:
    errs = [] if src.get("name") else [required(str(path.child("name")))]
    return errs + _mode(src, "defaultMode", path) + _items(src, path)


def _pvc(src: dict, path: Path) -> list[FieldError]:
    return [] if src.get("claimName") else [required(str(path.child("claimName")))]


def _nfs(src: dict, path: Path) -> list[FieldError]:
    errs = [required(str(path.child(f))) for f in ("server", "path") if not src.get(f)]
    if not posixpath.isabs(src.get("path") or ""):
        errs.append(invalid(str(path.child("path")), src.get("path") or "",
                            "must be an absolute path"))
    return errs


def _downward_api(src: dict, path: Path) -> list[FieldError]:
    errs = _mode(src, "defaultMode", path)
    for item in src.get("items") or []:
        # Upstream reports the items' problems without their index.
        errs += _downward_api_file(item, path)
    return errs


def _projected(src: dict, path: Path) -> list[FieldError]:
    errs = _mode(src, "defaultMode", path)
    seen: set[str] = set()
    for i, source in enumerate(src.get("sources") or []):
        src_path = path.child("sources").index(i)
        kinds = [k for k in ("secret", "configMap", "downwardAPI", "serviceAccountToken",
                             "clusterTrustBundle") if source.get(k) is not None]
        for kind in kinds:
            errs += _projection(kind, source[kind], src_path.child(kind), path, seen)
        if len(kinds) > 1:
            errs.append(forbidden(str(src_path),
                                  "may not specify more than 1 volume type per source"))
    return errs


def _projection(kind: str, src: dict, path: Path, projected: Path,
                seen: set[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    if kind in ("secret", "configMap"):
        if not src.get("name"):
            errs.append(required(str(path.child("name"))))
        for i, item in enumerate(src.get("items") or []):
            errs += _key_to_path(item, path.child("items").index(i))
            errs += _unique_path(item.get("path") or "", src.get("name") or "", projected, seen)
    elif kind == "downwardAPI":
        for item in src.get("items") or []:
            errs += _downward_api_file(item, path)
            errs += _unique_path(item.get("path") or "", item.get("path") or "", projected, seen)
    elif kind == "serviceAccountToken":
        seconds = src.get("expirationSeconds") or 0
        if seconds < 600:
            errs.append(invalid(str(path.child("expirationSeconds")), seconds,
                                "may not specify a duration less than 10 minutes"))
        if seconds > 1 << 32:
            errs.append(invalid(str(path.child("expirationSeconds")), seconds,
                                "may not specify a duration larger than 2^32 seconds"))
        if not src.get("path"):
            errs.append(required(str(projected.child("path"))))
        else:
            errs += validate_local_non_reserved_path(src["path"], projected.child("path"))
    return errs


def _unique_path(item_path: str, shown: str, projected: Path, seen: set[str]) -> list[FieldError]:
    if not item_path:
        return []
    if item_path in seen:
        return [invalid(str(projected), shown, "conflicting duplicate paths")]
    seen.add(item_path)
    return []


_SOURCE_CHECKS = {
    "emptyDir": _empty_dir, "hostPath": _host_path, "secret": _secret,
    "configMap": _config_map, "persistentVolumeClaim": _pvc, "nfs": _nfs,
    "downwardAPI": _downward_api, "projected": _projected,
}

# -- shared pieces: file modes, key-to-path items, relative paths ---------------------------


def _mode(src: dict, fld: str, path: Path) -> list[FieldError]:
    mode = src.get(fld)
    if mode is not None and not 0 <= mode <= 0o777:
        return [invalid(str(path.child(fld)), mode, FILE_MODE_ERROR)]
    return []


def _items(src: dict, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, item in enumerate(src.get("items") or []):
        errs += _key_to_path(item, path.child("items").index(i))
    return errs


def _key_to_path(item: dict, path: Path) -> list[FieldError]:
    errs = [required(str(path.child(f))) for f in ("key", "path") if not item.get(f)]
    errs += validate_local_non_reserved_path(item.get("path") or "", path.child("path"))
    return errs + _mode(item, "mode", path)


def _no_backsteps(target: str, path: Path) -> list[FieldError]:
    if ".." in target.replace("\\", "/").split("/"):
        return [invalid(str(path), target, "must not contain '..'")]
    return []


def validate_local_descending_path(target: str, path: Path) -> list[FieldError]:
    """A path that stays below its directory: relative, with no '..' step."""
    errs = []
    if target.startswith("/"):
        errs.append(invalid(str(path), target, "must be a relative path"))
    return errs + _no_backsteps(target, path)


def validate_local_non_reserved_path(target: str, path: Path) -> list[FieldError]:
    errs = validate_local_descending_path(target, path)
    # A name such as "..data" would collide with the files the kubelet writes for updates.
    if target.startswith("..") and not target.startswith("../"):
        errs.append(invalid(str(path), target, "must not start with '..'"))
    return errs


# -- downward API: which pod fields a file or an env var may expose --------------------------

DOWNWARD_FIELD_LABELS = {
    "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
    "metadata.uid", "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName",
    "spec.schedulerName", "status.phase", "status.hostIP", "status.hostIPs", "status.podIP",
    "status.podIPs", "spec.host",
}
VOLUME_FIELD_PATHS = ["metadata.annotations", "metadata.labels", "metadata.name",
                      "metadata.namespace", "metadata.uid"]
ENV_FIELD_PATHS = ["metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                   "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
                   "status.podIPs"]
CONTAINER_RESOURCE_PATHS = ["limits.cpu", "limits.ephemeral-storage", "limits.memory",
                            "requests.cpu", "requests.ephemeral-storage", "requests.memory"]


def _split_subscript(field_path: str) -> tuple[str, str] | None:
    """``metadata.labels['app']`` -> (``metadata.labels``, ``app``)."""
    if not field_path.endswith("']"):
        return None
    base, sep, key = field_path[:-2].partition("['")
    return (base, key) if sep and base else None


def validate_object_field_selector(selector: dict, allowed: list[str],
                                   path: Path) -> list[FieldError]:
    api_version, field_path = selector.get("apiVersion") or "", selector.get("fieldPath") or ""
    if not api_version:
        return [required(str(path.child("apiVersion")))]
    if not field_path:
        return [required(str(path.child("fieldPath")))]
    subscripted = _split_subscript(field_path)
    problem = ""
    if api_version != "v1":
        problem = f"unsupported pod version: {api_version}"
    elif subscripted and subscripted[0] not in ("metadata.annotations", "metadata.labels"):
        problem = f"field label does not support subscript: {field_path}"
    elif not subscripted and field_path not in DOWNWARD_FIELD_LABELS:
        problem = f"field label not supported: {field_path}"
    if problem:
        return [invalid(str(path.child("fieldPath")), field_path,
                        f"error converting fieldPath: {problem}")]
    if subscripted:
        base, key = subscripted
        key = key.lower() if base == "metadata.annotations" else key
        return [invalid(str(path), key, msg) for msg in is_qualified_name(key)]
    field_path = "spec.nodeName" if field_path == "spec.host" else field_path
    if field_path not in allowed:
        return [not_supported(str(path.child("fieldPath")), field_path, sorted(allowed))]
    return []


def validate_resource_field_selector(selector: dict, path: Path, volume: bool) -> list[FieldError]:
    resource = selector.get("resource") or ""
    if volume and not selector.get("containerName"):
        return [required(str(path.child("containerName")))]
    if not resource:
        return [required(str(path.child("resource")))]
    if resource not in CONTAINER_RESOURCE_PATHS and not resource.startswith(
            ("requests.hugepages-", "limits.hugepages-")):
        return [not_supported(str(path.child("resource")), resource, CONTAINER_RESOURCE_PATHS)]
    return []


def _downward_api_file(item: dict, path: Path) -> list[FieldError]:
    errs = [] if item.get("path") else [required(str(path.child("path")))]
    errs += validate_local_non_reserved_path(item.get("path") or "", path.child("path"))
    if item.get("fieldRef") is not None:
        errs += validate_object_field_selector(item["fieldRef"], VOLUME_FIELD_PATHS,
                                               path.child("fieldRef"))
        if item.get("resourceFieldRef") is not None:
            errs.append(invalid(
                str(path), "resource",
                "fieldRef and resourceFieldRef can not be specified simultaneously"))
    elif item.get("resourceFieldRef") is not None:
        errs += validate_resource_field_selector(item["resourceFieldRef"],
                                                 path.child("resourceFieldRef"), volume=True)
    else:
        errs.append(required(str(path), "one of fieldRef and resourceFieldRef is required"))
    return errs + _mode(item, "mode", path)
