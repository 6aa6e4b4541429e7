"""The horizontal pod autoscaler's decisions, one sync at a time, with a clock the test moves.

What a user would see: the Deployment's replicas after ``kubectl autoscale``, the HPA's
``kubectl describe`` (status, currentMetrics, conditions with their reasons) and its
events. The resource metrics API and the ``/scale`` subresource are faked here the way
the API server serves them.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controlplane.client import informer as informers
from controlplane.client import resources as r
from controlplane.client.discovery import CachedDiscovery
from controlplane.client.errors import ApiError
from controlplane.client.events import FakeRecorder
from controlplane.client.fake import DEFAULT_RESOURCES, FakeClient
from controlplane.controllers.base import RequeueAfter
from controlplane.controllers.hpa import HPAS, POD_METRICS, HorizontalPodAutoscalerController
from controlplane.controllers.hpa_replicas import (
    PodMetric,
    ReplicaCalculator,
    format_milli,
    milli_value,
    parse_selector,
    selector_matches,
)
from controlplane.controllers.nodelifecycle_taints import format_time

Obj = dict[str, Any]
T0 = 1_700_000_000.0
KEY = "default/web"
UP_REASON = "New size: {}; reason: cpu resource utilization (percentage of request) above target"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class ScaleFake(FakeClient):
    """The in-memory client, plus the ``/scale`` subresource of Deployments as the API server serves it."""

    def __init__(self) -> None:
        super().__init__(DEFAULT_RESOURCES + [HPAS, POD_METRICS])
        self.scale_error: ApiError | None = None
        self.metrics_error: ApiError | None = None

    def get(self, res: r.Resource, name: str, namespace: str | None = None, *, subresource: str | None = None,
            metadata_only: bool = False) -> Obj:
        obj = super().get(res, name, namespace)
        return self._scale(obj) if subresource == "scale" else obj

    def patch(self, res: r.Resource, name: str, patch: Any, namespace: str | None = None, *,
              patch_type: str = "merge", field_manager: str | None = None, force: bool | None = None,
              subresource: str | None = None) -> Obj:
        if subresource == "scale" and self.scale_error is not None:
            raise self.scale_error
        updated = super().patch(res, name, patch, namespace, patch_type=patch_type)
        return self._scale(updated) if subresource == "scale" else updated

    def list(self, res: r.Resource, namespace: str | None = None, **kwargs: Any) -> Obj:
        if res == POD_METRICS and self.metrics_error is not None:
            raise self.metrics_error
        return super().list(res, namespace, **kwargs)

    @staticmethod
    def _scale(obj: Obj) -> Obj:
        labels = ((obj["spec"].get("selector") or {}).get("matchLabels")) or {}
        return {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": dict(obj["metadata"]),
                "spec": {"replicas": obj["spec"].get("replicas", 1)},
                "status": {"replicas": obj["spec"].get("replicas", 1),
                           "selector": obj["spec"].get("selectorString",
                                                       ",".join(f"{k}={v}" for k, v in labels.items()))}}


class Cluster:
    def __init__(self, *, window: float = 60.0) -> None:
        self.fake = ScaleFake()
        self.clock = Clock()
        self.events = FakeRecorder()
        self.ctl = HorizontalPodAutoscalerController(self.fake, informers.InformerFactory(self.fake),
                                                     CachedDiscovery(self.fake), recorder=self.events,
                                                     clock=self.clock, downscale_window=window)

    def deployment(self, replicas: int, *, cpu: str = "100m", usage: list[str | None] | None = None,
                   memory: str | None = None, memory_usage: list[str] | None = None) -> None:
        """A Deployment "web" with ``replicas`` running, ready pods and, for each pod with a
        usage, its PodMetrics."""
        self.fake.seed(r.DEPLOYMENTS, {"metadata": {"name": "web", "namespace": "default"},
                                       "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}}})
        long_ago = format_time(T0 - 3600)
        for i in range(replicas):
            requests = {"cpu": cpu} if cpu else {}
            if memory:
                requests["memory"] = memory
            self.fake.seed(r.PODS, {
                "metadata": {"name": f"web-{i}", "namespace": "default", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "resources": {"requests": requests}}]},
                "status": {"phase": "Running", "startTime": long_ago, "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": long_ago}]}})
        for i, used in enumerate(usage or []):
            if used is not None:
                self.metric(f"web-{i}", {"cpu": used, **({"memory": memory_usage[i]} if memory_usage else {})})

    def metric(self, pod: str, usage: Obj) -> None:
        self.fake.seed(POD_METRICS, {"metadata": {"name": pod, "namespace": "default"},
                                     "timestamp": format_time(self.clock.now), "window": "15s",
                                     "containers": [{"name": "app", "usage": usage}]})

    def set_usage(self, *usage: str) -> None:
        for i, used in enumerate(usage):
            key = (POD_METRICS.group_resource, "default", f"web-{i}")
            self.fake.objects.pop(key, None)
            self.metric(f"web-{i}", {"cpu": used})

    def hpa(self, name: str = "web", *, target: int = 50, min_replicas: int = 1, max_replicas: int = 10,
            behavior: Obj | None = None, metrics: list[Obj] | None = None) -> None:
        spec: Obj = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": min_replicas, "maxReplicas": max_replicas,
                     "metrics": metrics or [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}]}
        if behavior is not None:
            spec["behavior"] = behavior
        self.fake.seed(HPAS, {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                              "metadata": {"name": name, "namespace": "default"}, "spec": spec})

    def sync(self, key: str = KEY) -> None:
        """What the informers hold, then one reconcile (which always asks to look again in 15 s)."""
        self.ctl.hpas.cache.replace(self.fake.list(HPAS)["items"])
        self.ctl.pods.cache.replace(self.fake.list(r.PODS)["items"])
        with pytest.raises(RequeueAfter) as again:
            self.ctl.reconcile(key)
        assert again.value.delay == 15.0

    # -- what kubectl shows -----------------------------------------------------------------

    def replicas(self) -> int:
        return self.fake.stored(r.DEPLOYMENTS, "web", "default")["spec"]["replicas"]  # type: ignore[index]

    def status(self, name: str = "web") -> Obj:
        return self.fake.stored(HPAS, name, "default")["status"]  # type: ignore[index]

    def condition(self, kind: str, name: str = "web") -> tuple[str, str]:
        cond = next(x for x in self.status(name)["conditions"] if x["type"] == kind)
        return cond["status"], cond["reason"]

    def scale_writes(self) -> list[int]:
        return [a.details["patch"]["spec"]["replicas"] for a in self.fake.writes()
                if a.verb == "patch" and a.resource == "deployments.apps"]


@pytest.fixture
def c() -> Cluster:
    return Cluster()


# -- scaling on CPU utilization ------------------------------------------------------------------


def test_busy_pods_scale_the_deployment_up_with_status_conditions_and_an_event(c: Cluster) -> None:
    c.deployment(2, usage=["100m", "100m"])  # 100% of the request, against a 50% target
    c.hpa()
    c.sync()
    assert c.replicas() == 4
    assert c.events.events == ["Normal SuccessfulRescale " + UP_REASON.format(4)]
    status = c.status()
    assert status["currentReplicas"] == 2 and status["desiredReplicas"] == 4
    assert status["lastScaleTime"] == format_time(T0)
    assert status["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": 100, "averageValue": "100m"}}}]
    assert c.condition("AbleToScale") == ("True", "SucceededRescale")
    assert c.condition("ScalingActive") == ("True", "ValidMetricFound")
    assert c.condition("ScalingLimited") == ("False", "DesiredWithinRange")


@pytest.mark.parametrize("usage, expected", [
    (["54m", "54m"], 2),  # 108% of target: within the 10% tolerance
    (["46m", "46m"], 2),  # 92%: within it too
    (["56m", "56m"], 3),  # 112%: ceil(1.12 x 2)
])
def test_small_deviations_are_tolerated(c: Cluster, usage: list[str], expected: int) -> None:
    c.deployment(2, usage=usage)
    c.hpa()
    c.sync()
    assert c.replicas() == expected
    assert c.status()["desiredReplicas"] == expected
    assert bool(c.scale_writes()) is (expected != 2)


def test_nothing_changes_when_nothing_needs_to(c: Cluster) -> None:
    c.deployment(2, usage=["50m", "50m"])
    c.hpa()
    c.sync()
    c.fake.actions.clear()
    c.sync()
    assert [a.verb for a in c.fake.writes()] == [], "same status: no write"


def test_max_replicas_and_the_scale_up_rate_limit(c: Cluster) -> None:
    c.deployment(4, usage=["500m"] * 4)  # 10x the target: 40 replicas asked for
    c.hpa(max_replicas=6)
    c.sync()
    assert c.replicas() == 6
    assert c.condition("ScalingLimited") == ("True", "TooManyReplicas")

    d = Cluster()
    d.deployment(2, usage=["500m"] * 2)
    d.hpa(max_replicas=10)
    d.sync()
    assert d.replicas() == 4, "without a behavior: at most max(2 x current, 4) per step"
    assert d.condition("ScalingLimited") == ("True", "ScaleUpLimit")


def test_min_replicas_bounds_a_scale_down(c: Cluster) -> None:
    c.deployment(4, usage=["1m"] * 4)
    c.hpa(min_replicas=2)
    c.clock.now += 61  # past the (classroom) downscale window, counted from the first look
    c.ctl.normalizer.record_initial(KEY, 4, T0)
    c.sync()
    assert c.replicas() == 2
    assert c.condition("ScalingLimited") == ("True", "TooFewReplicas")
    assert c.events.events == ["Normal SuccessfulRescale New size: 2; reason: All metrics below target"]


def test_a_count_outside_min_and_max_is_brought_back_without_metrics(c: Cluster) -> None:
    c.deployment(12)
    c.hpa(max_replicas=10)
    c.sync()
    assert c.replicas() == 10
    assert c.events.events == [("Normal SuccessfulRescale New size: 10; reason: Current number of replicas above "
                               "Spec.MaxReplicas")]


def test_a_target_scaled_to_zero_disables_autoscaling(c: Cluster) -> None:
    c.deployment(0)
    c.hpa()
    c.sync()
    assert c.scale_writes() == [] and c.replicas() == 0
    assert c.condition("ScalingActive") == ("False", "ScalingDisabled")
    assert c.status()["desiredReplicas"] == 0


# -- stabilization and behavior ------------------------------------------------------------------


def test_a_scale_down_waits_for_the_stabilization_window(c: Cluster) -> None:
    c.deployment(4, usage=["10m"] * 4)
    c.hpa()
    c.sync()
    assert c.replicas() == 4
    assert c.condition("AbleToScale") == ("True", "ScaleDownStabilized")
    c.clock.now += 30
    c.sync()
    assert c.replicas() == 4, "the first look's recommendation (4) is still in the window"
    c.clock.now += 31
    c.sync()
    assert c.replicas() == 1, "every recommendation of the last minute agrees now"
    assert c.condition("AbleToScale") == ("True", "SucceededRescale")


def test_a_spike_inside_the_window_holds_a_scale_down_back(c: Cluster) -> None:
    c.deployment(4, usage=["50m"] * 4)
    c.hpa()
    c.sync()
    c.clock.now += 45
    c.set_usage("10m", "10m", "10m", "10m")
    c.sync()
    c.clock.now += 30  # the first look (4) left the window; the spike-free one (1) is 30 s old
    c.sync()
    assert c.replicas() == 1
    c2 = Cluster()
    c2.deployment(4, usage=["10m"] * 4)
    c2.hpa()
    c2.clock.now += 61
    c2.set_usage("50m", "50m", "50m", "50m")
    c2.sync()
    c2.clock.now += 15
    c2.set_usage("10m", "10m", "10m", "10m")
    c2.sync()
    assert c2.replicas() == 4, "the busy recommendation of 15 s ago keeps the pods"


def test_scale_up_policies_limit_pods_per_period(c: Cluster) -> None:
    c.deployment(2, usage=["400m", "400m"])  # asks for 16
    c.hpa(max_replicas=20, behavior={"scaleUp": {"selectPolicy": "Max", "stabilizationWindowSeconds": 0,
                                                 "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}})
    c.sync()
    assert c.replicas() == 3
    assert c.condition("ScalingLimited") == ("True", "ScaleUpLimit")
    c.clock.now += 30
    c.set_usage("400m", "400m")
    c.sync()
    assert c.replicas() == 3, "one pod per minute, and the minute is not over"
    c.clock.now += 31
    c.sync()
    assert c.replicas() == 4


def test_scale_down_policies_percent_and_disabled(c: Cluster) -> None:
    c.deployment(8, usage=["1m"] * 8)
    c.hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 0,
                                  "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}})
    c.sync()
    assert c.replicas() == 4, "half of them per minute"
    assert c.condition("ScalingLimited") == ("True", "ScaleDownLimit")

    d = Cluster()
    d.deployment(8, usage=["1m"] * 8)
    d.hpa(behavior={"scaleDown": {"selectPolicy": "Disabled", "stabilizationWindowSeconds": 0}})
    d.sync()
    assert d.replicas() == 8 and d.scale_writes() == []


def test_a_scale_up_stabilization_window_takes_the_lowest_recent_recommendation(c: Cluster) -> None:
    c.deployment(2, usage=["50m", "50m"])
    c.hpa(behavior={"scaleUp": {"stabilizationWindowSeconds": 60}})
    c.sync()
    c.clock.now += 10
    c.set_usage("100m", "100m")
    c.sync()
    assert c.replicas() == 2 and c.condition("AbleToScale") == ("True", "ScaleUpStabilized")
    c.clock.now += 61
    c.sync()
    assert c.replicas() == 4


# -- missing metrics, unready pods, other targets ------------------------------------------------


def test_pods_without_metrics_hold_back_a_scale_up_and_a_scale_down(c: Cluster) -> None:
    c.deployment(10, usage=["105m"] * 5 + [None] * 5)  # 210% where measured: alone, that asks for 11
    c.hpa(max_replicas=20)
    c.sync()
    assert c.replicas() == 10, "the unmeasured half assumed idle: 105% of target, within the tolerance"

    d = Cluster()
    d.deployment(4, usage=["10m", "10m", None, None])  # 20% where measured: alone, that asks for 1
    d.hpa()
    d.sync()
    d.clock.now += 61  # past the downscale window
    d.sync()
    assert d.replicas() == 4 and d.scale_writes() == [], "the unmeasured half assumed busy: 110%, the other way"


def test_a_pending_pod_counts_as_idle_on_a_scale_up(c: Cluster) -> None:
    c.deployment(10, usage=["60m"] * 9 + [None])  # 120% on the nine running pods: alone, that asks for 11
    c.fake.objects[(r.PODS.group_resource, "default", "web-9")]["status"] = {"phase": "Pending"}
    c.hpa(max_replicas=20)
    c.sync()
    assert c.replicas() == 10, "the pending pod assumed idle: 108% of target, within the tolerance"

    d = Cluster(window=0.0)
    d.deployment(4, usage=["10m"] * 3 + [None])
    d.fake.objects[(r.PODS.group_resource, "default", "web-3")]["status"] = {"phase": "Pending"}
    d.hpa()
    d.sync()
    assert d.replicas() == 1, "on a scale down a pending pod is left out (as a pod without metrics: 3)"


def test_cpu_samples_of_pods_still_starting_are_not_trusted() -> None:
    def pod(name: str, started: float, ready: str = "True", since: float = -3600, **meta: Any) -> Obj:
        return {"metadata": {"name": name, **meta}, "status": {
            "phase": "Running", "startTime": format_time(T0 + started),
            "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": format_time(T0 + since)}]}}

    pods = [pod("old", -3600), pod("warming", -60, since=-10), pod("warm", -60, since=-30),
            pod("never-ready", -3600, "False", since=-3590), pod("was-ready", -3600, "False", since=-100),
            pod("going", -3600, deletionTimestamp=format_time(T0)), pod("unmeasured", -3600)]
    metrics = {p["metadata"]["name"]: PodMetric(100, T0, 15.0) for p in pods if p["metadata"]["name"] != "unmeasured"}
    calc = ReplicaCalculator()
    ready, unready, missing, ignored = calc.group_pods(pods, metrics, "cpu", T0)
    assert unready == {"warming", "never-ready"}, "a sample taken before the pod was Ready, or a pod never Ready"
    assert (ready, missing, ignored) == (3, {"unmeasured"}, {"going"})
    assert calc.group_pods(pods, metrics, "memory", T0)[1] == set(), "only CPU has a start-up burst"


def test_an_average_value_target_on_memory() -> None:
    c = Cluster()
    c.deployment(2, cpu="", memory="64Mi", usage=["1m", "1m"], memory_usage=["200Mi", "200Mi"])
    c.hpa(metrics=[{"type": "Resource", "resource": {"name": "memory",
                                                     "target": {"type": "AverageValue", "averageValue": "100Mi"}}}])
    c.sync()
    assert c.replicas() == 4
    assert c.status()["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "memory", "current": {"averageValue": "209715200"}}}]
    assert c.events.events == ["Normal SuccessfulRescale New size: 4; reason: memory resource above target"]


def test_the_largest_proposal_of_several_metrics_wins(c: Cluster) -> None:
    c.deployment(2, memory="100Mi", usage=["75m", "75m"], memory_usage=["200Mi", "200Mi"])
    c.hpa(metrics=[{"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 50}}},
                   {"type": "Resource", "resource": {"name": "memory", "target": {"averageUtilization": 100}}}])
    c.sync()
    assert c.replicas() == 4, "cpu asks for 3, memory for 4"
    assert c.events.events == [("Normal SuccessfulRescale New size: 4; reason: memory resource utilization "
                               "(percentage of request) above target")]
    assert [m["resource"]["current"]["averageUtilization"] for m in c.status()["currentMetrics"]] == [75, 200]


def test_no_metrics_at_all_is_told_on_the_hpa(c: Cluster) -> None:
    c.deployment(2)
    c.hpa()
    c.sync()
    assert c.scale_writes() == []
    status = c.status()
    assert status["currentReplicas"] == 2
    cond = next(x for x in status["conditions"] if x["type"] == "ScalingActive")
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False", "FailedGetResourceMetric",
        ("the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics "
        "for resource cpu: no metrics returned from resource metrics API"))
    assert c.events.events == [
        ("Warning FailedGetResourceMetric failed to get cpu utilization: unable to get metrics for resource cpu: "
        "no metrics returned from resource metrics API"),
        ("Warning FailedComputeMetricsReplicas invalid metrics (1 invalid out of 1), first error is: failed to get "
        "cpu resource metric value: failed to get cpu utilization: unable to get metrics for resource cpu: "
        "no metrics returned from resource metrics API")]


def test_a_metrics_api_that_is_not_served_and_a_missing_request(c: Cluster) -> None:
    c.deployment(2, usage=["100m", "100m"])
    c.hpa()
    c.fake.metrics_error = ApiError({"code": 404, "reason": "NotFound", "message": "the server could not find "
                                                                                   "the requested resource"})
    c.sync()
    assert "unable to fetch metrics from resource metrics API: the server could not find the requested " \
           "resource" in c.events.events[0]

    d = Cluster()
    d.deployment(2, cpu="", usage=["100m", "100m"])
    d.hpa()
    d.sync()
    assert d.condition("ScalingActive") == ("False", "FailedGetResourceMetric")
    assert "missing request for cpu in container app of Pod web-0" in d.events.events[0]


def test_unsupported_metric_sources_say_so(c: Cluster) -> None:
    c.deployment(2, usage=["100m", "100m"])
    c.hpa(metrics=[{"type": "Pods", "pods": {"metric": {"name": "qps"},
                                             "target": {"type": "AverageValue", "averageValue": "10"}}}])
    c.sync()
    assert c.condition("ScalingActive") == ("False", "FailedGetPodsMetric")
    assert c.scale_writes() == []


def test_a_target_that_does_not_exist_or_has_no_selector(c: Cluster) -> None:
    c.hpa()
    c.sync()
    assert c.condition("AbleToScale") == ("False", "FailedGetScale")
    assert c.events.events == ['Warning FailedGetScale deployments.apps "web" not found']

    d = Cluster()
    d.deployment(2, usage=["100m", "100m"])
    d.fake.objects[(r.DEPLOYMENTS.group_resource, "default", "web")]["spec"]["selectorString"] = ""
    d.hpa()
    d.sync()
    assert d.condition("ScalingActive") == ("False", "InvalidSelector")
    assert d.events.events[0] == "Warning SelectorRequired selector is required"


def test_two_hpas_on_the_same_pods_refuse_to_act(c: Cluster) -> None:
    c.deployment(2, usage=["100m", "100m"])
    c.hpa("web")
    c.hpa("web-too")
    c.sync("default/web")
    assert c.replicas() == 4, "the first one acts: it does not know of the other yet"
    c.sync("default/web-too")
    assert c.condition("ScalingActive", "web-too") == ("False", "AmbiguousSelector")
    assert "controlled by multiple HPAs: [default/web default/web-too]" in c.events.events[-2]


def test_a_failed_rescale_is_told(c: Cluster) -> None:
    c.deployment(2, usage=["100m", "100m"])
    c.hpa()
    c.fake.scale_error = ApiError({"code": 409, "reason": "Conflict", "message": "try again"})
    c.sync()
    assert c.condition("AbleToScale") == ("False", "FailedUpdateScale")
    assert c.events.events == [("Warning FailedRescale New size: 4; reason: cpu resource utilization (percentage "
                               "of request) above target; error: try again")]


def test_handlers_ignore_status_writes_and_a_deleted_hpa_is_forgotten(c: Cluster) -> None:
    c.deployment(2, usage=["100m", "100m"])
    c.hpa()
    c.sync()
    hpa = c.fake.stored(HPAS, "web", "default")
    assert hpa is not None
    c.ctl._updated(hpa, {**hpa, "status": {}})
    assert len(c.ctl.queue) == 0
    changed = copy.deepcopy(hpa)
    changed["spec"]["maxReplicas"] = 3
    c.ctl._updated(hpa, changed)
    assert c.ctl.queue.get(timeout=0) == KEY
    c.fake.objects.clear()
    c.ctl.hpas.cache.replace([])
    c.ctl.reconcile(KEY)  # gone: no requeue, no memory left
    assert KEY not in c.ctl.normalizer._recommendations


# -- the small parsers ------------------------------------------------------------------------


@pytest.mark.parametrize("quantity, milli", [("250m", 250), ("1", 1000), ("1.5", 1500), ("64Mi", 67108864000),
                                             ("12345678n", 13), ("2k", 2000000), ("1e3", 1000000), (2, 2000)])
def test_quantities(quantity: Any, milli: int) -> None:
    assert milli_value(quantity) == milli


@pytest.mark.parametrize("milli, text", [(250, "250m"), (1000, "1"), (1500, "1500m"), (3000000, "3k"),
                                         (209715200000, "209715200"), (0, "0")])
def test_quantities_are_written_canonically(milli: int, text: str) -> None:
    assert format_milli(milli) == text


@pytest.mark.parametrize("selector, labels, expected", [
    ("app=web", {"app": "web"}, True),
    ("app=web,tier in (a, b)", {"app": "web", "tier": "b"}, True),
    ("app=web,tier notin (a,b)", {"app": "web", "tier": "b"}, False),
    ("app!=web", {}, True),
    ("!canary,app", {"app": "x"}, True),
    ("!canary", {"canary": "1"}, False),
])
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert selector_matches(parse_selector(selector), labels) is expected


def test_a_malformed_selector_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_selector("app in (a")
