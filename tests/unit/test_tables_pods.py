"""The pods table: READY, STATUS and RESTARTS as ``kubectl get pods`` shows them.

Most cases mirror upstream's ``TestPrintPod`` and ``TestPrintPodWithRestartableInitContainer``
(pkg/printers/internalversion/printers_test.go), written as API JSON.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from controlplane.api.tables import build_table

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def ago(seconds: int) -> str:
    return (NOW - datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    containers: int = 1,
    statuses: list[dict] | None = None,
    phase: str = "Running",
    init: list[dict] | None = None,
    init_statuses: list[dict] | None = None,
    conditions: list[dict] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "web-7d4b9c-x2x4z", "namespace": "default",
                     "creationTimestamp": ago(3600)},
        "spec": {"containers": [{"name": f"c{i}", "image": "nginx"} for i in range(containers)]},
        "status": {"phase": phase},
    }
    if statuses is not None:
        obj["status"]["containerStatuses"] = statuses
    if init is not None:
        obj["spec"]["initContainers"] = init
    if init_statuses is not None:
        obj["status"]["initContainerStatuses"] = init_statuses
    if conditions is not None:
        obj["status"]["conditions"] = conditions
    for key, value in extra.items():
        section, _, field = key.partition("__")
        obj[section][field] = value
    return obj


RUNNING = {"running": {"startedAt": ago(600)}}
READY = [{"type": "Ready", "status": "True"}]


def restarted(seconds_ago: int) -> dict:
    return {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(seconds_ago)}}


CASES = [
    (
        "running with restarts",
        pod(statuses=[{"name": "c0", "ready": True, "restartCount": 3, "state": RUNNING,
                       "lastState": restarted(300)}], conditions=READY),
        ("1/1", "Running", "3 (5m ago)"),
    ),
    (
        "most recent restart wins and counts add up",
        pod(containers=2, statuses=[
            {"ready": True, "restartCount": 6, "state": RUNNING,
             "lastState": restarted(5 * 86400)},
            {"ready": True, "restartCount": 3, "state": RUNNING,
             "lastState": restarted(20 * 86400)},
        ]),
        ("2/2", "Running", "9 (5d ago)"),
    ),
    ("pending, nothing reported yet", pod(phase="Pending"), ("0/1", "Pending", "0")),
    (
        "creating containers",
        pod(phase="Pending", statuses=[
            {"ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}},
        ]),
        ("0/1", "ContainerCreating", "0"),
    ),
    (
        "crash looping",
        pod(statuses=[{"ready": False, "restartCount": 5,
                       "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                       "lastState": restarted(40)}]),
        ("0/1", "CrashLoopBackOff", "5 (40s ago)"),
    ),
    (
        "the first container's state wins",
        pod(containers=2, phase="podPhase", statuses=[
            {"restartCount": 3, "state": {"waiting": {"reason": "ContainerWaitingReason"}}},
            {"restartCount": 3, "state": {"terminated": {"reason": "ContainerTerminatedReason"}}},
        ]),
        ("0/2", "ContainerWaitingReason", "6"),
    ),
    (
        "ready but not running does not count",
        pod(containers=2, phase="podPhase", statuses=[
            {"ready": True, "restartCount": 3, "state": RUNNING},
            {"ready": True, "restartCount": 3},
        ]),
        ("1/2", "podPhase", "6"),
    ),
    (
        "status.reason overrides the phase",
        pod(phase="Failed", status__reason="Evicted"),
        ("0/1", "Evicted", "0"),
    ),
    (
        "completed",
        pod(phase="Succeeded", statuses=[
            {"ready": False, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
        ]),
        ("0/1", "Completed", "0"),
    ),
    (
        "failed with a reason",
        pod(phase="Failed", statuses=[
            {"ready": False, "state": {"terminated": {"reason": "Error", "exitCode": 1}}},
        ]),
        ("0/1", "Error", "0"),
    ),
    (
        "terminated without a reason: exit code, or signal",
        pod(containers=2, phase="Failed", statuses=[
            {"state": {"terminated": {"exitCode": 2}}},
            {"state": {"terminated": {"exitCode": 0, "signal": 9}}},
        ]),
        ("0/2", "ExitCode:2", "0"),
    ),
    (
        "one container done, one still running, pod Ready",
        pod(containers=2, statuses=[
            {"ready": True, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
            {"ready": True, "state": RUNNING},
        ], conditions=READY),
        ("1/2", "Running", "0"),
    ),
    (
        "one container done, one still running, pod not Ready",
        pod(containers=2, statuses=[
            {"ready": True, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
            {"ready": True, "state": RUNNING},
        ]),
        ("1/2", "NotReady", "0"),
    ),
    (
        "first of two init containers running",
        pod(phase="Pending", init=[{"name": "i0"}, {"name": "i1"}],
            init_statuses=[{"name": "i0", "restartCount": 3, "state": RUNNING,
                            "lastState": restarted(10)}, {"name": "i1", "state": {"waiting": {}}}],
            statuses=[{"state": {"waiting": {"reason": "PodInitializing"}}}]),
        ("0/1", "Init:0/2", "3 (10s ago)"),
    ),
    (
        "second init container running after the first succeeded",
        pod(phase="Pending", init=[{"name": "i0"}, {"name": "i1"}],
            init_statuses=[{"name": "i0", "restartCount": 2,
                            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                            "lastState": restarted(120)},
                           {"name": "i1", "restartCount": 3, "state": RUNNING,
                            "lastState": restarted(10)}]),
        ("0/1", "Init:1/2", "5 (10s ago)"),
    ),
    (
        "init container crash looping",
        pod(phase="Pending", init=[{"name": "i0"}],
            init_statuses=[{"name": "i0", "restartCount": 4,
                            "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
        ("0/1", "Init:CrashLoopBackOff", "4"),
    ),
    (
        "init container failed",
        pod(phase="Pending", init=[{"name": "i0"}],
            init_statuses=[{"name": "i0",
                            "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]),
        ("0/1", "Init:Error", "0"),
    ),
    (
        "init container failed without a reason",
        pod(phase="Pending", init=[{"name": "i0"}],
            init_statuses=[{"name": "i0", "state": {"terminated": {"exitCode": 3}}}]),
        ("0/1", "Init:ExitCode:3", "0"),
    ),
    (
        "after init, only the app containers' restarts count",
        pod(init=[{"name": "i0"}],
            init_statuses=[{"name": "i0", "restartCount": 2,
                            "state": {"terminated": {"exitCode": 0}}, "lastState": restarted(120)}],
            statuses=[{"restartCount": 4, "state": RUNNING, "lastState": restarted(20)}]),
        ("0/1", "Running", "4 (20s ago)"),
    ),
    (
        "a started sidecar counts towards READY",
        pod(init=[{"name": "proxy", "restartPolicy": "Always"},
                  {"name": "log", "restartPolicy": "Always"}],
            init_statuses=[
                {"name": "proxy", "restartCount": 3, "started": True, "state": RUNNING,
                 "lastState": restarted(10)},
                {"name": "log", "started": True, "ready": True, "state": RUNNING},
            ],
            statuses=[{"ready": True, "restartCount": 4, "state": RUNNING,
                       "lastState": restarted(20)}],
            conditions=[{"type": "Initialized", "status": "True"}]),
        ("2/3", "Running", "7 (10s ago)"),
    ),
    (
        "scheduling gated",
        pod(containers=2, phase="Pending",
            conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
        ("0/2", "SchedulingGated", "0"),
    ),
    (
        "terminating while running",
        pod(metadata__deletionTimestamp=ago(10),
            statuses=[{"ready": True, "state": RUNNING}], conditions=READY),
        ("1/1", "Terminating", "0"),
    ),
    (
        "terminating while pending",
        pod(phase="Pending", metadata__deletionTimestamp=ago(10)),
        ("0/1", "Terminating", "0"),
    ),
    (
        "a finished pod being deleted keeps its final status",
        pod(phase="Succeeded", metadata__deletionTimestamp=ago(10), statuses=[
            {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
        ]),
        ("0/1", "Completed", "0"),
    ),
    (
        "deleted on a lost node",
        pod(metadata__deletionTimestamp=ago(10), status__reason="NodeLost",
            statuses=[{"ready": True, "state": RUNNING}]),
        ("1/1", "Unknown", "0"),
    ),
]


def by_column(table: dict, row: int = 0) -> dict[str, Any]:
    names = [c["name"] for c in table["columnDefinitions"]]
    return dict(zip(names, table["rows"][row]["cells"]))


@pytest.mark.parametrize(("obj", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_ready_status_restarts(obj: dict, expected: tuple[str, str, str]) -> None:
    cells = by_column(build_table("", "pods", [obj], now=NOW))
    assert (cells["Ready"], cells["Status"], cells["Restarts"]) == expected
    assert cells["Name"] == "web-7d4b9c-x2x4z"
    assert cells["Age"] == "60m"


def test_columns_are_upstreams() -> None:
    table = build_table("", "pods", [], now=NOW)
    assert [(c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Status", "string", 0),
        ("Restarts", "string", 0),
        ("Age", "string", 0),
        ("IP", "string", 1),
        ("Node", "string", 1),
        ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1),
    ]
    assert table["columnDefinitions"][0]["format"] == "name"


def test_wide_columns() -> None:
    obj = pod(
        spec__nodeName="node-1",
        spec__readinessGates=[{"conditionType": t} for t in ("a", "b", "c")],
        status__podIPs=[{"ip": "10.244.1.7"}, {"ip": "fd00::7"}],
        status__nominatedNodeName="node-2",
        conditions=[{"type": "a", "status": "False"}, {"type": "b", "status": "True"}],
    )
    cells = by_column(build_table("", "pods", [obj], now=NOW))
    assert [cells["IP"], cells["Node"], cells["Nominated Node"], cells["Readiness Gates"]] == [
        "10.244.1.7", "node-1", "node-2", "1/3",
    ]


def test_wide_columns_of_an_unscheduled_pod() -> None:
    cells = by_column(build_table("", "pods", [pod(phase="Pending")], now=NOW))
    assert [cells["IP"], cells["Node"], cells["Nominated Node"], cells["Readiness Gates"]] == [
        "<none>", "<none>", "<none>", "<none>",
    ]


def test_pod_ip_falls_back_to_podIP() -> None:
    cells = by_column(build_table("", "pods", [pod(status__podIP="10.0.0.9")], now=NOW))
    assert cells["IP"] == "10.0.0.9"


@pytest.mark.parametrize(
    ("phase", "condition"),
    [
        ("Succeeded", {"type": "Completed", "status": "True", "reason": "Succeeded",
                       "message": "The pod has completed successfully."}),
        ("Failed", {"type": "Completed", "status": "True", "reason": "Failed",
                    "message": "The pod failed."}),
    ],
)
def test_finished_pods_rows_carry_a_completed_condition(phase: str, condition: dict) -> None:
    row = build_table("", "pods", [pod(phase=phase)], now=NOW)["rows"][0]
    assert row["conditions"] == [condition]


def test_running_pods_rows_have_no_conditions() -> None:
    row = build_table("", "pods", [pod()], now=NOW)["rows"][0]
    assert "conditions" not in row
