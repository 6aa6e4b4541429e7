"""The controller manager's command line and wiring (its run and shutdown are tested live)."""

from __future__ import annotations

import threading

import pytest

from controlplane.client.fake import FakeClient
from controlplane.controllers import manager
from controlplane.controllers.garbagecollector import GarbageCollector
from controlplane.controllers.namespace import NamespaceController
from controlplane.controllers.serviceaccount import ServiceAccountController


def test_defaults_run_every_controller() -> None:
    args = manager.parse_args(["--kubeconfig", "/k"])
    assert args.controllers == sorted(manager.CONTROLLERS)
    assert {"deployment", "replicaset", "nodelifecycle", "tainteviction", "endpoints"} <= set(args.controllers)
    assert args.workers == 2 and args.server == [] and args.discovery_period == 30.0


def test_a_subset_of_controllers_and_failover_servers() -> None:
    args = manager.parse_args(["--kubeconfig", "/k", "--controllers", "namespace, serviceaccount",
                               "--server", "https://10.0.0.2:6443", "--server", "https://10.0.0.3:6443",
                               "--workers", "4"])
    assert args.controllers == ["namespace", "serviceaccount"]
    assert args.server == ["https://10.0.0.2:6443", "https://10.0.0.3:6443"] and args.workers == 4


@pytest.mark.parametrize("argv, message", [
    (["--kubeconfig", "/k", "--controllers", "replicationcontroller"], "unknown controller"),
    (["--kubeconfig", "/k", "--workers", "0"], "at least 1"),
    ([], "--kubeconfig"),
])
def test_bad_arguments_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        manager.parse_args(argv)
    assert message in capsys.readouterr().err


def test_controllers_share_one_informer_per_resource() -> None:
    ctx = manager.Context(FakeClient(), workers=3)
    built = {name: manager.factory(name)(ctx) for name in manager.CONTROLLERS}
    assert isinstance(built["garbagecollector"], GarbageCollector)
    ns, sa = built["namespace"], built["serviceaccount"]
    assert isinstance(ns, NamespaceController) and isinstance(sa, ServiceAccountController)
    assert ns.namespaces is sa.namespaces, "namespaces are watched once for both controllers"
    assert all(c.workers == 3 for c in built.values())


def test_the_elector_seam_decides_when_controllers_run() -> None:
    calls: list[str] = []

    class Follower:
        def run(self, lead, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
            calls.append("asked")  # never leads: lead() is not called

    manager.run(FakeClient(), ["serviceaccount"], workers=1, stop=threading.Event(), elector=Follower())
    assert calls == ["asked"]
