"""High availability on etcd, as a student meets it: `kubeclass up --store etcd`, then masters die.

A cluster of its own (three masters, each with an etcd member, an API server, a controller
manager and a scheduler; one worker), because these tests kill masters. In file order:

* the etcd leader SIGKILLed under writers: no acknowledged write is lost (benchmarks.ackcheck);
* the master whose etcd member leads SIGKILLed whole: kubectl, through the unchanged
  kubeconfig (haproxy), sees at most one failed request; Deployments keep reconciling; the
  leaders are on other masters; `kubeclass status --watch` shows it happen in order (the
  master stopped, its member unreachable, the store's leader lost, a new one elected);
* a second master SIGKILLed: etcd has lost quorum; a write answers a 503 Status that says
  so and how many members are reachable, within a bounded time; reads fail the same way
  (etcd reads are linearizable: a member without a leader does not answer them);
* `kubeclass up` brings the masters back: everything resumes with no manual repair, and
  nothing written before is lost;
* `kubeclass backup`, a namespace deleted, `kubeclass restore`: the namespace is back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from benchmarks import ackcheck
from controlplane.cli import timeline_sources
from controlplane.cli.local import etcd_binary
from tests.integration.test_classroom_e2e import generate, k, kjson, pods, ready, wait_for
from tests.livecluster import Cluster, Timeline, kubeclass, own_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kc(tmp_path_factory) -> Iterator[Cluster]:
    assert etcd_binary(), "etcd is not installed: ./dev test installs etcd-server"
    with own_cluster(tmp_path_factory.mktemp("etcdha"), workers=1, store="etcd") as cluster:
        assert cluster.local.load_balanced, "haproxy is not installed: ./dev test installs it"
        generate(cluster, "create", "deployment", "web", "-n", "default", "--image=kubeclass/hello:1", "--replicas=2")
        generate(cluster, "create", "configmap", "before", "-n", "default", "--from-literal=written=before")
        yield cluster


def holder(kc: Cluster, lease: str) -> str:
    return kjson(kc, "get", "lease", lease, "-n", "kube-system")["spec"]["holderIdentity"].split("_")[0]


def etcd_leader(kc: Cluster) -> str:
    """The master whose etcd member leads, as `etcdctl endpoint status` would say."""
    leader = timeline_sources.etcd_leader([(n, url) for n, url, _ in kc.local.topology.etcd_members()])
    assert leader, "etcd has no leader"
    return leader


def test_no_acknowledged_write_is_lost_when_the_etcd_leader_dies(kc: Cluster) -> None:
    """Writers through haproxy; the etcd leader SIGKILLed; then every create a client was
    told succeeded must be stored as sent, none refused may be, and the shared counter
    (compare-and-swap increments) must show no lost update."""
    member = f"etcd-{etcd_leader(kc)[-1]}"
    generate(kc, "create", "namespace", "acks")
    cert = (kc.local.credentials.path("pki", "admin.crt"), kc.local.credentials.path("pki", "admin.key"))
    try:
        ledger, killed = ackcheck.run(kc.server, cert, kc.ca, "acks", writers=4, seconds=10, disrupt_after=3,
                                      disrupt=lambda: kc.local.stop([member], lambda message: None, kill=True))
        verdict = ackcheck.check(ledger, kc.server, cert, kc.ca, "acks")
    finally:
        assert kc.local.up(lambda message: None)  # the member comes back
    assert verdict.ok, verdict
    assert verdict.acknowledged > 50, verdict.summary()
    after = [w for w in ledger.writes if w.outcome == "acknowledged" and w.sent > killed + 0.5]
    assert len(after) > 10, "writes did not resume after the leader died: " + verdict.summary()


KILLED: list[str] = []  # the masters these tests have killed, in order


def test_losing_one_master_costs_kubectl_at_most_one_request(kc: Cluster) -> None:
    failures: list[str] = []
    asked = [0]
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            result = kc.kubectl("get", "configmap", "before", "-o", "name", check=False, timeout=30)
            asked[0] += 1
            if result.returncode != 0:
                failures.append(result.stderr.strip())
            time.sleep(0.1)
    doomed = etcd_leader(kc)  # the worst master to lose: the store must elect a new leader too
    leases = {lease: holder(kc, lease) for lease in ("kube-controller-manager", "kube-scheduler")}
    timeline = Timeline(kc)
    asking = threading.Thread(target=ask, daemon=True)
    try:
        wait_for("the timeline to watch", timeline.started, 30)
        asking.start()
        time.sleep(1)
        kc.local.stop([doomed], lambda message: None, kill=True)  # its etcd member too
        KILLED.append(doomed)
        k(kc, "scale", "deployment/web", "--replicas=3")
        wait_for("3 ready replicas", lambda: len([p for p in pods(kc, "app=web", "default") if ready(p)]) == 3, 90)
        for lease in leases:
            wait_for(f"{lease} led from another master", lambda lease=lease: holder(kc, lease) != doomed, 30)
        wait_for("the timeline to show the new etcd leader", lambda: timeline.first("etcd leader elected") >= 0, 10)
        # a fast failover can be over within a few requests: ask some more, across it
        wait_for("kubectl asked more than ten times", lambda: asked[0] > 10, 30)
    finally:
        stop.set()
        asking.join(40)
        timeline.stop()
    assert asked[0] > 10 and len(failures) <= 1, failures
    assert timeline.first("process", f"{doomed} stopped (all it runs: etcd-") >= 0, timeline.text()
    assert timeline.in_order(("store", f"etcd member on {doomed} unreachable"),
                             ("store", f"etcd leader lost ({doomed}); 2 of 3 members reachable, 2 needed"),
                             ("store", "etcd leader elected: master-", "without one")), timeline.text()
    assert timeline.first("apiserver", f"apiserver-{doomed[-1]} not ready: not reachable") >= 0, timeline.text()
    for lease, was in leases.items():
        if was == doomed:
            assert timeline.first(lease, f"took the Lease from {doomed}") >= 0, timeline.text()


def test_without_quorum_writes_and_reads_fail_with_a_clear_status(kc: Cluster) -> None:
    second = next(m for m in ("master-1", "master-2", "master-3") if m not in KILLED)
    kc.local.stop([second], lambda message: None, kill=True)  # 1 of 3 members left
    KILLED.append(second)
    started = time.monotonic()
    write = kc.kubectl("apply", "-f", "-", check=False, timeout=60, input=k(
        kc, "create", "configmap", "during", "--from-literal=a=b", "--dry-run=client", "-o", "yaml"))
    took = time.monotonic() - started
    assert write.returncode != 0
    assert "(ServiceUnavailable)" in write.stderr and "etcd has lost quorum: 1 of 3 members reachable" in write.stderr
    assert took < 30, f"the answer took {took:.0f}s"
    read = kc.kubectl("get", "configmap", "before", check=False, timeout=60)
    assert read.returncode != 0 and "lost quorum" in read.stderr


def test_bringing_the_masters_back_resumes_everything(kc: Cluster) -> None:
    assert kc.local.up(lambda message: None)
    wait_for("writes to work again", lambda: kc.kubectl("apply", "-f", "-", check=False, input=k(
        kc, "create", "configmap", "after", "--from-literal=written=after", "--dry-run=client", "-o", "yaml"
    )).returncode == 0, 60)
    assert kjson(kc, "get", "configmap", "before")["data"] == {"written": "before"}  # nothing lost
    assert "NotFound" in kc.kubectl("get", "configmap", "during", check=False).stderr  # nothing half-written
    wait_for("every node Ready", lambda: all(
        line.split()[1] == "Ready" for line in k(kc, "get", "nodes", "--no-headers").splitlines()), 60)
    k(kc, "scale", "deployment/web", "--replicas=1")
    wait_for("1 replica", lambda: len(pods(kc, "app=web", "default")) == 1, 60)


def test_backup_then_delete_a_namespace_then_restore_brings_it_back(kc: Cluster) -> None:
    generate(kc, "create", "namespace", "precious")
    generate(kc, "create", "configmap", "data", "-n", "precious", "--from-literal=keep=me")
    saved = kubeclass(kc, "backup", "snap.etcd")
    assert saved.returncode == 0 and "etcd snapshot at revision" in saved.stderr, saved.stderr
    k(kc, "delete", "namespace", "precious", timeout=120)
    restored = kubeclass(kc, "restore", "snap.etcd")
    assert restored.returncode == 0 and "etcd.before-restore-" in restored.stderr, restored.stderr
    assert kjson(kc, "get", "configmap", "data", "-n", "precious")["data"] == {"keep": "me"}
    wait_for("every node Ready", lambda: all(
        line.split()[1] == "Ready" for line in k(kc, "get", "nodes", "--no-headers").splitlines()), 60)
    wrong = kubeclass(kc, "restore", "/etc/hostname")
    assert wrong.returncode == 1 and "is not an etcd snapshot" in wrong.stderr and "Traceback" not in wrong.stderr
