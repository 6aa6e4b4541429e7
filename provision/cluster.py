"""`kubeclass provision`: prepare on this machine, then run a cluster playbook on the hosts.

Data flow (B): inventory ─▶ **cluster** (1. the bundle: the one given, verified, or one
built now; 2. the PKI and every host's files, `clusterpki`; 3. the variables the
playbooks use) ─▶ executor (hosts in parallel) ─▶ recap ─▶ the admin kubeconfig merged
into the user's.

Everything the hosts receive is on this machine before the first SSH connection, so the
run is the same with or without a network here: with `--bundle FILE` nothing at all is
downloaded. The cluster's files live in the *cluster folder* (by default `cluster/`
next to the inventory): `pki/`, `hosts/NAME/`, `bundle/`, the JSON log of each run,
and `admin.kubeconfig` as the cluster playbook fetched it back from the first master
(`/etc/kubeclass/admin.kubeconfig` there, like kubeadm's admin.conf; it is made here,
where the CA's key stays, and travels out and back like every other host file).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pki import kubeconfig
from provision import bundle as bundles
from provision import inventory as inventory_mod
from provision import playbook as playbook_mod
from provision.clusterpki import ClusterPKI, cluster_vars, host_vars
from provision.inventory import Inventory

PLAYBOOKS = Path(__file__).parent / "playbooks"
Progress = Callable[[str], None]


class ProvisionError(Exception):
    """The run cannot start; the message says what to do."""


@dataclass
class Prepared:
    inventory: Inventory
    playbook: playbook_mod.Playbook
    cluster_dir: Path
    bundle: Path
    pki: ClusterPKI
    cluster: dict[str, Any]


def playbook_path(name: str) -> Path:
    """A playbook shipped with kubeclass (`cluster`, `add-worker`, ...) or a file."""
    shipped = PLAYBOOKS / f"{name}.yml"
    if shipped.exists():
        return shipped
    path = Path(name)
    if path.exists():
        return path
    names = ", ".join(sorted(p.stem for p in PLAYBOOKS.glob("*.yml")))
    raise ProvisionError(f"no playbook {name!r}: use one of kubeclass's ({names}) or a file path")


def prepare(inventory_path: Path, playbook: str, *, cluster_dir: Path | None = None,
            bundle: Path | None = None, reference_status: Callable[[], Path] | None = None,
            progress: Progress = lambda _: None) -> Prepared:
    inv = inventory_mod.load(inventory_path)
    book = playbook_mod.load(playbook_path(playbook))
    cdir = cluster_dir or inventory_path.resolve().parent / "cluster"
    cdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    cv = cluster_vars(inv)
    bundle_file, manifest, digest = _bundle(cdir, bundle, reference_status, progress)
    progress("the cluster's certificates and kubeconfigs")
    pki = ClusterPKI(cdir, inv, cv)
    pki.ensure()
    extra = {**cv, "cluster_dir": str(cdir), "bundle_file": str(bundle_file),
             "admin_kubeconfig": kubeconfig.dump(pki.admin_kubeconfig()),
             "bundle_id": digest[:16],
             "kubeclass_version": manifest.kubeclass_version,
             "cluster_id": hashlib.sha256(cv["cluster_name"].encode()).hexdigest()[:4],
             "vrrp_router_id": 1 + int(hashlib.sha256(cv["cluster_vip"].encode()).hexdigest(), 16) % 254}
    per_host = host_vars(inv, cv)
    hosts = {name: replace(h, vars={**extra, "address": h.address, **per_host[name], **h.vars})
             for name, h in inv.hosts.items()}
    return Prepared(replace(inv, hosts=hosts), book, cdir, bundle_file, pki, cv)


def _bundle(cdir: Path, given: Path | None, reference_status: Callable[[], Path] | None,
            progress: Progress) -> tuple[Path, bundles.Manifest, str]:
    """The bundle to copy, its manifest and its sha256: the one given (verified in full,
    offline, the first time this cluster sees it; then checked intact), the one built here
    before (checked intact), or one built now."""
    if given is not None:
        if not given.exists():
            raise ProvisionError(f"no bundle at {given}: build one with `kubeclass bundle build`")
        stamp, digest = cdir / "bundle-verified", _sha256(given)
        if stamp.exists() and stamp.read_text().strip() == digest:  # the very same file
            return given, _verified(given, bundles.verify(given, dry_runs=False)), digest
        progress(f"verifying the bundle {given.name} (offline)")
        manifest = _verified(given, bundles.verify(given))
        stamp.write_text(digest + "\n")
        return given, manifest, digest
    built = sorted((cdir / "bundle").glob("kubeclass-bundle-*.tar*"))
    if built and not _stale(built[-1]):
        manifest = _verified(built[-1], bundles.verify(built[-1], dry_runs=False))
        return built[-1], manifest, _sha256(built[-1])
    if reference_status is None:
        raise ProvisionError("no bundle: pass --bundle FILE (made by `kubeclass bundle build`)")
    (cdir / "bundle").mkdir(exist_ok=True)
    for old in built:
        old.unlink()
    progress("building the bundle on this machine (packages and wheels for the hosts)")
    try:
        manifest = bundles.build(cdir / "bundle", reference_status=reference_status(),
                                 progress=progress)
    except bundles.BundleError as exc:
        raise ProvisionError(str(exc)) from None
    made = sorted((cdir / "bundle").glob("kubeclass-bundle-*.tar*"))[-1]
    return made, manifest, _sha256(made)


def _verified(path: Path, report: bundles.VerifyReport) -> bundles.Manifest:
    if not report.ok or report.manifest is None:
        raise ProvisionError(f"the bundle {path} cannot be used: "
                             f"{report.problems[0] if report.problems else 'no manifest'}")
    return report.manifest


def _stale(bundle_file: Path) -> bool:
    """A bundle built here before kubeclass's own code last changed (a developer's checkout)."""
    newest = max((p.stat().st_mtime for pkg in ("controlplane", "nodeagent", "provision", "pki")
                  for p in (PLAYBOOKS.parent.parent / pkg).rglob("*.py")), default=0.0)
    return bundle_file.stat().st_mtime < newest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
