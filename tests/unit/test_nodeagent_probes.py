"""Probes against real local servers: handlers, thresholds, initial delay, startup gating."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from nodeagent.probes import PodProbes, ProbeWorker, Result, resolve_port, run_hook, run_probe


class Target:
    """A local HTTP server whose /healthz answers with ``code``."""

    def __init__(self) -> None:
        self.code = 200
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.paths.append(self.path)
                outer.headers.append(dict(self.headers))
                body = b"status"
                self.send_response(outer.code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target():
    t = Target()
    yield t
    t.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONTAINER = {"name": "web", "ports": [{"name": "http", "containerPort": 0}]}


def test_http_probe_success_failure_and_refused(target):
    probe = {"httpGet": {"path": "/healthz", "port": target.port, "httpHeaders": [{"name": "X-Probe", "value": "1"}]}}
    assert run_probe(probe, pod_ip="127.0.0.1", container=CONTAINER, exec_fn=None) == (True, "")
    assert target.paths == ["/healthz"] and target.headers[0]["X-Probe"] == "1"
    assert target.headers[0]["User-Agent"].startswith("kube-probe/")
    target.code = 302
    assert run_probe(probe, pod_ip="127.0.0.1", container=CONTAINER, exec_fn=None)[0]  # < 400 is success
    target.code = 500
    assert run_probe(probe, pod_ip="127.0.0.1", container=CONTAINER, exec_fn=None) == \
        (False, "HTTP probe failed with statuscode: 500")
    port = free_port()
    ok, message = run_probe({"httpGet": {"path": "/", "port": port}}, pod_ip="127.0.0.1", container=CONTAINER,
                            exec_fn=None)
    assert not ok and message == f'Get "http://127.0.0.1:{port}/": connect: connection refused'


def test_named_ports_resolve_from_the_container(target):
    container = {"name": "web", "ports": [{"name": "http", "containerPort": target.port}]}
    assert resolve_port("http", container) == target.port
    assert run_probe({"httpGet": {"path": "/", "port": "http"}}, pod_ip="127.0.0.1", container=container,
                     exec_fn=None)[0]
    ok, message = run_probe({"tcpSocket": {"port": "nope"}}, pod_ip="127.0.0.1", container=container, exec_fn=None)
    assert not ok and "unable to find port" in message


def test_tcp_probe(target):
    assert run_probe({"tcpSocket": {"port": target.port}}, pod_ip="127.0.0.1", container=CONTAINER, exec_fn=None)[0]
    port = free_port()
    assert run_probe({"tcpSocket": {"port": port}}, pod_ip="127.0.0.1", container=CONTAINER, exec_fn=None) == \
        (False, f"dial tcp 127.0.0.1:{port}: connect: connection refused")


def test_exec_probe_uses_the_exit_code_and_its_timeout():
    seen = []

    def exec_fn(argv, timeout):
        seen.append((argv, timeout))
        if argv[0] == "slow":
            raise TimeoutError
        return (0, "") if argv[0] == "true" else (1, "not ready\n")

    assert run_probe({"exec": {"command": ["true"]}, "timeoutSeconds": 3}, pod_ip="", container=CONTAINER,
                     exec_fn=exec_fn) == (True, "")
    assert run_probe({"exec": {"command": ["false"]}}, pod_ip="", container=CONTAINER, exec_fn=exec_fn) == \
        (False, "not ready")
    assert run_probe({"exec": {"command": ["slow"]}}, pod_ip="", container=CONTAINER, exec_fn=exec_fn) == \
        (False, "command timed out after 1s")
    assert seen[0] == (["true"], 3.0) and seen[1][1] == 1.0  # timeoutSeconds defaults to 1


def test_grpc_probes_say_they_are_unsupported():
    ok, message = run_probe({"grpc": {"port": 9000}}, pod_ip="127.0.0.1", container=CONTAINER, exec_fn=None)
    assert not ok and "not supported" in message


def worker(kind, probe, *, alive=lambda: True, startup_done=lambda: True, started=None):
    changes, failures = [], []
    w = ProbeWorker(kind, probe, container=CONTAINER, started=time.monotonic() if started is None else started,
                    pod_ip="127.0.0.1", exec_fn=None, alive=alive, startup_done=startup_done,
                    on_change=lambda: changes.append(w.result), on_failure=lambda k, m: failures.append(m))
    return w, changes, failures


def test_readiness_starts_failed_and_needs_success_threshold(target):
    w, changes, _ = worker("readiness", {"httpGet": {"port": target.port}, "successThreshold": 2})
    assert w.result == Result.FAILURE
    assert w.do_probe() and w.result == Result.FAILURE  # one success is below the threshold
    assert w.do_probe() and w.result == Result.SUCCESS
    assert changes == [Result.SUCCESS]


def test_liveness_failure_threshold_then_hold(target):
    w, changes, failures = worker("liveness", {"httpGet": {"port": target.port}, "failureThreshold": 3})
    assert w.result == Result.SUCCESS
    target.code = 500
    w.do_probe()
    w.do_probe()
    assert w.result == Result.SUCCESS and len(failures) == 2  # every failure is reported, state unchanged
    w.do_probe()
    assert w.result == Result.FAILURE and changes == [Result.FAILURE]
    target.code = 200
    w.do_probe()
    assert w.result == Result.FAILURE  # on hold until the container is replaced
    assert len(target.paths) == 3


def test_initial_delay_and_startup_gate(target):
    w, _, _ = worker("readiness", {"httpGet": {"port": target.port}, "initialDelaySeconds": 60})
    assert w.do_probe() and target.paths == []
    gate = {"done": False}
    w, _, _ = worker("liveness", {"httpGet": {"port": target.port}}, startup_done=lambda: gate["done"])
    w.do_probe()
    assert target.paths == []
    gate["done"] = True
    w.do_probe()
    assert target.paths == ["/"]


def test_startup_probe_stops_probing_after_success(target):
    w, _, _ = worker("startup", {"httpGet": {"port": target.port}})
    assert w.result == Result.UNKNOWN
    w.do_probe()
    w.do_probe()
    assert w.result == Result.SUCCESS and len(target.paths) == 1


def test_a_worker_ends_with_its_container(target):
    w, _, _ = worker("readiness", {"httpGet": {"port": target.port}}, alive=lambda: False)
    assert w.do_probe() is False


def test_worker_thread_probes_periodically_and_stops(target):
    probes = PodProbes()
    container = {"name": "web", "readinessProbe": {"httpGet": {"port": target.port}, "periodSeconds": 0.05}}
    made = []

    def make(kind, probe):
        w, _, _ = worker(kind, probe)
        made.append(w)
        return w

    probes.ensure(container, "id-1", make)
    probes.ensure(container, "id-1", make)  # the same attempt: nothing new
    deadline = time.monotonic() + 5
    while probes.result("web", "id-1", "readiness") != Result.SUCCESS and time.monotonic() < deadline:
        time.sleep(0.02)
    assert probes.result("web", "id-1", "readiness") == Result.SUCCESS and len(made) == 1
    assert probes.result("web", "id-2", "readiness") is None
    assert probes.result("web", "id-1", "liveness") is None
    probes.ensure(container, "id-2", make)  # a new attempt replaces the worker
    assert len(made) == 2 and probes.result("web", "id-2", "readiness") == Result.FAILURE
    probes.stop_all()
    count = len(target.paths)
    time.sleep(0.3)
    assert len(target.paths) <= count + 1


def test_hooks():
    calls = []
    assert run_hook({"exec": {"command": ["x"]}}, pod_ip="", container=CONTAINER, timeout=5,
                    exec_fn=lambda argv, t: calls.append(argv) or (0, "")) == ""
    assert run_hook({"exec": {"command": ["x"]}}, pod_ip="", container=CONTAINER, timeout=5,
                    exec_fn=lambda argv, t: (2, "boom")) == "boom"
    started = time.monotonic()
    assert run_hook({"sleep": {"seconds": 5}}, pod_ip="", container=CONTAINER, timeout=0.2, exec_fn=None) == ""
    assert time.monotonic() - started < 1  # a sleep never outlasts the grace period
