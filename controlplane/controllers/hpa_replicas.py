"""How many replicas the metrics call for: the HPA's replica calculator.

Where it sits: the horizontal pod autoscaler (:mod:`.hpa`) reads the target's pods
from its cache and their usage from ``metrics.k8s.io`` (served by the API server from
the node agents' ``/stats/summary``), then asks this module for a number. Nothing here
does I/O; it follows upstream's ``pkg/controller/podautoscaler/replica_calculator.go``
and ``metrics/utilization.go``:

* **utilization** (``averageUtilization``): usage summed over the pods with metrics,
  divided by the sum of their requests, as a whole percentage; ratio = that / target;
* **average value** (``averageValue``): mean usage per pod; ratio = that / target;
* within the **tolerance** (|1 - ratio| <= 0.1) nothing changes; otherwise
  ``ceil(ratio * ready pods)``;
* pods are **grouped** first: terminating and failed pods are ignored; Pending pods
  count as unready; pods without a metric are "missing"; for CPU, a pod that is not
  Ready yet, or whose sample predates its readiness, counts as unready (its start-up
  burst would mislead);
* then, if some pods were missing or unready, the ratio is computed **again** with
  the missing pods assumed at 100% of their request (scale down) or 0% (scale up),
  and unready pods at 0% on a scale up; if that flips the direction, or lands within
  the tolerance, nothing changes. This is how the HPA avoids scaling up because of
  pods that simply have no numbers yet.

Values are kept as integers of thousandths ("milli-values"), as upstream does.
"""

from __future__ import annotations

import dataclasses
import math
import re
from fractions import Fraction
from typing import Any

from .nodelifecycle_taints import condition, parse_time

Obj = dict[str, Any]

TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = 300.0  # --horizontal-pod-autoscaler-cpu-initialization-period
INITIAL_READINESS_DELAY = 30.0  # --horizontal-pod-autoscaler-initial-readiness-delay


class ReplicaError(Exception):
    """The metrics (or pods) do not allow a recommendation; the message says why, in upstream's words."""


@dataclasses.dataclass(frozen=True)
class PodMetric:
    value: int  # milli-units: millicores, or thousandths of a byte
    timestamp: float
    window: float


# -- quantities -----------------------------------------------------------------------------

_SUFFIXES = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
             "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
             "P": Fraction(10**15), "E": Fraction(10**18), "Ki": Fraction(2**10), "Mi": Fraction(2**20),
             "Gi": Fraction(2**30), "Ti": Fraction(2**40), "Pi": Fraction(2**50), "Ei": Fraction(2**60)}
_QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?")


def milli_value(quantity: Any) -> int:
    """A ``resource.Quantity`` ("250m", "1.5", "64Mi", "12345n") in thousandths, rounded up
    as Quantity.MilliValue() does."""
    match = _QUANTITY.fullmatch(str(quantity).strip())
    if match is None:
        raise ValueError(f"quantities must match the regular expression '{_QUANTITY.pattern}': {quantity!r}")
    number = Fraction(match[1]) * Fraction(10) ** int(match[2] or 0) * _SUFFIXES[match[3] or ""]
    return math.ceil(number * 1000)


def format_milli(milli: int) -> str:
    """A milli-value as the canonical DecimalSI quantity: 250 -> "250m", 2000 -> "2", 3000000 -> "3k"."""
    if milli % 1000:
        return f"{milli}m"
    value, suffixes = milli // 1000, ["", "k", "M", "G", "T", "P", "E"]
    step = 0
    while value and value % 1000 == 0 and step < len(suffixes) - 1:
        value //= 1000
        step += 1
    return f"{value}{suffixes[step]}"


# -- label selectors (the string form a Scale's status.selector carries) -------------------

_SET = re.compile(r"\s*([A-Za-z0-9._/-]+)\s+(in|notin)\s+\(([^)]*)\)\s*")
_NOT_EXISTS = re.compile(r"\s*!\s*([A-Za-z0-9._/-]+)\s*")
_EQUALITY = re.compile(r"\s*([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*")
_EXISTS = re.compile(r"\s*([A-Za-z0-9._/-]+)\s*")

Requirement = tuple[str, str, frozenset[str]]  # (key, operator, values)


