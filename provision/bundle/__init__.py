"""The offline bundle: everything a kubeclass host installs, in one file, for closed networks.

Data flow (B): inventory ─▶ playbook ─▶ executor ─▶ modules ─▶ host, and, for hosts with no
route to the internet, **bundle** (build on the controller, verify, extract on the host) ─▶
modules install from the unpacked files. The bundle is one tar
(``kubeclass-bundle-0.1.0-py311-bookworm-amd64.tar``):

    manifest.json          format, kubeclass version, target, every file with sha256 and size
    SHA256SUMS             the same hashes for ``sha256sum -c SHA256SUMS``
    wheels/*.whl           kubeclass and all its dependencies, for CPython 3.11 manylinux x86_64
                           (kubernetes_validate slimmed to the schemas kubeclass reads: `slim`)
    debs/*.deb             what the hosts' image lacks for etcd, haproxy, keepalived, python3-venv
    reference/dpkg-status  the hosts' dpkg status the deb set was computed against

On a host, after extracting: ``apt-get install --no-install-recommends ./debs/*.deb`` with no
package source configured (as `verify` checks it; stale package lists would make apt prefer
versions it cannot download), then
``python3 -m venv V && V/bin/pip install --no-index --find-links wheels kubeclass``.
The demo images (``kubeclass/hello`` ...) are programs inside the kubeclass wheel; the manifest
lists them under ``images``.

    build(output, reference_status=..., progress=print) -> Manifest      # on the controller
    verify(bundle) -> VerifyReport                                       # anywhere, offline
    extract(bundle, dest) -> Manifest                                    # on the host
"""

from provision.bundle.archive import extract
from provision.bundle.build import build
from provision.bundle.manifest import FileEntry, Manifest
from provision.bundle.proc import BundleError
from provision.bundle.target import default_name
from provision.bundle.verify import VerifyReport, verify

__all__ = ["BundleError", "FileEntry", "Manifest", "VerifyReport", "build", "default_name",
           "extract", "verify"]
