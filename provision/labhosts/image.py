"""The lab hosts' root image: a minimal Debian 12 made once by debootstrap, then cached.

Data flow (B, on one machine): **image** (debootstrap, once) ─▶ lab (an overlay per host)
─▶ systemd-nspawn boots it ─▶ sshd ─▶ the provisioning engine, as for any SSH host.

The image is what a fresh Vagrant box (debian/bookworm64) offers and nothing more:
systemd, sshd, sudo, python3 and iproute2, a `vagrant` user who may sudo without a
password, systemd-networkd to take the address the lab gives each host. No etcd, no
haproxy, no python3-venv: those travel with the provisioning, as on a real classroom's
fresh machines. Its dpkg status file is the reference the offline bundle is computed
against (what a fresh host lacks).

Building needs the Debian mirror (only here, on the controller machine; the hosts never
see it) and takes about a minute; the result lives in `cache_dir()` and is reused by every
lab, every test run and every bundle build. It is built in a temporary folder and renamed
into place, so an interrupted build leaves nothing half-made behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "sudo", "python3", "iproute2",
            "iputils-ping", "procps", "netbase", "ca-certificates")
USER = "vagrant"

Progress = Callable[[str], None]


class ImageError(Exception):
    """The image could not be built; the message says what to do."""


def cache_dir() -> Path:
    """Where built images live (root-owned, shared by every lab on this machine)."""
    return Path(os.environ.get("KUBECLASS_IMAGE_CACHE", "/var/cache/kubeclass/images"))


def recipe() -> str:
    """What the image is made of; a change makes a new image next to the old one."""
    text = "\n".join([SUITE, MIRROR, *PACKAGES, USER, "v1"])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def image_root() -> Path:
    return cache_dir() / f"debian-{SUITE}-{recipe()}" / "root"


def reference_status(progress: Progress = lambda _: None) -> Path:
    """The dpkg status of a fresh host: what the offline bundle is computed against
    (the image is built first if this machine has none yet)."""
    return ensure_image(progress) / "var" / "lib" / "dpkg" / "status"


def ensure_image(progress: Progress = lambda _: None, mirror: str = MIRROR) -> Path:
    """The image's root folder, built first if this machine has none yet."""
    root = image_root()
    if (root.parent / "complete").exists():
        return root
    missing = [tool for tool in ("debootstrap", "systemd-nspawn") if not shutil.which(tool)]
    if missing:
        raise ImageError(f"{' and '.join(missing)} not found: install them with "
                         "`apt-get install debootstrap systemd-container`")
    if os.geteuid() != 0:
        raise ImageError("building the lab host image needs root (debootstrap): run it with sudo")
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another lab may be building it right now
        if not (root.parent / "complete").exists():
            _build(root, progress, mirror)
    return root


def _build(root: Path, progress: Progress, mirror: str) -> None:
    work = root.parent / "root.partial"
    shutil.rmtree(work, ignore_errors=True)
    progress(f"building the lab host image (debootstrap {SUITE}, once; about a minute)")
    argv = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
            str(work), mirror]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-5:]
        if line.startswith("I: "):
            progress(f"image: {line[3:].strip()}")
    if proc.wait() != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise ImageError(f"debootstrap failed ({tail[-1] if tail else 'no output'}); "
                         f"is {mirror} reachable from this machine?")
    progress("image: adding the vagrant user and the network settings")
    _customize(work)
    shutil.rmtree(root, ignore_errors=True)
    work.rename(root)
    (root.parent / "complete").write_text(recipe() + "\n")


def _customize(root: Path) -> None:
    """What makes the bare root behave like a Vagrant box in a private network."""
    def chroot(*argv: str) -> None:
        subprocess.run(["chroot", str(root), *argv], check=True, capture_output=True)

    chroot("useradd", "--create-home", "--shell", "/bin/bash", USER)
    (root / "etc/sudoers.d/vagrant").write_text(f"{USER} ALL=(ALL) NOPASSWD:ALL\n")
    (root / "etc/sudoers.d/vagrant").chmod(0o440)
    chroot("systemctl", "enable", "systemd-networkd.service", "ssh.service")
    # Each host makes its own keys when the lab creates it; a shared key would be a lie.
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/ssh/sshd_config.d/kubeclass-lab.conf").write_text(
        "PasswordAuthentication no\nPermitRootLogin no\nUseDNS no\n")
    # /etc/apt/sources.list stays as on a real box: a task that runs `apt-get update` tries
    # the mirror, finds no route, and fails with its name in the recap.
    (root / "etc/hostname").write_text("labhost\n")
    # The console getty only fights nspawn's passive console.
    chroot("systemctl", "mask", "console-getty.service", "getty@tty1.service")
