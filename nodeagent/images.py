"""Images: what program a container's ``image`` names, since kubeclass pulls no images.

Where it sits: the pod sync asks :func:`resolve` for every container before it starts
it. There are no image registries and no root filesystems here; an image is one of:

* a **kubeclass program**, shipped in ``nodeagent/images/`` and run with the agent's
  own Python: ``kubeclass/hello:1`` and ``:2`` (an HTTP server that says its version
  and pod name), ``kubeclass/crashloop`` (exits 1 after a few seconds),
  ``kubeclass/cpuburner`` (burns the CPU it is told to, for the autoscaling lab),
  ``kubeclass/echo`` (echoes HTTP requests and TCP lines);
* **any other image with a ``command``**: the command runs as a program of this host
  (``busybox`` pods with ``command: [sh, -c, ...]`` work, because the host has ``sh``);
* any other image **without** a command: it cannot run, and the container waits with
  reason ``ImageNotRunnable`` and a message that says what to do.

``imageID`` is ``<image>@sha256:<digest of the program file>`` for kubeclass programs, and
a digest of the name for host programs: it changes exactly when what runs changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys

IMAGES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")
NOT_RUNNABLE = "ImageNotRunnable"

# name (without registry and tag) -> (script, {tag: extra entrypoint arguments}); None = any tag
PROGRAMS: dict[str, tuple[str, dict[str, list[str]] | None]] = {
    "kubeclass/hello": ("hello.py", {"1": ["--version", "1"], "2": ["--version", "2"],
                                     "latest": ["--version", "2"]}),
    "kubeclass/crashloop": ("crashloop.py", None),
    "kubeclass/cpuburner": ("cpuburner.py", None),
    "kubeclass/echo": ("echo.py", None),
}

# Hints for images students try first; they cannot run here without a command.
HINTS = {
    "nginx": "there is no nginx here: kubeclass/hello:1 is a small web server (it listens on $PORT, "
             "default 8080)",
    "httpd": "there is no httpd here: kubeclass/hello:1 is a small web server (it listens on $PORT, "
             "default 8080)",
    "busybox": 'busybox tools run from this host: give a command, e.g. command: ["sh", "-c", "sleep 3600"]',
    "alpine": 'alpine tools run from this host: give a command, e.g. command: ["sh", "-c", "sleep 3600"]',
    "ubuntu": 'give a command, e.g. command: ["sleep", "infinity"]',
    "debian": 'give a command, e.g. command: ["sleep", "infinity"]',
    "python": 'the host\'s Python runs it: give a command, e.g. command: ["python3", "-m", "http.server", "8000"]',
    "redis": "there is no redis here: try kubeclass/echo, which answers on TCP as well as HTTP",
}


@dataclasses.dataclass(frozen=True)
class Image:
    """What to run for a container: ``entrypoint`` (the image's ENTRYPOINT; empty for host
    programs), whether it can run at all, and if not, why."""

    name: str
    image_id: str
    entrypoint: tuple[str, ...] = ()
    runnable: bool = True
    reason: str = ""
    message: str = ""

    def argv(self, command: list[str], args: list[str]) -> list[str]:
        """Docker's rule: ``command`` replaces ENTRYPOINT, ``args`` replace CMD."""
        if command:
            return [*command, *args]
        return [*self.entrypoint, *args]


def split_reference(image: str) -> tuple[str, str]:
    """``docker.io/kubeclass/hello:1`` -> (``kubeclass/hello``, ``1``); the tag defaults to latest."""
    ref = image.split("@", 1)[0]
    name, tag = ref, "latest"
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
    for registry in ("docker.io/library/", "docker.io/", "index.docker.io/"):
        name = name.removeprefix(registry)
    return name, tag


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def resolve(image: str, has_command: bool) -> Image:
    name, tag = split_reference(image)
    program = PROGRAMS.get(name)
    if program is not None:
        script, tags = program
        if tags is not None and tag not in tags:
            return Image(image, "", runnable=False, reason=NOT_RUNNABLE,
                         message=f'kubeclass has no tag "{tag}" of {name}: use one of '
                                 f'{", ".join(f"{name}:{t}" for t in tags)}')
        path = os.path.join(IMAGES_DIR, script)
        with open(path, "rb") as f:
            digest = _digest(f.read())
        extra = (tags or {}).get(tag, [])
        return Image(image, f"{name}@{digest}", (sys.executable, "-u", path, *extra))
    image_id = f"{name}@{_digest(image.encode())}"
    if has_command:
        return Image(image, image_id)
    hint = HINTS.get(name.rsplit("/", 1)[-1], "")
    message = (f'image "{image}" cannot run here: kubeclass runs containers as processes of the node and '
               f"pulls no images, so a container needs a command (run on the host) or one of the kubeclass "
               f"programs ({', '.join(sorted(PROGRAMS))})")
    if hint:
        message += f"; {hint}"
    return Image(image, image_id, runnable=False, reason=NOT_RUNNABLE, message=message)


def shipped_images() -> list[dict[str, object]]:
    """The Node's ``status.images``: what this node can run without pulling."""
    result = []
    for name, (script, tags) in sorted(PROGRAMS.items()):
        path = os.path.join(IMAGES_DIR, script)
        with open(path, "rb") as f:
            data = f.read()
        names = [f"{name}@{_digest(data)}"] + [f"{name}:{t}" for t in (tags or {"latest": []})]
        result.append({"names": names, "sizeBytes": len(data)})
    return result
