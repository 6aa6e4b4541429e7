"""From what the metrics ask for to what the HPA does: stabilization windows and scaling policies.

Where it sits: between the replica calculator (:mod:`.hpa_replicas`, "the metrics call
for 7 pods") and the write to the target's ``/scale`` (:mod:`.hpa`). It remembers,
per HPA, its recent recommendations and recent scale events, as upstream's
``HorizontalController`` does in memory (``recommendations``, ``scaleUpEvents``,
``scaleDownEvents``): a restarted controller starts with a clean slate, as upstream.

Two ways to normalize, as in ``pkg/controller/podautoscaler/horizontal.go``:

* **without** ``spec.behavior``: the largest recommendation of the last
  ``downscale_window`` seconds wins (a scale down waits until every recent
  recommendation agrees), then at most ``max(2 x current, 4)`` on the way up, and
  ``minReplicas``..``maxReplicas``;
* **with** ``spec.behavior``: the recommendation is held between the lowest one of
  the scale-up window and the highest one of the scale-down window
  (``stabilizationWindowSeconds``; the scale-down window defaults to
  ``downscale_window``), then limited by the policies: each ``Pods``/``Percent``
  policy allows a change relative to the replica count at the start of its
  ``periodSeconds``; ``selectPolicy`` ``Max`` takes the most permissive, ``Min`` the
  least, ``Disabled`` none.

Each step reports the reason upstream puts on the HPA's conditions: AbleToScale
(``ScaleUpStabilized``, ``ScaleDownStabilized``, ``ReadyForNewScale``) and
ScalingLimited (``ScaleUpLimit``, ``ScaleDownLimit``, ``TooManyReplicas``,
``TooFewReplicas``, ``DesiredWithinRange``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
from typing import Any

Obj = dict[str, Any]

SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0

# autoscaling/v2 defaulting (pkg/apis/autoscaling/v2/defaults.go), for behaviors the
# API server did not fill in.
DEFAULT_SCALE_UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                 {"type": "Percent", "value": 100, "periodSeconds": 15}]}
DEFAULT_SCALE_DOWN = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}

# ScalingLimited reasons and messages, word for word as upstream sets them.
SCALE_UP_LIMIT = ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
SCALE_DOWN_LIMIT = ("ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")
TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")


@dataclasses.dataclass(frozen=True)
class Normalized:
    replicas: int
    able_reason: str  # AbleToScale (status True)
    able_message: str
    limited: bool  # ScalingLimited status
    limited_reason: str
    limited_message: str


@dataclasses.dataclass
class _Event:
    change: int  # replicas added (scale up) or removed (scale down), always positive
    at: float


class Normalizer:
    """Per-HPA memory of recommendations and scale events, and the rules applied to them. Thread-safe."""

    def __init__(self, downscale_window: float) -> None:
        self.downscale_window = downscale_window
        self._lock = threading.Lock()
        self._recommendations: dict[str, list[tuple[int, float]]] = {}
        self._ups: dict[str, list[_Event]] = {}
        self._downs: dict[str, list[_Event]] = {}

    def forget(self, key: str) -> None:
        with self._lock:
            for memory in (self._recommendations, self._ups, self._downs):
                memory.pop(key, None)

    def record_initial(self, key: str, current: int, now: float) -> None:
        """The first look at an HPA counts the current size as a recommendation, so a new
        HPA does not scale down before its window has passed."""
        with self._lock:
            self._recommendations.setdefault(key, [(current, now)])

    def record_scale(self, key: str, behavior: Obj | None, before: int, after: int, now: float) -> None:
        """Remember a rescale, for the policies' periods (only HPAs with a behavior use them)."""
        if behavior is None or before == after:
            return
        up = after > before
        # Both directions' policies look at both kinds of event, so keep them for the longest period of all.
        longest = max((p.get("periodSeconds", 0) for rules in self._rules(behavior)
                       for p in rules.get("policies") or []), default=0)
        with self._lock:
            events = (self._ups if up else self._downs).setdefault(key, [])
            events[:] = [e for e in events if e.at >= now - longest]  # older ones no longer count
            events.append(_Event(abs(after - before), now))

    # -- without spec.behavior -------------------------------------------------------

    def normalize(self, key: str, current: int, desired: int, min_replicas: int, max_replicas: int,
                  now: float) -> Normalized:
        stabilized = self._stabilize_down(key, desired, now)
        if stabilized != desired:
            able = ("ScaleDownStabilized",
                    "recent recommendations were higher than current one, applying the highest recent recommendation")
        else:
            able = ("ReadyForNewScale", "recommended size matches current size")
        scale_up_limit = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
        if max_replicas > scale_up_limit:
            ceiling, reason = scale_up_limit, SCALE_UP_LIMIT
        else:
            ceiling, reason = max_replicas, TOO_MANY
        if stabilized < min_replicas:
            replicas, reason = min_replicas, TOO_FEW
        elif stabilized > ceiling:
            replicas = ceiling
        else:
            replicas, reason = stabilized, WITHIN_RANGE
        return Normalized(replicas, *able, replicas != stabilized, *reason)

    def _stabilize_down(self, key: str, desired: int, now: float) -> int:
        with self._lock:
            recent = self._recommendations.setdefault(key, [])
            highest = max([desired] + [n for n, at in recent if at > now - self.downscale_window])
            self._store(recent, desired, now, now - self.downscale_window)
        return highest

    # -- with spec.behavior ----------------------------------------------------------

    def normalize_with_behavior(self, key: str, behavior: Obj, current: int, desired: int, min_replicas: int,
                                max_replicas: int, now: float) -> Normalized:
        up_rules, down_rules = self._rules(behavior)
        stabilized = self._stabilize(key, up_rules, down_rules, current, desired, now)
        if stabilized == desired:
            able = ("ReadyForNewScale", "recommended size matches current size")
        elif desired >= current:
            able = ("ScaleUpStabilized",
                    "recent recommendations were lower than current one, applying the lowest recent recommendation")
        else:
            able = ("ScaleDownStabilized",
                    "recent recommendations were higher than current one, applying the highest recent recommendation")
        replicas, reason, message = self._limit_rate(key, up_rules, down_rules, current, stabilized,
                                                     min_replicas, max_replicas, now)
        return Normalized(replicas, *able, replicas != stabilized, reason, message)

    def _rules(self, behavior: Obj) -> tuple[Obj, Obj]:
        up = {**copy.deepcopy(DEFAULT_SCALE_UP), **{k: v for k, v in (behavior.get("scaleUp") or {}).items()
                                                    if v is not None}}
        down = {**copy.deepcopy(DEFAULT_SCALE_DOWN), **{k: v for k, v in (behavior.get("scaleDown") or {}).items()
                                                        if v is not None}}
        down.setdefault("stabilizationWindowSeconds", self.downscale_window)  # upstream's maybeInit...Window
        return up, down

    def _stabilize(self, key: str, up_rules: Obj, down_rules: Obj, current: int, desired: int, now: float) -> int:
        up_cutoff = now - up_rules.get("stabilizationWindowSeconds", 0)
        down_cutoff = now - down_rules.get("stabilizationWindowSeconds", 0)
        with self._lock:
            recent = self._recommendations.setdefault(key, [])
            # Going up needs every recommendation of the up window to agree (the lowest wins);
            # going down, every one of the down window (the highest wins).
            up_to = min([desired] + [n for n, at in recent if at > up_cutoff])
            down_to = max([desired] + [n for n, at in recent if at > down_cutoff])
            self._store(recent, desired, now, min(up_cutoff, down_cutoff))
        return min(max(current, up_to), down_to)

    @staticmethod
    def _store(recent: list[tuple[int, float]], desired: int, now: float, obsolete_before: float) -> None:
        """Keep the unstabilized recommendation; recommendations older than every window go."""
        recent[:] = [(n, at) for n, at in recent if at >= obsolete_before]
        recent.append((desired, now))

    def _limit_rate(self, key: str, up_rules: Obj, down_rules: Obj, current: int, desired: int,
                    min_replicas: int, max_replicas: int, now: float) -> tuple[int, str, str]:
        with self._lock:
            ups, downs = list(self._ups.get(key, [])), list(self._downs.get(key, []))
        if desired > current:
            limit = max(current, _scale_up_limit(current, ups, downs, up_rules, now))
            ceiling, why = (limit, SCALE_UP_LIMIT) if max_replicas > limit else (max_replicas, TOO_MANY)
            if desired > ceiling:
                return ceiling, *why
        elif desired < current:
            limit = min(current, _scale_down_limit(current, ups, downs, down_rules, now))
            floor, why = (limit, SCALE_DOWN_LIMIT) if min_replicas < limit else (min_replicas, TOO_FEW)
            if desired < floor:
                return floor, *why
        return desired, *WITHIN_RANGE


