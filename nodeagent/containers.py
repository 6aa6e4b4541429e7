"""From a container in a pod spec to a process that can be started: kubelet's
``generateContainerConfig``.

Where it sits: the pod sync (:mod:`nodeagent.sync`) calls :func:`container_config` each
time it starts a container attempt. It gathers, in order:

1. the image (:mod:`nodeagent.images`): which program, or why none can run;
2. the environment (:mod:`nodeagent.envvars`) and, from it, ``command``/``args`` with
   ``$(VAR)`` expanded; a runtime adds ``PATH``, ``HOSTNAME`` (the pod's hostname) and
   ``POD_IP`` (how a program learns which address is its own) unless the pod sets them;
3. the mounts (:mod:`nodeagent.volumes`) plus the pod's ``/etc/hosts``;
4. limits for the cgroup (``limits.memory``, ``limits.cpu``, ``requests.cpu``) and the
   user (``securityContext.runAsUser``/``runAsGroup``, honoured when the agent is root).

Failures are the waiting reasons a student sees in ``kubectl get pods``:
``ImageNotRunnable`` (:class:`NotRunnable`) and ``CreateContainerConfigError``
(:class:`~nodeagent.envvars.ConfigError`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from typing import Any

from . import envvars, images, quantity
from .process import ContainerConfig
from .runtime import ProcessRuntime, Sandbox
from .volumes import Mount, PodVolumes

Obj = dict[str, Any]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class NotRunnable(Exception):
    def __init__(self, image: images.Image) -> None:
        super().__init__(image.message)
        self.image = image


def limits(container: Obj) -> tuple[int | None, int | None, int | None]:
    """(memory limit bytes, CPU limit millicores, CPU request millicores)."""
    resources = container.get("resources") or {}
    lim, req = resources.get("limits") or {}, resources.get("requests") or {}
    memory = quantity.to_bytes(lim["memory"]) if lim.get("memory") else None
    cpu = quantity.millicores(lim["cpu"]) if lim.get("cpu") else None
    cpu_request = quantity.millicores(req["cpu"]) if req.get("cpu") else cpu
    return memory, cpu, cpu_request


def run_as(pod: Obj, container: Obj) -> tuple[int | None, int | None]:
    if os.geteuid() != 0:
        return None, None  # an unprivileged agent runs everything as itself
    pod_ctx = (pod.get("spec") or {}).get("securityContext") or {}
    ctx = container.get("securityContext") or {}
    uid = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
    gid = ctx.get("runAsGroup", pod_ctx.get("runAsGroup"))
    return uid, gid


def container_config(runtime: ProcessRuntime, sandbox: Sandbox, pod: Obj, container: Obj, attempt: int, *,
                     volumes: PodVolumes, source: envvars.ObjectSource, host_ip: str,
                     allocatable: dict[str, str], warn: Callable[[str], None]) -> tuple[ContainerConfig, images.Image]:
    """Raises NotRunnable, envvars.ConfigError or volumes.MountError."""
    meta = pod["metadata"]
    name = container["name"]
    image = images.resolve(container.get("image") or "", bool(container.get("command")))
    if not image.runnable:
        raise NotRunnable(image)
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": sandbox.hostname, "POD_IP": sandbox.ip}
    env.update(envvars.make_environment(pod, container, source, pod_ip=sandbox.ip, host_ip=host_ip,
                                        allocatable=allocatable, warn=warn))
    command, args = envvars.expand_command(container, env)
    argv = image.argv(command, args)
    mounts = volumes.mounts(container, env)
    if not any(m.target.rstrip("/") == "/etc/hosts" for m in mounts):
        mounts.append(Mount(sandbox.hosts_file, "/etc/hosts", False))
    memory, cpu, cpu_request = limits(container)
    cgroup = runtime.container_cgroup(meta["uid"], name, attempt, memory_limit=memory, cpu_limit_millis=cpu,
                                      cpu_request_millis=cpu_request)
    uid, gid = run_as(pod, container)
    config = ContainerConfig(
        id=secrets.token_hex(32), pod_uid=meta["uid"], name=name, attempt=attempt,
        image=container.get("image") or "", image_id=image.image_id, argv=argv, env=env,
        log_path=os.path.join(runtime.logs_dir, f"{meta.get('namespace', 'default')}_{meta['name']}_{meta['uid']}",
                              name, f"{attempt}.log"),
        attempt_dir=os.path.join(sandbox.pod_dir, "containers", name, str(attempt)),
        cwd=container.get("workingDir") or "", mounts=mounts, hostname=sandbox.hostname, netns=sandbox.netns,
        use_rootfs=runtime.use_rootfs, cgroup=cgroup, uid=uid, gid=gid, memory_limit=memory,
    )
    return config, image
