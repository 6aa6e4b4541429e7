"""The process runtime: pod sandboxes and containers, in the shape of the CRI.

Where it sits: below the pod sync (:mod:`nodeagent.sync`), which decides *what* should
run; this module knows *how*. Its verbs mirror the Container Runtime Interface kubelet
speaks to containerd, so a student can map one onto the other:

========================  =============================================================
CRI                       here
========================  =============================================================
RunPodSandbox             :meth:`ProcessRuntime.run_pod_sandbox`: pod directory, network
                          attachment (netns + veth, or a loopback address), /etc/hosts
StopPodSandbox            :meth:`ProcessRuntime.stop_pod_sandbox`: network and cgroups go
CreateContainer+Start     :meth:`ProcessRuntime.start_container`
StopContainer             :meth:`ContainerProcess.stop` (SIGTERM, grace, SIGKILL)
ExecSync                  :meth:`ProcessRuntime.exec_sync` (exec probes)
Exec                      :meth:`ProcessRuntime.exec_popen` (``kubectl exec``)
ContainerStats            :meth:`ProcessRuntime.sample` / :meth:`ProcessRuntime.usage`
========================  =============================================================

Where things live (``<data-dir>``, default ``~/.kubeclass/local/nodes/<node>``)::

    pods/<uid>/etc-hosts                      the pod's /etc/hosts
    pods/<uid>/volumes/...                    see nodeagent.volumes
    pods/<uid>/containers/<name>/<attempt>/   config.json (what sandbox.py executes), rootfs/
    logs/<ns>_<pod>_<uid>/<name>/<attempt>.log

Without cgroups the runtime itself enforces memory limits, from ``/proc``, in :meth:`sample`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from . import logs
from .cgroups import Cgroups, ContainerCgroup, ProcessGroupUsage
from .network import Attachment, PodNetwork
from .process import HELPER_ENV, ContainerConfig, ContainerProcess, StartError, helper_argv

log = logging.getLogger(__name__)

__all__ = ["ContainerConfig", "ContainerProcess", "ProcessRuntime", "Sandbox", "StartError"]


@dataclasses.dataclass
class Sandbox:
    uid: str
    namespace: str
    name: str
    hostname: str
    pod_dir: str
    ip: str
    netns: str | None
    hosts_file: str


def hosts_file(ip: str, hostname: str, aliases: list[dict[str, Any]]) -> str:
    """kubelet's managed /etc/hosts for a pod."""
    lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet", "fe00::0\tip6-mcastprefix",
             "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters", f"{ip}\t{hostname}"]
    if aliases:
        lines.append("")
        lines.append("# Entries added by HostAliases.")
        lines += [f"{a.get('ip')}\t{chr(9).join(a.get('hostnames') or [])}" for a in aliases]
    return "\n".join(lines) + "\n"


