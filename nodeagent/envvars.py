"""A container's environment and command line, built as kubelet builds them.

Where it sits: the pod sync calls :func:`make_environment` and :func:`expand_command`
just before it starts a container (so a ConfigMap edited later changes nothing until the
next start, as in Kubernetes). Objects it reads (ConfigMaps, Secrets, Services) come
from an :class:`ObjectSource`: the agent's informer caches, or a fake in tests.

The order is upstream's (``makeEnvironmentVariables``):

1. service variables (``<NAME>_SERVICE_HOST``, ``_SERVICE_PORT``, the Docker-link
   ``_PORT_*`` set) for the services of the pod's namespace (unless
   ``enableServiceLinks: false``) and always for ``default/kubernetes``;
2. ``envFrom``: every key of a ConfigMap or Secret, with an optional prefix, *not*
   expanded; keys that cannot be variable names are skipped (and reported);
3. ``env`` in order: ``value`` with ``$(VAR)`` expanded against what is defined so far
   (then the service variables), or ``valueFrom``;
4. service variables that nothing above overrode.

``$(VAR)`` expansion (:func:`expand`) follows ``third_party/forked/golang/expansion``:
``$$`` is a literal ``$``, an undefined ``$(NAME)`` is left as it is, an unclosed ``$(``
is left as it is.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from . import downward

Obj = dict[str, Any]


class ConfigError(Exception):
    """The container cannot be configured; kubelet shows it as ``CreateContainerConfigError``
    with this message (e.g. ``configmap "app" not found``)."""


class ObjectSource(Protocol):
    def configmap(self, namespace: str, name: str) -> Obj | None: ...
    def secret(self, namespace: str, name: str) -> Obj | None: ...
    def services(self) -> list[Obj]: ...


# -- $(VAR) expansion ---------------------------------------------------------------


def expand(text: str, *mappings: Mapping[str, str]) -> str:
    """Expand ``$(VAR)`` references in ``text`` from the first mapping that has VAR."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":  # "$$" escapes the operator
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:  # incomplete reference: keep "$(" and go on after it
                out.append("$(")
                i += 2
                continue
            name = text[i + 2:close]
            out.append(next((m[name] for m in mappings if name in m), f"$({name})"))
            i = close + 1
        else:  # a "$" that starts nothing is itself
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def expand_command(container: Obj, env: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """``command`` and ``args`` with ``$(VAR)`` expanded from the container's environment."""
    command = [expand(str(c), env) for c in container.get("command") or []]
    args = [expand(str(a), env) for a in container.get("args") or []]
    return command, args


# -- service links ------------------------------------------------------------------


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def service_variables(services: list[Obj], namespace: str, enable_service_links: bool) -> dict[str, str]:
    """Upstream's ``getServiceEnvVarMap`` + ``envvars.FromServices``."""
    chosen: dict[str, Obj] = {}
    for svc in services:
        meta = svc.get("metadata") or {}
        ip = (svc.get("spec") or {}).get("clusterIP") or ""
        if not ip or ip == "None":
            continue
        if meta.get("namespace") == "default" and meta.get("name") == "kubernetes":
            chosen.setdefault(meta["name"], svc)
        if meta.get("namespace") == namespace and enable_service_links:
            chosen[meta["name"]] = svc  # the pod's own namespace wins over the master service
    result: dict[str, str] = {}
    for name, svc in sorted(chosen.items()):
        spec = svc.get("spec") or {}
        ports = spec.get("ports") or []
        if not ports:
            continue
        ip, prefix = spec["clusterIP"], _env_name(name)
        result[f"{prefix}_SERVICE_HOST"] = ip
        result[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if port.get("name"):
                result[f"{prefix}_SERVICE_PORT_{_env_name(port['name'])}"] = str(port["port"])
        for i, port in enumerate(ports):
            proto = (port.get("protocol") or "TCP").lower()
            host_port = f"[{ip}]:{port['port']}" if ":" in ip else f"{ip}:{port['port']}"
            if i == 0:
                result[f"{prefix}_PORT"] = f"{proto}://{host_port}"
            pp = f"{prefix}_PORT_{port['port']}_{proto.upper()}"
            result[pp] = f"{proto}://{host_port}"
            result[f"{pp}_PROTO"] = proto
            result[f"{pp}_PORT"] = str(port["port"])
            result[f"{pp}_ADDR"] = ip
    return result


# -- the environment ----------------------------------------------------------------


def valid_env_name(name: str) -> bool:
    """Any printable ASCII but ``=`` (1.33's relaxed environment variable validation)."""
    return bool(name) and all(32 <= ord(c) < 127 for c in name) and "=" not in name


def _object_data(obj: Obj, secret: bool) -> dict[str, str]:
    if secret:
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
    data = dict(obj.get("data") or {})
    for k, v in (obj.get("binaryData") or {}).items():
        data.setdefault(k, base64.b64decode(v).decode(errors="replace"))
    return data


def make_environment(pod: Obj, container: Obj, source: ObjectSource, *, pod_ip: str = "", host_ip: str = "",
                     allocatable: dict[str, str] | None = None,
                     warn: Callable[[str], None] = lambda message: None) -> dict[str, str]:
    """The container's environment variables, in upstream order. Raises :class:`ConfigError`."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    namespace = meta.get("namespace") or "default"
    links = spec.get("enableServiceLinks")
    services = service_variables(source.services(), namespace, links is None or bool(links))
    env: dict[str, str] = {}

    invalid: list[str] = []
    for ref in container.get("envFrom") or []:
        prefix = ref.get("prefix") or ""
        is_secret = "secretRef" in ref
        target = ref.get("secretRef") if is_secret else ref.get("configMapRef")
        if not target:
            continue
        obj = (source.secret if is_secret else source.configmap)(namespace, target.get("name", ""))
        if obj is None:
            if target.get("optional"):
                continue
            raise ConfigError(f'{"secret" if is_secret else "configmap"} "{target.get("name")}" not found')
        for key, value in _object_data(obj, is_secret).items():
            name = prefix + key
            if not valid_env_name(name):
                invalid.append(name)
                continue
            env[name] = value
    if invalid:
        warn(f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom were skipped since they are "
             f"invalid environment variable names.")

    for var in container.get("env") or []:
        name = var.get("name", "")
        if var.get("valueFrom"):
            value = _value_from(pod, container, var["valueFrom"], source, namespace, pod_ip, host_ip,
                                allocatable or {})
            if value is None:  # an optional reference to something missing: no variable
                continue
            env[name] = value
        else:
            env[name] = expand(str(var.get("value") or ""), env, services)

    for name, value in services.items():
        env.setdefault(name, value)
    return env


def _value_from(pod: Obj, container: Obj, source_spec: Obj, source: ObjectSource, namespace: str,
                pod_ip: str, host_ip: str, allocatable: dict[str, str]) -> str | None:
    if "fieldRef" in source_spec:
        try:
            return downward.field_value(pod, source_spec["fieldRef"].get("fieldPath", ""),
                                        pod_ip=pod_ip, host_ip=host_ip)
        except downward.FieldError as e:
            raise ConfigError(str(e)) from None
    if "resourceFieldRef" in source_spec:
        ref = source_spec["resourceFieldRef"]
        try:
            return downward.resource_value(pod, ref.get("containerName") or container.get("name", ""),
                                           ref.get("resource", ""), ref.get("divisor"), allocatable)
        except (downward.FieldError, ValueError) as e:
            raise ConfigError(str(e)) from None
    for field, kind, getter, label in (("configMapKeyRef", "configmap", source.configmap, "ConfigMap"),
                                       ("secretKeyRef", "secret", source.secret, "Secret")):
        if field not in source_spec:
            continue
        ref = source_spec[field]
        name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
        obj = getter(namespace, name)
        if obj is None:
            if optional:
                return None
            raise ConfigError(f'{kind} "{name}" not found')
        data = _object_data(obj, kind == "secret")
        if key not in data:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {key} in {label} {namespace}/{name}")
        return data[key]
    raise ConfigError("valueFrom names no source this node agent knows (fieldRef, resourceFieldRef, "
                      "configMapKeyRef, secretKeyRef)")
