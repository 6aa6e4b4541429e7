"""The hosts a bundle is for: Debian 12 (bookworm) on amd64 with its CPython 3.11.

Data flow (B): inventory ─▶ playbook ─▶ ... ─▶ **bundle** (build on the controller, verify,
extract on the host). Every part of the bundle code asks this module what the hosts are, so
that pip picks wheels and apt picks debs the hosts can install. Nothing here has side effects.
"""

from __future__ import annotations

PYTHON = "cp311"
PYTHON_VERSION = "3.11"
DEBIAN = "bookworm"
ARCH = "amd64"
MACHINE = "x86_64"
GLIBC_MINOR = 36  # Debian 12 ships glibc 2.36
PLATFORM = f"manylinux_2_{GLIBC_MINOR}_{MACHINE}"

# pip accepts only the platform tags it is given (it does not widen manylinux_2_36 to older
# manylinux tags by itself), so the whole compatible range is spelled out, newest first.
# linux_x86_64 covers wheels built on the controller from source-only packages.
PLATFORMS: tuple[str, ...] = (
    *(f"manylinux_2_{minor}_{MACHINE}" for minor in range(GLIBC_MINOR, 4, -1)),
    f"manylinux2014_{MACHINE}", f"manylinux2010_{MACHINE}", f"manylinux1_{MACHINE}",
    f"linux_{MACHINE}",
)

# What the hosts need from Debian beyond their minimal image (apt adds the dependencies).
DEB_PACKAGES: tuple[str, ...] = ("etcd-server", "etcd-client", "haproxy", "keepalived", "python3-venv")

# Security updates are included: a host that gets them from the bundle is as patched as one
# that ran apt-get upgrade. The keyring comes with Debian's debian-archive-keyring package.
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
APT_SOURCES: tuple[str, ...] = (
    f"deb [signed-by={KEYRING}] http://deb.debian.org/debian {DEBIAN} main",
    f"deb [signed-by={KEYRING}] http://deb.debian.org/debian {DEBIAN}-updates main",
    f"deb [signed-by={KEYRING}] http://deb.debian.org/debian-security {DEBIAN}-security main",
)

SIZE_TARGET = 60_000_000  # bytes; the bundle has to fit a slow classroom copy


def as_dict() -> dict[str, str]:
    """The manifest's ``target`` block."""
    return {"python": PYTHON, "platform": PLATFORM, "debian": DEBIAN, "arch": ARCH}


def pip_target_args() -> list[str]:
    """pip options that select wheels for the hosts rather than for the running Python."""
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", PYTHON_VERSION,
            "--abi", PYTHON]
    for platform in PLATFORMS:
        args += ["--platform", platform]
    return args


def default_name(version: str, compression: str = "") -> str:
    """``kubeclass-bundle-0.1.0-py311-bookworm-amd64.tar`` (``.tar.gz``/``.tar.xz`` if compressed)."""
    suffix = f".tar.{compression}" if compression else ".tar"
    return f"kubeclass-bundle-{version}-py{PYTHON_VERSION.replace('.', '')}-{DEBIAN}-{ARCH}{suffix}"