class ProcessRuntime:
    def __init__(self, data_dir: str, network: PodNetwork, cgroups: Cgroups | None, *, use_rootfs: bool,
                 node_name: str, host_ip: str = "127.0.0.1") -> None:
        self.data_dir = data_dir
        self.pods_dir = os.path.join(data_dir, "pods")
        self.logs_dir = os.path.join(data_dir, "logs")
        self.network = network
        self.cgroups = cgroups
        self.use_rootfs = use_rootfs
        self.node_name = node_name
        self.host_ip = host_ip
        self._running: dict[str, ContainerProcess] = {}
        self._lock = threading.Lock()

    # -- sandboxes -----------------------------------------------------------------

    def run_pod_sandbox(self, pod: dict[str, Any]) -> Sandbox:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        uid = meta["uid"]
        pod_dir = os.path.join(self.pods_dir, uid)
        os.makedirs(pod_dir, exist_ok=True)
        if spec.get("hostNetwork"):
            attachment = Attachment(self.host_ip)  # the node's own network: no namespace, the node's address
        else:
            attachment = self.network.add_pod(uid)
        hostname = spec.get("hostname") or meta["name"]
        hosts = os.path.join(pod_dir, "etc-hosts")
        with open(hosts, "w") as f:
            f.write(hosts_file(attachment.ip, hostname, spec.get("hostAliases") or []))
        return Sandbox(uid, meta.get("namespace", "default"), meta["name"], hostname[:63], pod_dir,
                       attachment.ip, attachment.netns, hosts)

    def stop_pod_sandbox(self, uid: str) -> None:
        """Release the pod's network and cgroups (its containers must be stopped already)."""
        self.network.remove_pod(uid)
        if self.cgroups is not None:
            self.cgroups.remove_pod(uid)

    def remove_pod(self, uid: str, namespace: str, name: str) -> None:
        """Forget a pod that is gone: its directory and its logs."""
        shutil.rmtree(os.path.join(self.pods_dir, uid), ignore_errors=True)
        shutil.rmtree(os.path.join(self.logs_dir, f"{namespace}_{name}_{uid}"), ignore_errors=True)

    # -- containers ----------------------------------------------------------------

    def remove_attempt(self, config: ContainerConfig) -> None:
        """Forget an old attempt: its log files and its directory."""
        for path in [config.log_path, *logs.rotated_files(config.log_path)]:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        shutil.rmtree(config.attempt_dir, ignore_errors=True)

    def container_cgroup(self, uid: str, name: str, attempt: int, *, memory_limit: int | None,
                         cpu_limit_millis: int | None, cpu_request_millis: int | None) -> ContainerCgroup | None:
        if self.cgroups is None:
            return None
        return self.cgroups.container(uid, f"{name}-{attempt}", memory_limit=memory_limit,
                                      cpu_limit_millis=cpu_limit_millis, cpu_request_millis=cpu_request_millis)

    def start_container(self, config: ContainerConfig,
                        on_exit: Callable[[ContainerProcess], None] | None = None) -> ContainerProcess:
        """Start one attempt; the result is terminated with StartError when it could not start."""

        def exited(cp: ContainerProcess) -> None:
            with self._lock:
                self._running.pop(cp.id, None)
            if on_exit is not None:
                on_exit(cp)

        cp = ContainerProcess(config, exited)
        try:
            cp.start()
        except StartError:
            return cp
        with self._lock:
            if not cp.exited.is_set():
                self._running[cp.id] = cp
        return cp

    def running(self) -> list[ContainerProcess]:
        with self._lock:
            return list(self._running.values())

    # -- exec ----------------------------------------------------------------------

    def _exec_spec(self, cp: ContainerProcess, argv: list[str], tty: bool) -> dict[str, Any]:
        c = cp.config
        return {"argv": argv, "env": c.env, "cwd": c.cwd or "/", "join": cp.pid, "tty": tty,
                "cgroups": c.cgroup.procs_files if c.cgroup and c.cgroup.pids() else [],
                "user": {"uid": c.uid, "gid": c.gid}}

    def exec_popen(self, cp: ContainerProcess, argv: list[str], *, tty: bool = False, stdin: bool = False
                   ) -> tuple[subprocess.Popen[bytes], int | None, int]:
        """Start ``argv`` inside a running container. Returns (process, pty master or None,
        error pipe to read for a start failure)."""
        if not cp.running:
            raise StartError(f'container "{cp.name}" is not running')
        spec_r, spec_w = os.pipe()
        err_r, err_w = os.pipe()
        spec = {**self._exec_spec(cp, argv, tty), "error_fd": err_w}
        master = None
        if tty:
            master, slave = os.openpty()
            stdio: dict[str, Any] = {"stdin": slave, "stdout": slave, "stderr": slave}
        else:
            stdio = {"stdin": subprocess.PIPE if stdin else subprocess.DEVNULL,
                     "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        try:
            popen = subprocess.Popen(helper_argv("--spec-fd", str(spec_r)), pass_fds=(spec_r, err_w),
                                     start_new_session=True, env=HELPER_ENV, cwd="/", **stdio)
        finally:
            os.close(spec_r)
            os.close(err_w)
            if tty:
                os.close(slave)
        data = json.dumps(spec).encode()
        threading.Thread(target=_write_and_close, args=(spec_w, data), daemon=True).start()
        return popen, master, err_r

    def exec_sync(self, cp: ContainerProcess, argv: list[str], timeout: float) -> tuple[int, str]:
        """Run a command in the container and wait (exec probes, preStop hooks).

        Returns (exit code, output); a timeout kills the command and raises TimeoutError."""
        popen, _, err_r = self.exec_popen(cp, argv)
        try:
            out, err = popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.communicate()
            raise TimeoutError(f"command {argv} timed out after {timeout:g}s") from None
        finally:
            with os.fdopen(err_r, "rb") as f:
                start_error = f.read().decode(errors="replace")
        if start_error:
            return 126, start_error
        return popen.returncode, (out + err).decode(errors="replace")

    # -- usage ---------------------------------------------------------------------

    def usage(self, cp: ContainerProcess, sessions: dict[int, tuple[int, int]] | None = None
              ) -> tuple[int, int, int]:
        """(CPU nanoseconds used so far, memory working set, RSS) of a running container."""
        if cp.config.cgroup is not None:
            _, working_set, rss = cp.config.cgroup.memory()
            return cp.config.cgroup.cpu_usage_ns(), working_set, rss
        sessions = ProcessGroupUsage.sessions() if sessions is None else sessions
        cpu, rss = sessions.get(cp.pid or -1, (0, 0))
        return cpu, rss, rss

    def sample(self) -> None:
        """Update every running container's CPU rate (for ``usageNanoCores``) and, without
        cgroups, kill containers over their memory limit (the kernel does it with cgroups)."""
        containers = self.running()
        sessions = ProcessGroupUsage.sessions() if any(c.config.cgroup is None for c in containers) else {}
        now = time.monotonic()
        for cp in containers:
            cpu, _, rss = self.usage(cp, sessions)
            if cp.cpu_sample is not None and now > cp.cpu_sample[0]:
                cp.nano_cores = max(0, int((cpu - cp.cpu_sample[1]) / (now - cp.cpu_sample[0])))
            cp.cpu_sample = (now, cpu)
            limit = cp.config.memory_limit
            if cp.config.cgroup is None and limit and rss > limit:
                log.info("container %s uses %d bytes, over its limit of %d: killing it", cp.name, rss, limit)
                cp.oom_killed = True
                cp.signal_all(signal.SIGKILL)


def _write_and_close(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data)
    except OSError:
        pass
    finally:
        os.close(fd)
