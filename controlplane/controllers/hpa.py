"""The horizontal pod autoscaler: sizes a workload from its pods' CPU and memory use.

Where it sits: in the controller manager, following HorizontalPodAutoscalers
(autoscaling/v2) and Pods through informers. The numbers come from the resource
metrics API, ``metrics.k8s.io/v1beta1``, which the API server serves from the node
agents' ``/stats/summary`` (as metrics-server does in a real cluster; ``kubectl top``
reads the same). Upstream: ``pkg/controller/podautoscaler/horizontal.go``.

``reconcile("ns/name")``, every ``sync_period`` (15 s, upstream's
``--horizontal-pod-autoscaler-sync-period``) and at once when an HPA is created or
its spec changes:

1. read the target's **scale** through its ``/scale`` subresource (any kind that has
   one: Deployment, ReplicaSet, StatefulSet, a custom resource): replicas, and the
   pod selector in ``status.selector``;
2. read the **metrics** of those pods: ``GET /apis/metrics.k8s.io/v1beta1/namespaces/
   <ns>/pods?labelSelector=...``; for each metric of the spec (``Resource`` or
   ``ContainerResource``: ``cpu``/``memory``, ``averageUtilization`` of the requests or
   ``averageValue``) ask the replica calculator (:mod:`.hpa_replicas`); the largest
   proposal wins;
3. **normalize** it (:mod:`.hpa_behavior`): stabilization windows, scaling policies,
   ``minReplicas``/``maxReplicas``;
4. if it differs, ``PATCH <target>/scale`` and a ``SuccessfulRescale`` event ("New size:
   4; reason: cpu resource utilization (percentage of request) above target");
5. write **status**: ``currentReplicas``, ``desiredReplicas``, ``currentMetrics``,
   ``lastScaleTime`` and the conditions ``AbleToScale``, ``ScalingActive``,
   ``ScalingLimited`` with upstream's reasons (``kubectl describe hpa`` shows them).

Failures are told the way upstream tells them (a Warning event and a condition), then
the HPA is looked at again next period: an HPA is never retried faster than that.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable
from typing import Any

from ..client import errors
from ..client import informer as informers
from ..client import resources as r
from ..client.cache import NAMESPACE_INDEX, index_by_namespace
from ..client.discovery import CachedDiscovery
from ..client.events import NORMAL, WARNING, EventRecorder, Recorder
from ..client.resources import split_api_version, split_key
from ..client.rest import Client
from .base import Controller, RequeueAfter, meta
from .context import Context
from .hpa_behavior import Normalizer
from .hpa_replicas import (
    PodMetric,
    ReplicaCalculator,
    ReplicaError,
    Requirement,
    format_milli,
    milli_value,
    parse_selector,
    pod_metrics,
    selector_matches,
)
from .nodelifecycle_taints import format_time

log = logging.getLogger(__name__)

Obj = dict[str, Any]

COMPONENT = "horizontal-pod-autoscaler"
HPAS = r.Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
                  verbs=frozenset({"get", "list", "watch", "update", "patch"}))
POD_METRICS = r.Resource("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", verbs=frozenset({"get", "list"}))

SYNC_PERIOD = 15.0
# How long a scale down waits for every recent recommendation to agree, when the HPA's
# behavior does not say: upstream's --horizontal-pod-autoscaler-downscale-stabilization
# (5 minutes); the timing profile decides (profiles.py).
DOWNSCALE_STABILIZATION = 300.0
DEFAULT_METRICS = [{"type": "Resource", "resource": {
    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]  # autoscaling/v2 defaulting
UNSUPPORTED_SOURCES = {"Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric",
                       "External": "FailedGetExternalMetric"}


class Reported(Exception):
    """A failure already told on the HPA (event and condition); look again next period."""


class MetricError(Exception):
    """One metric gave no proposal; ``reason`` and ``condition_message`` go on ScalingActive."""

    def __init__(self, message: str, reason: str, condition_message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.condition_message = condition_message


class HorizontalPodAutoscalerController(Controller):
    name = "horizontalpodautoscaling"

    def __init__(self, client: Client, factory: informers.InformerFactory, discovery: CachedDiscovery, *,
                 recorder: Recorder | None = None, clock: Callable[[], float] = time.time, workers: int = 1,
                 sync_period: float = SYNC_PERIOD, downscale_window: float = DOWNSCALE_STABILIZATION,
                 calculator: ReplicaCalculator | None = None) -> None:
        super().__init__(workers=workers)
        self.client = client
        self.discovery = discovery
        self.recorder: Recorder = recorder or EventRecorder(client, COMPONENT)
        self.clock = clock
        self.sync_period = sync_period
        self.normalizer = Normalizer(downscale_window)
        self.calculator = calculator or ReplicaCalculator()
        self.hpas = factory.informer(HPAS)
        self.pods = factory.informer(r.PODS)
        with contextlib.suppress(ValueError):  # a controller sharing this informer indexed it already
            self.pods.cache.add_indexers({NAMESPACE_INDEX: index_by_namespace})
        self.informers = [self.hpas, self.pods]
        self._selectors: dict[str, list[Requirement]] = {}  # HPA key -> its target's selector, last seen
        self.hpas.add_event_handler(on_add=self._changed, on_update=self._updated, on_delete=self._changed)

    def _changed(self, hpa: Obj) -> None:
        self.enqueue(f"{meta(hpa).get('namespace', '')}/{meta(hpa).get('name', '')}")

    def _updated(self, old: Obj, new: Obj) -> None:
        if old.get("spec") != new.get("spec"):  # our own status writes are no news
            self._changed(new)

    def stop(self) -> None:
        super().stop()
        self.recorder.stop()

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: str) -> None:
        cached = self.hpas.cache.get(key)
        if cached is None:
            self.normalizer.forget(key)
            self._selectors.pop(key, None)
            return
        try:
            self.reconcile_autoscaler(copy.deepcopy(cached), key)
        except (Reported, errors.ApiError, errors.ServerUnavailable) as e:
            log.warning("%s: %s: %s", self.name, key, " ".join(str(e).split()))
        raise RequeueAfter(self.sync_period, f"next look at {key}")

    def reconcile_autoscaler(self, hpa: Obj, key: str) -> None:
        """One sync of ``hpa`` (a copy: it is changed in place), upstream's reconcileAutoscaler."""
        now = self.clock()
        original = copy.deepcopy(hpa.get("status") or {})
        hpa["status"] = copy.deepcopy(original)
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        namespace = meta(hpa).get("namespace", "")
        reference = f"{ref.get('kind')}/{namespace}/{ref.get('name')}"

        try:
            target = self._target_resource(ref)
            scale = self.client.get(target, ref.get("name", ""), namespace, subresource="scale")
        except (LookupError, errors.ApiError) as e:
            why = e.message if isinstance(e, errors.ApiError) else str(e)
            self.recorder.event(hpa, WARNING, "FailedGetScale", why)
            self._condition(hpa, "AbleToScale", "False", "FailedGetScale",
                            f"the HPA controller was unable to get the target's current scale: {why}", now)
            self._write_status(hpa, original)
            raise Reported(f"failed to query scale subresource for {reference}: {why}") from e
        self._condition(hpa, "AbleToScale", "True", "SucceededGetScale",
                        "the HPA controller was able to get the target's current scale", now)
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        self.normalizer.record_initial(key, current, now)
        min_replicas = int(spec.get("minReplicas", 1))
        max_replicas = int(spec.get("maxReplicas", 0))

        statuses: list[Obj] | None = None
        reason, rescale, desired, failure = "", True, 0, None
        if current == 0 and min_replicas != 0:
            rescale = False  # someone scaled the target to zero: the HPA stands aside
            self._condition(hpa, "ScalingActive", "False", "ScalingDisabled",
                            "scaling is disabled since the replica count of the target is zero", now)
        elif current > max_replicas:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", max_replicas
        elif current < min_replicas:
            reason, desired = "Current number of replicas below Spec.MinReplicas", min_replicas
        else:
            proposal, metric, statuses, failure = self.compute_replicas_for_metrics(hpa, key, scale, now)
            if proposal == -1:
                self._set_status(hpa, current, hpa["status"].get("desiredReplicas", 0), statuses, False, now)
                self._write_status(hpa, original)
                self.recorder.event(hpa, WARNING, "FailedComputeMetricsReplicas", failure or "")
                raise Reported(f"failed to compute desired number of replicas based on listed metrics for "
                               f"{reference}: {failure}")
            desired = proposal
            if desired > current:
                reason = f"{metric} above target"
            elif desired < current:
                reason = "All metrics below target"
            desired = self._normalize(hpa, key, current, desired, min_replicas, max_replicas, now)
            rescale = desired != current

        if rescale:
            try:
                self.client.patch(target, ref.get("name", ""), {"spec": {"replicas": desired}}, namespace,
                                  subresource="scale")
            except errors.ApiError as e:
                self.recorder.event(hpa, WARNING, "FailedRescale",
                                    f"New size: {desired}; reason: {reason}; error: {e.message}")
                self._condition(hpa, "AbleToScale", "False", "FailedUpdateScale",
                                f"the HPA controller was unable to update the target scale: {e.message}", now)
                self._set_status(hpa, current, hpa["status"].get("desiredReplicas", 0), statuses, False, now)
                self._write_status(hpa, original)
                raise Reported(f"failed to rescale {reference}: {e.message}") from e
            self._condition(hpa, "AbleToScale", "True", "SucceededRescale",
                            f"the HPA controller was able to update the target scale to {desired}", now)
            self.recorder.event(hpa, NORMAL, "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
            self.normalizer.record_scale(key, spec.get("behavior"), current, desired, now)
            log.info("rescaled %s from %d to %d: %s", reference, current, desired, reason)
        else:
            desired = current
        self._set_status(hpa, current, desired, statuses, rescale, now)
        self._write_status(hpa, original)
        if failure:  # some metrics failed, the others were enough to scale up
            log.warning("%s: %s: %s", self.name, key, failure)

    def _target_resource(self, ref: Obj) -> r.Resource:
        """The resource behind ``scaleTargetRef`` (upstream asks its RESTMapper, any version of the group)."""
        api_version, kind = ref.get("apiVersion", ""), ref.get("kind", "")
        found = self.discovery.resource_for(api_version, kind)
        group = split_api_version(api_version)[0]
        if found is None:
            found = next((x for x in self.discovery.preferred() if x.group == group and x.kind == kind), None)
        if found is None:
            raise LookupError(f'no matches for kind "{kind}" in group "{group}"')
        return found

    def _normalize(self, hpa: Obj, key: str, current: int, desired: int, min_replicas: int, max_replicas: int,
                   now: float) -> int:
        behavior = (hpa.get("spec") or {}).get("behavior")
        if behavior is None:
            result = self.normalizer.normalize(key, current, desired, min_replicas, max_replicas, now)
        else:
            result = self.normalizer.normalize_with_behavior(key, behavior, current, desired, min_replicas,
                                                             max_replicas, now)
        self._condition(hpa, "AbleToScale", "True", result.able_reason, result.able_message, now)
        self._condition(hpa, "ScalingLimited", "True" if result.limited else "False", result.limited_reason,
                        result.limited_message, now)
        return result.replicas

    # -- metrics ------------------------------------------------------------------------

    def compute_replicas_for_metrics(self, hpa: Obj, key: str, scale: Obj,
                                     now: float) -> tuple[int, str, list[Obj] | None, str | None]:
        """(replicas, the metric that asked for them, currentMetrics, first failure); replicas is
        -1 when nothing can be decided (the condition then says why)."""
        try:
            selector_text, pods = self._target_pods(hpa, key, scale, now)
        except Reported as e:
            return -1, "", None, str(e)
        spec_replicas = int((scale.get("spec") or {}).get("replicas") or 0)
        specs = (hpa.get("spec") or {}).get("metrics") or DEFAULT_METRICS
        statuses: list[Obj] = [{"type": ""} for _ in specs]  # upstream leaves failed ones empty
        items: dict[str, Any] = {}  # the PodMetrics list, fetched once for every metric
        replicas, metric, invalid, first = 0, "", 0, None
        for i, spec in enumerate(specs):
            try:
                proposal, name, statuses[i] = self._compute_for_metric(hpa, spec, spec_replicas, selector_text,
                                                                       pods, items, now)
            except MetricError as e:
                first = first or e
                invalid += 1
                continue
            if replicas == 0 or proposal > replicas:
                replicas, metric = proposal, name
        failure = f"invalid metrics ({invalid} invalid out of {len(specs)}), first error is: {first}" if first else None
        # With every metric failing, or some failing while the others would scale down, do nothing.
        if first is not None and (invalid >= len(specs) or replicas < spec_replicas):
            self._condition(hpa, "ScalingActive", "False", first.reason, first.condition_message, now)
            return -1, "", statuses, failure
        self._condition(hpa, "ScalingActive", "True", "ValidMetricFound",
                        f"the HPA was able to successfully calculate a replica count from {metric}", now)
        return replicas, metric, statuses, failure

    def _target_pods(self, hpa: Obj, key: str, scale: Obj, now: float) -> tuple[str, list[Obj]]:
        """The selector string and the pods it selects; only one HPA may own those pods."""
        text = (scale.get("status") or {}).get("selector") or ""
        if not text:
            self.recorder.event(hpa, WARNING, "SelectorRequired", "selector is required")
            self._condition(hpa, "ScalingActive", "False", "InvalidSelector",
                            "the HPA target's scale is missing a selector", now)
            raise Reported("selector is required")
        try:
            requirements = parse_selector(text)
        except ValueError as e:
            why = f"couldn't convert selector into a corresponding internal selector object: {e}"
            self.recorder.event(hpa, WARNING, "InvalidSelector", why)
            self._condition(hpa, "ScalingActive", "False", "InvalidSelector", why, now)
            raise Reported(why) from e
        self._selectors[key] = requirements
        namespace = split_key(key)[0]
        pods = [p for p in self.pods.cache.by_index(NAMESPACE_INDEX, namespace)
                if selector_matches(requirements, meta(p).get("labels") or {})]
        owners = sorted({k for k, sel in list(self._selectors.items()) if split_key(k)[0] == namespace
                         and any(selector_matches(sel, meta(p).get("labels") or {}) for p in pods)} | {key})
        if len(owners) > 1:
            why = f"pods by selector {text} are controlled by multiple HPAs: [{' '.join(owners)}]"
            self.recorder.event(hpa, WARNING, "AmbiguousSelector", why)
            self._condition(hpa, "ScalingActive", "False", "AmbiguousSelector", why, now)
            raise Reported(why)
        return text, pods

    def _compute_for_metric(self, hpa: Obj, spec: Obj, current: int, selector: str, pods: list[Obj],
                            items: dict[str, Any], now: float) -> tuple[int, str, Obj]:
        kind = spec.get("type", "")
        if kind not in ("Resource", "ContainerResource"):
            reason = UNSUPPORTED_SOURCES.get(kind, "InvalidMetricSourceType")
            why = (f"{kind} metrics need a custom or external metrics API, which kubeclass does not serve; "
                   f"use Resource or ContainerResource metrics" if kind in UNSUPPORTED_SOURCES
                   else f'unknown metric source type "{kind}"')
            raise self._unable(hpa, reason, why, why)
        container_kind = kind == "ContainerResource"
        source = spec.get("containerResource" if container_kind else "resource") or {}
        resource, container = source.get("name", ""), source.get("container", "") if container_kind else ""
        target = source.get("target") or {}
        reason = "FailedGetContainerResourceMetric" if container_kind else "FailedGetResourceMetric"
        outer = f"failed to get {container} container metric value" if container_kind else \
            f"failed to get {resource} resource metric value"
        if target.get("averageValue") is None and target.get("averageUtilization") is None:
            why = "invalid resource metric source: neither an average utilization target nor an average value " \
                  "(usage) target was set"
            raise self._unable(hpa, reason, why, f"{outer}: {why}")
        by_value = target.get("averageValue") is not None
        try:
            metrics = self._pod_metrics(hpa, selector, resource, container, pods, items)
            if by_value:
                replicas, usage = self.calculator.value_replicas(current, milli_value(target["averageValue"]),
                                                                 resource, pods, metrics, now)
                name, value = f"{resource} resource", {"averageValue": format_milli(usage)}
            else:
                replicas, utilization, raw = self.calculator.utilization_replicas(
                    current, int(target["averageUtilization"]), resource, pods, metrics, now, container)
                name = f"{resource} {'container ' if container_kind else ''}resource utilization (percentage of request)"
                value = {"averageUtilization": utilization, "averageValue": format_milli(raw)}
        except ReplicaError as e:
            why = f"failed to get {resource} {'usage' if by_value else 'utilization'}: {e}"
            raise self._unable(hpa, reason, why, f"{outer}: {why}") from e
        if container_kind:
            return replicas, name, {"type": kind, "containerResource": {"name": resource, "container": container,
                                                                        "current": value}}
        return replicas, name, {"type": kind, "resource": {"name": resource, "current": value}}

    def _pod_metrics(self, hpa: Obj, selector: str, resource: str, container: str, pods: list[Obj],
                     items: dict[str, Any]) -> dict[str, PodMetric]:
        """The selected pods' usage of ``resource`` from the resource metrics API."""
        if "items" not in items:
            try:
                items["items"] = self.client.list(POD_METRICS, meta(hpa).get("namespace"), label_selector=selector,
                                                  limit=None).get("items") or []
            except (errors.ApiError, errors.ServerUnavailable) as e:
                items["items"], items["error"] = [], getattr(e, "message", "") or str(e)
        if items.get("error"):
            raise ReplicaError(f"unable to get metrics for resource {resource}: unable to fetch metrics from "
                               f"resource metrics API: {items['error']}")
        if not items["items"]:
            raise ReplicaError(f"unable to get metrics for resource {resource}: "
                               "no metrics returned from resource metrics API")
        names = {meta(p).get("name") for p in pods}  # only the selected pods, whatever the server filtered
        return {n: m for n, m in pod_metrics(items["items"], resource, container).items() if n in names}

    def _unable(self, hpa: Obj, reason: str, why: str, message: str) -> MetricError:
        self.recorder.event(hpa, WARNING, reason, why)
        return MetricError(message, reason, f"the HPA was unable to compute the replica count: {why}")

    # -- status -------------------------------------------------------------------------

    def _condition(self, hpa: Obj, kind: str, status: str, reason: str, message: str, now: float) -> None:
        """Set one condition; its lastTransitionTime moves only when its status does."""
        conditions = hpa["status"].setdefault("conditions", [])
        cond = next((c for c in conditions if c.get("type") == kind), None)
        if cond is None:
            cond = {"type": kind}
            conditions.append(cond)
        if cond.get("status") != status:
            cond["lastTransitionTime"] = format_time(now)
        cond.update(status=status, reason=reason, message=message)

    @staticmethod
    def _set_status(hpa: Obj, current: int, desired: int, statuses: list[Obj] | None, rescaled: bool,
                    now: float) -> None:
        old = hpa["status"]
        status: Obj = {"currentReplicas": current, "desiredReplicas": desired}
        if rescaled:
            status["lastScaleTime"] = format_time(now)
        elif old.get("lastScaleTime"):
            status["lastScaleTime"] = old["lastScaleTime"]
        if statuses is not None:
            status["currentMetrics"] = statuses
        status["conditions"] = old.get("conditions") or []
        hpa["status"] = status

    def _write_status(self, hpa: Obj, original: Obj) -> None:
        if hpa["status"] == original:
            return  # nothing new: no write
        try:
            self.client.update(HPAS, hpa, subresource="status")
        except errors.ApiError as e:
            self.recorder.event(hpa, WARNING, "FailedUpdateStatus", e.message)
            raise


def make(ctx: Context) -> HorizontalPodAutoscalerController:
    return HorizontalPodAutoscalerController(ctx.client, ctx.informers, ctx.discovery, workers=ctx.workers,
                                             downscale_window=ctx.profile.hpa_downscale_stabilization)
