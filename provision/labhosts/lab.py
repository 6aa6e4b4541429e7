"""A lab: machine-like hosts on this machine, each a systemd-nspawn container with sshd.

Data flow (B, on one machine): `kubeclass labhosts up` ─▶ **lab** (image + network + one
overlay and one systemd-nspawn per host) ─▶ inventory.yaml ─▶ `kubeclass provision`.

Each host boots the cached image (`image.py`) through an overlay, so it has its own
filesystem (its changes go to `<home>/hosts/NAME/upper`, about 10 MB at first), its own
systemd as PID 1, its own hostname, machine id, SSH host keys and address on the lab
bridge, and a `vagrant` user who logs in with the lab's key and may sudo: a fresh VM as
far as SSH can tell. Stopping a host (`stop`) is a clean poweroff, or with `kill=True` a
power cut; `up` starts it again with its disk as it was, like a VM. `down` removes all.

Everything the lab made is recorded under its home (`lab.json`, pid files), so `status`,
`stop` and `down` work from any later command. Needs root (mounts, bridges, nspawn).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from provision.labhosts import image, network, sshkey

Progress = Callable[[str], None]
BOOT_TIMEOUT = 60.0  # seconds for every host's sshd to answer
STOP_TIMEOUT = 15.0


class LabError(Exception):
    """The lab cannot do what was asked; the message says what to do."""


@dataclass(frozen=True)
class LabHost:
    name: str  # master-1, worker-2: also its hostname
    group: str  # masters | workers
    address: str


def default_home(name: str = "lab") -> Path:
    base = os.environ.get("KUBECLASS_LABHOSTS_HOME") or os.path.join(
        os.path.expanduser("~"), ".kubeclass", "labhosts")
    return Path(base) / name


def plan(subnet: str, masters: int, workers: int) -> list[LabHost]:
    """Host names and addresses: masters .11.., workers .21.. (.10 is the virtual IP)."""
    if not 1 <= masters <= 9 or not 0 <= workers <= 70:
        raise LabError("a lab has 1 to 9 masters and 0 to 70 workers")
    base = ipaddress.ip_network(subnet).network_address
    return ([LabHost(f"master-{i}", "masters", str(base + 10 + i)) for i in range(1, masters + 1)]
            + [LabHost(f"worker-{i}", "workers", str(base + 20 + i)) for i in range(1, workers + 1)])


class Lab:
    def __init__(self, home: Path | str | None = None) -> None:
        self.home = Path(home) if home else default_home()
        self.name = self.home.name
        self.ident = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:6]
        self.bridge = f"kcl{self.ident}"

    # -- what the lab is --------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.home / "lab.json"

    @property
    def inventory_path(self) -> Path:
        return self.home / "inventory.yaml"

    @property
    def key_path(self) -> Path:
        return self.home / "id_ed25519"

    def exists(self) -> bool:
        return self.state_file.exists()

    def state(self) -> dict:
        if not self.exists():
            raise LabError(f"no lab at {self.home}: make one with `kubeclass labhosts up`")
        return json.loads(self.state_file.read_text())

    def hosts(self) -> list[LabHost]:
        return [LabHost(**h) for h in self.state()["hosts"]]

    def host(self, name: str) -> LabHost:
        for h in self.hosts():
            if h.name == name:
                return h
        names = ", ".join(h.name for h in self.hosts())
        raise LabError(f"the lab has no host {name!r} (it has {names})")

    def vip(self) -> str:
        return str(ipaddress.ip_network(self.state()["subnet"]).network_address + 10)

    def _dir(self, host: LabHost) -> Path:
        return self.home / "hosts" / host.name

    def _machine(self, host: LabHost) -> str:
        return f"kc{self.ident}-{host.name}"

    # -- up ---------------------------------------------------------------------------

    def up(self, *, masters: int | None = None, workers: int | None = None, subnet: str | None = None,
           progress: Progress = lambda _: None) -> list[str]:
        """Make what is missing and start what is stopped; the names of hosts started.
        A new lab has 3 masters and 2 workers unless told; an existing one keeps its hosts
        and grows to `masters`/`workers` when they are given."""
        if os.geteuid() != 0:
            raise LabError("lab hosts need root (mounts, a bridge, systemd-nspawn): run with sudo")
        root = image.ensure_image(progress)
        self.home.mkdir(parents=True, exist_ok=True)
        with network.allocation_lock():
            state = json.loads(self.state_file.read_text()) if self.exists() else {}
            subnet = state.get("subnet") or subnet or network.free_subnet()
            old = [LabHost(**h) for h in state.get("hosts", [])]
            if masters is None:
                masters = sum(h.group == "masters" for h in old) or 3
            if workers is None:
                workers = sum(h.group == "workers" for h in old) if old else 2
            hosts = plan(subnet, masters, workers)
            known = {h.name for h in old}
            hosts += [h for h in old if h.name not in {x.name for x in hosts}]  # never forget one
            self.state_file.write_text(json.dumps(
                {"name": self.name, "subnet": subnet, "bridge": self.bridge,
                 "hosts": [asdict(h) for h in hosts]}, indent=2) + "\n")
            network.create_bridge(self.bridge, subnet)
        sshkey.ensure(self.key_path)
        self._write_inventory()
        started = []
        for h in hosts:
            if self.running(h):
                continue
            progress(f"starting {h.name} ({h.address})" + ("" if h.name in known else ", new"))
            self._prepare(h, root)
            self._spawn(h)
            started.append(h.name)
        self._wait_for_ssh([h for h in hosts if h.name in started], progress)
        return started

    def _prepare(self, host: LabHost, root: Path) -> None:
        """Mount the host's overlay; on its first boot give it its identity."""
        d = self._dir(host)
        merged = d / "root"
        for sub in ("upper", "work", "root"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        if not os.path.ismount(merged):
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            f"lowerdir={root},upperdir={d / 'upper'},workdir={d / 'work'}",
                            str(merged)], check=True, capture_output=True)
        if (d / "identity").exists():
            return
        prefix = ipaddress.ip_network(self.state()["subnet"]).prefixlen
        (merged / "etc/hostname").write_text(host.name + "\n")
        (merged / "etc/machine-id").write_text(secrets.token_hex(16) + "\n")
        (merged / "etc/hosts").write_text(
            "127.0.0.1 localhost\n" + f"127.0.1.1 {host.name}\n"
            + "".join(f"{h.address} {h.name}\n" for h in self.hosts()))
        (merged / "etc/systemd/network").mkdir(parents=True, exist_ok=True)
        # No Gateway=: the lab network is all a host can reach.
        (merged / "etc/systemd/network/10-host0.network").write_text(
            f"[Match]\nName=host0\n\n[Network]\nAddress={host.address}/{prefix}\n")
        subprocess.run(["chroot", str(merged), "ssh-keygen", "-A"], check=True, capture_output=True)
        sshkey.authorize(merged, image.USER, self.key_path.with_suffix(".pub").read_text())
        (d / "identity").write_text(host.address + "\n")

    def _spawn(self, host: LabHost) -> None:
        d = self._dir(host)
        argv = ["systemd-nspawn", "--boot", f"--directory={d / 'root'}",
                f"--machine={self._machine(host)}", f"--hostname={host.name}",
                "--keep-unit", "--register=no", "--console=passive", "--resolv-conf=off",
                f"--network-bridge={self.bridge}"]
        with open(d / "console.log", "ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
        leader = _wait_for_child(proc.pid)
        (d / "pid").write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
        (d / "leader").write_text(f"{leader} {_start_time(leader)}\n" if leader else "")

    def _wait_for_ssh(self, hosts: list[LabHost], progress: Progress) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        waiting = list(hosts)
        while waiting:
            waiting = [h for h in waiting if not _port_open(h.address, 22)]
            if not waiting:
                break
            for h in waiting:
                if not self.running(h):
                    raise LabError(f"{h.name} stopped while booting: see {self._dir(h) / 'console.log'}")
            if time.monotonic() > deadline:
                raise LabError(f"sshd did not answer within {BOOT_TIMEOUT:.0f}s on "
                               + ", ".join(h.name for h in waiting)
                               + f": see {self.home}/hosts/*/console.log")
            progress("waiting for sshd on " + ", ".join(h.name for h in waiting))
            time.sleep(0.2)

    # -- state ------------------------------------------------------------------------

    def pid(self, host: LabHost) -> int | None:
        """The host's systemd-nspawn, if it is running (a recycled pid does not count)."""
        return _recorded(self._dir(host) / "pid")

    def leader(self, host: LabHost) -> int | None:
        """The host's PID 1 (its systemd) as this machine numbers it, while it lives."""
        return _recorded(self._dir(host) / "leader")

    def running(self, host: LabHost) -> bool:
        return self.pid(host) is not None

    def status(self) -> list[dict]:
        return [{"name": h.name, "group": h.group, "address": h.address,
                 "running": self.running(h),
                 "ssh": self.running(h) and _port_open(h.address, 22)}
                for h in self.hosts()]

    # -- stop and down ----------------------------------------------------------------

    def stop(self, name: str, *, kill: bool = False) -> bool:
        """Power a host off (or cut its power with kill=True); False if it was not running."""
        host = self.host(name)
        pid = self.pid(host)
        if pid is None:
            return False
        # nspawn turns SIGTERM into a clean shutdown of the host's systemd. A power cut is
        # SIGKILL to the host's PID 1: the kernel then kills everything in its PID namespace
        # at once (killing nspawn alone would leave the host running, orphaned).
        leader = self.leader(host)
        if kill and leader:
            _signal(leader, signal.SIGKILL)
        else:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        for straggler in (leader, pid):
            if straggler:
                _signal(straggler, signal.SIGKILL)
        (self._dir(host) / "pid").unlink(missing_ok=True)
        return True

    def down(self, progress: Progress = lambda _: None) -> None:
        """Stop every host and remove all the lab made: disks, bridge, home."""
        if not self.exists():
            return
        state = self.state()
        for h in self.hosts():
            if self.running(h):
                progress(f"stopping {h.name}")
                self.stop(h.name)
        for h in self.hosts():
            merged = self._dir(h) / "root"
            leader = self.leader(h)  # a host whose nspawn was killed by hand lives on
            if leader:
                _signal(leader, signal.SIGKILL)
                _wait_gone(leader)
            if os.path.ismount(merged):
                subprocess.run(["umount", str(merged)], check=False, capture_output=True)
                if os.path.ismount(merged):
                    subprocess.run(["umount", "-l", str(merged)], check=False, capture_output=True)
        network.delete_bridge(state.get("bridge", self.bridge))
        subprocess.run(["rm", "-rf", "--one-file-system", str(self.home)], check=False)

    # -- the inventory ----------------------------------------------------------------

    def _write_inventory(self) -> None:
        hosts = self.hosts()
        lines = [f"# Lab hosts of the lab {self.name!r}, made by `kubeclass labhosts up`.",
                 "# Use it with: kubeclass provision -i " + str(self.inventory_path), "vars:",
                 f"  cluster_name: kubeclass-{self.name}", f"  cluster_vip: {self.vip()}",
                 "  cluster_interface: host0",
                 f"  lab_subnet: {self.state()['subnet']}", "hosts:"]
        lines += [f"  {h.name}: {{address: {h.address}, user: {image.USER}, key: {self.key_path}}}"
                  for h in hosts]
        lines.append("groups:")
        for group in ("masters", "workers"):
            members = ", ".join(h.name for h in hosts if h.group == group)
            lines.append(f"  {group}: {{hosts: [{members}]}}")
        self.inventory_path.write_text("\n".join(lines) + "\n")


def _start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat: tells a process from a later one with the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _recorded(path: Path) -> int | None:
    """The pid written in `path`, if that very process still runs (not a recycled pid)."""
    try:
        pid_text, started = path.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    return pid if _start_time(pid) == started and _alive(pid) else None


def _wait_for_child(pid: int, timeout: float = 5.0) -> int | None:
    """nspawn's child: the host's PID 1 once nspawn has set the host up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return None
        if children:
            return int(children[0])
        time.sleep(0.02)
    return None


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (our own child that nobody reaped) is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False