def _changed_within(period: float, events: list[_Event], now: float) -> int:
    return sum(e.change for e in events if e.at > now - period)


def _period_start(current: int, ups: list[_Event], downs: list[_Event], period: float, now: float) -> int:
    """The replica count at the start of a policy's period, undoing the changes made since."""
    return current - _changed_within(period, ups, now) + _changed_within(period, downs, now)


def _scale_up_limit(current: int, ups: list[_Event], downs: list[_Event], rules: Obj, now: float) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    proposals = []
    for policy in rules.get("policies") or []:
        start = _period_start(current, ups, downs, policy.get("periodSeconds", 0), now)
        if policy.get("type") == "Pods":
            proposals.append(start + policy.get("value", 0))
        else:  # Percent, rounded up so that a small count can still grow
            proposals.append(math.ceil(start * (1 + policy.get("value", 0) / 100)))
    if not proposals:
        return current
    return min(proposals) if select == "Min" else max(proposals)


def _scale_down_limit(current: int, ups: list[_Event], downs: list[_Event], rules: Obj, now: float) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    proposals = []
    for policy in rules.get("policies") or []:
        start = _period_start(current, ups, downs, policy.get("periodSeconds", 0), now)
        if policy.get("type") == "Pods":
            proposals.append(start - policy.get("value", 0))
        else:  # Percent, truncated as upstream's int32() conversion does
            proposals.append(int(start * (1 - policy.get("value", 0) / 100)))
    if not proposals:
        return current
    # Scaling down, the "Max" policy is the one allowing the lowest count.
    return max(proposals) if select == "Min" else min(proposals)