def parse_selector(text: str) -> list[Requirement]:
    """``app=web,tier in (a,b),!canary`` -> requirements; ValueError if it is not a selector."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    requirements: list[Requirement] = []
    for term in terms:
        if m := _SET.fullmatch(term):
            values = frozenset(v.strip() for v in m[3].split(",") if v.strip())
            requirements.append((m[1], m[2], values))
        elif m := _NOT_EXISTS.fullmatch(term):
            requirements.append((m[1], "!", frozenset()))
        elif m := _EQUALITY.fullmatch(term):
            requirements.append((m[1], "!=" if m[2] == "!=" else "=", frozenset({m[3]})))
        elif m := _EXISTS.fullmatch(term):
            requirements.append((m[1], "exists", frozenset()))
        else:
            raise ValueError(f"unable to parse requirement: {term.strip()!r}")
    return requirements


def selector_matches(requirements: list[Requirement], labels: dict[str, str]) -> bool:
    for key, op, values in requirements:
        present = key in labels
        if op in ("=", "in") and not (present and labels[key] in values):
            return False
        if op in ("!=", "notin") and present and labels[key] in values:
            return False
        if (op == "exists" and not present) or (op == "!" and present):
            return False
    return True


# -- metrics as the API serves them ----------------------------------------------------------


def pod_metrics(items: list[Obj], resource: str, container: str = "") -> dict[str, PodMetric]:
    """Pod name -> usage of ``resource`` from PodMetrics items (upstream's getPodMetrics):
    summed over the containers, or the one ``container``; a pod lacking the number
    for any container it reports is left out (it will count as "missing")."""
    found: dict[str, PodMetric] = {}
    for item in items:
        containers = [c for c in item.get("containers") or [] if not container or c.get("name") == container]
        usages = [(c.get("usage") or {}).get(resource) for c in containers]
        if not usages or any(u is None for u in usages):
            continue
        found[(item.get("metadata") or {}).get("name", "")] = PodMetric(
            value=sum(milli_value(u) for u in usages), timestamp=parse_time(item.get("timestamp")) or 0.0,
            window=_seconds(item.get("window")))
    return found


def _seconds(duration: Any) -> float:
    """A Go duration as metrics-server writes it ("15s", "1m0s", "10.5s") in seconds."""
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(ms|h|m|s)", str(duration or "")):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


# -- the calculator ---------------------------------------------------------------------------


@dataclasses.dataclass
class ReplicaCalculator:
    tolerance: float = TOLERANCE
    cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD
    initial_readiness_delay: float = INITIAL_READINESS_DELAY

    def utilization_replicas(self, current: int, target: int, resource: str, pods: list[Obj],
                             metrics: dict[str, PodMetric], now: float,
                             container: str = "") -> tuple[int, int, int]:
        """(replicas, utilization %, average usage in milli-units) for an averageUtilization target."""
        if not pods:
            raise ReplicaError("no pods returned by selector while calculating replica count")
        values = {name: m.value for name, m in metrics.items()}
        ready, unready, missing, ignored = self.group_pods(pods, metrics, resource, now)
        for name in ignored | unready:
            values.pop(name, None)
        if not values:
            raise ReplicaError("did not receive metrics for targeted pods (pods might be unready)")
        requests = pod_requests(pods, resource, container)
        ratio, utilization, raw = utilization_ratio(values, requests, target)
        scale_up_with_unready = bool(unready) and ratio > 1.0
        if not scale_up_with_unready and not missing:
            if abs(1.0 - ratio) <= self.tolerance:
                return current, utilization, raw
            return math.ceil(ratio * ready), utilization, raw
        if missing:
            # On a scale down, pods without numbers are assumed busy (at least at target);
            # on a scale up, idle: either way they argue against the move.
            fallback = max(100, target)
            for name in missing:
                if ratio != 1.0:
                    values[name] = requests[name] * fallback // 100 if ratio < 1.0 else 0
        if scale_up_with_unready:
            for name in unready:
                values[name] = 0
        new_ratio, _, _ = utilization_ratio(values, requests, target)
        return self._rebalanced(current, ratio, new_ratio, len(values)), utilization, raw

    def value_replicas(self, current: int, target_milli: int, resource: str, pods: list[Obj],
                       metrics: dict[str, PodMetric], now: float) -> tuple[int, int]:
        """(replicas, average usage in milli-units) for an averageValue target."""
        if not pods:
            raise ReplicaError("no pods returned by selector while calculating replica count")
        values = {name: m.value for name, m in metrics.items()}
        ready, unready, missing, ignored = self.group_pods(pods, metrics, resource, now)
        for name in ignored | unready:
            values.pop(name, None)
        if not values:
            raise ReplicaError("did not receive metrics for targeted pods (pods might be unready)")
        ratio, usage = usage_ratio(values, target_milli)
        scale_up_with_unready = bool(unready) and ratio > 1.0
        if not scale_up_with_unready and not missing:
            if abs(1.0 - ratio) <= self.tolerance:
                return current, usage
            return math.ceil(ratio * ready), usage
        for name in missing:
            if ratio != 1.0:
                values[name] = target_milli if ratio < 1.0 else 0
        if scale_up_with_unready:
            for name in unready:
                values[name] = 0
        new_ratio, _ = usage_ratio(values, target_milli)
        return self._rebalanced(current, ratio, new_ratio, len(values)), usage

    def _rebalanced(self, current: int, ratio: float, new_ratio: float, counted: int) -> int:
        if abs(1.0 - new_ratio) <= self.tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
            return current  # too small a change, or the assumptions flipped the direction
        replicas = math.ceil(new_ratio * counted)
        if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
            return current  # counting the extra pods would move the other way
        return replicas

    def group_pods(self, pods: list[Obj], metrics: dict[str, PodMetric], resource: str,
                   now: float) -> tuple[int, set[str], set[str], set[str]]:
        """(ready count, unready, missing, ignored) pod names (upstream's groupPods)."""
        ready, unready, missing, ignored = 0, set(), set(), set()
        for pod in pods:
            name = pod["metadata"]["name"]
            phase = (pod.get("status") or {}).get("phase")
            if pod["metadata"].get("deletionTimestamp") or phase == "Failed":
                ignored.add(name)
            elif phase == "Pending":
                unready.add(name)
            elif name not in metrics:
                missing.add(name)
            elif resource == "cpu" and self._cpu_unready(pod, metrics[name], now):
                unready.add(name)
            else:
                ready += 1
        return ready, unready, missing, ignored

    def _cpu_unready(self, pod: Obj, metric: PodMetric, now: float) -> bool:
        cond = condition(pod, "Ready")
        started = parse_time((pod.get("status") or {}).get("startTime"))
        if cond is None or started is None:
            return True
        transition = parse_time(cond.get("lastTransitionTime")) or 0.0
        if started + self.cpu_initialization_period > now:
            # Still starting: skip it if not Ready, or if the sample began before it became Ready.
            return cond.get("status") == "False" or metric.timestamp < transition + metric.window
        # Started long ago: skip it only if it has never been Ready.
        return cond.get("status") == "False" and started + self.initial_readiness_delay > transition


def pod_requests(pods: list[Obj], resource: str, container: str = "") -> dict[str, int]:
    """Pod name -> its request of ``resource`` (milli), over its containers and its
    restartable ("sidecar") init containers; every one of them must have a request."""
    requests = {}
    for pod in pods:
        spec = pod.get("spec") or {}
        containers = list(spec.get("containers") or []) + [
            c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
        total = 0
        for c in containers:
            if container and c.get("name") != container:
                continue
            request = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if request is None:
                raise ReplicaError(f"missing request for {resource} in container {c.get('name')} "
                                   f"of Pod {pod['metadata']['name']}")
            total += milli_value(request)
        requests[pod["metadata"]["name"]] = total
    return requests


def utilization_ratio(values: dict[str, int], requests: dict[str, int], target: int) -> tuple[float, int, int]:
    """(usage ratio, utilization %, average usage) over the pods with both a value and a request."""
    used = [(v, requests[name]) for name, v in values.items() if name in requests]
    total_requests = sum(req for _, req in used)
    if total_requests == 0:
        raise ReplicaError("no metrics returned matched known pods")
    total = sum(v for v, _ in used)
    utilization = total * 100 // total_requests
    return utilization / target, utilization, total // len(used)


def usage_ratio(values: dict[str, int], target_milli: int) -> tuple[float, int]:
    usage = sum(values.values()) // len(values)
    return usage / target_milli, usage
