"""Resource arithmetic for the scheduler: quantities, and what a pod asks of a node.

Where it sits: under every plugin that counts (NodeResourcesFit's filter and its
scores) and under the cache, which keeps per node the sum of its pods' requests.
Pure functions on the JSON the API defines; nothing here talks to the cluster.

What it promises, as upstream computes it (``k8s.io/component-helpers/resource``
``PodRequests`` and the scheduler's ``framework.Resource``):

* a quantity string ("100m", "1.5", "128Mi", "1e3", "2Gi") is read exactly; cpu is
  counted in millicores (``MilliValue``), everything else in whole units
  (``Value``), both rounded up, as Go's ``resource.Quantity`` does;
* a pod's request is the sum of its containers, or the largest init container if
  that is bigger (init containers run one at a time); sidecars (init containers with
  ``restartPolicy: Always``) keep running, so they add to everything after them;
  ``spec.overhead`` is added on top;
* for *scoring* only, a container that states no cpu or memory request counts as
  100m / 200Mi (upstream's "non-zero" requests), so that a node full of pods without
  requests does not look empty;
* only resources the scheduler tracks are kept: cpu, memory, ephemeral-storage,
  pods, hugepages-*, and extended resources ("example.com/gpu").
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

Resources = dict[str, int]  # name -> amount; cpu in millicores, the rest in whole units

CPU, MEMORY, EPHEMERAL_STORAGE, PODS = "cpu", "memory", "ephemeral-storage", "pods"
DEFAULT_MILLI_CPU_REQUEST = 100                 # 0.1 core
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024      # 200 MiB

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
            "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
            "P": Fraction(10**15), "E": Fraction(10**18)}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity (the API server should have refused it)."""


def parse_quantity(value: Any) -> Fraction:
    """"250m" -> 1/4, "1Gi" -> 1073741824, 2 -> 2 (numbers are accepted as they are)."""
    if isinstance(value, bool):
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(str(value))
    m = _QUANTITY.match(str(value).strip())
    if not m:
        raise QuantityError(f"not a quantity: {value!r}")
    number, exponent, suffix = Fraction(m.group(1)), m.group(2), m.group(3) or ""
    if exponent:
        return number * Fraction(10) ** int(exponent[1:])
    return number * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


def amount(name: str, value: Any) -> int:
    """The integer the scheduler counts with: millicores for cpu, whole units otherwise."""
    q = parse_quantity(value)
    return math.ceil(q * 1000) if name == CPU else math.ceil(q)


def is_tracked(name: str) -> bool:
    """Resources NodeResourcesFit checks; others (a bare "foo") are ignored, as upstream does."""
    if name in (CPU, MEMORY, EPHEMERAL_STORAGE, PODS) or name.startswith("hugepages-"):
        return True
    # An extended resource has a domain that is not kubernetes.io ("nvidia.com/gpu").
    return "/" in name and not name.startswith(("kubernetes.io/", "requests."))


def resource_list(rl: dict[str, Any] | None) -> Resources:
    """A ResourceList (``requests``, ``allocatable``, ...) as integer amounts of tracked resources."""
    out: Resources = {}
    for name, value in (rl or {}).items():
        if is_tracked(name):
            try:
                out[name] = amount(name, value)
            except QuantityError:
                continue  # validation keeps these out; a bad one must not stop scheduling
    return out


def add(into: Resources, more: Resources) -> None:
    for name, value in more.items():
        into[name] = into.get(name, 0) + value


def subtract(into: Resources, less: Resources) -> None:
    for name, value in less.items():
        into[name] = into.get(name, 0) - value


def _maximum(into: Resources, other: Resources) -> None:
    for name, value in other.items():
        if value > into.get(name, 0):
            into[name] = value


def _container_requests(container: dict[str, Any], non_zero: bool) -> Resources:
    requests = resource_list((container.get("resources") or {}).get("requests"))
    if non_zero:
        # Missing (not zero) cpu/memory requests count as the defaults, for scoring only.
        requests.setdefault(CPU, DEFAULT_MILLI_CPU_REQUEST)
        requests.setdefault(MEMORY, DEFAULT_MEMORY_REQUEST)
    return requests


def pod_requests(pod: dict[str, Any], *, non_zero: bool = False) -> Resources:
    """What the pod needs from a node (upstream's ``PodRequests``).

    Example: init containers IC1 {cpu 2, memory 1G}, IC2 {cpu 2, memory 3G};
    containers C1 {cpu 2, memory 1G}, C2 {cpu 1, memory 1G} -> {cpu 3, memory 3G}.
    """
    spec = pod.get("spec") or {}
    total: Resources = {}
    for container in spec.get("containers") or []:
        add(total, _container_requests(container, non_zero))
    sidecars: Resources = {}       # restartable init containers started so far
    init_peak: Resources = {}      # the most any moment of the init phase needs
    for container in spec.get("initContainers") or []:
        requests = _container_requests(container, non_zero)
        if container.get("restartPolicy") == "Always":
            # A sidecar keeps running next to the app containers and to later init containers.
            add(total, requests)
            add(sidecars, requests)
            moment = dict(sidecars)
        else:
            moment = dict(requests)
            add(moment, sidecars)
        _maximum(init_peak, moment)
    _maximum(total, init_peak)
    add(total, resource_list(spec.get("overhead")))
    if non_zero:
        return {k: total.get(k, 0) for k in (CPU, MEMORY)}
    return {k: v for k, v in total.items() if v}


def host_ports(pod: dict[str, Any]) -> tuple[tuple[str, str, int], ...]:
    """The (hostIP, protocol, hostPort) triples the pod would take on its node.

    Containers and sidecars count (they run for the pod's life); ``hostIP`` defaults
    to 0.0.0.0 (every address) and ``protocol`` to TCP, as the API defaults them.
    """
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or [])
    containers += [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    ports = []
    for container in containers:
        for port in container.get("ports") or []:
            number = port.get("hostPort") or 0
            if isinstance(number, int) and number > 0:
                ports.append((port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP", number))
    return tuple(ports)


def ports_conflict(used: frozenset[tuple[str, str, int]] | set[tuple[str, str, int]],
                   wanted: tuple[str, str, int]) -> bool:
    """Whether ``wanted`` clashes with a port in use: same protocol and port, and the
    same address or either side bound to every address (0.0.0.0)."""
    ip, protocol, port = wanted
    if ip == "0.0.0.0":
        return any(p == port and proto == protocol for _, proto, p in used)
    return (ip, protocol, port) in used or ("0.0.0.0", protocol, port) in used
