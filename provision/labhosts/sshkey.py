"""The lab's SSH key: made once per lab on this machine, authorized for the `vagrant` user.

Data flow (B, on one machine): lab ─▶ **sshkey** (id_ed25519 in the lab's home, its public
half in each host's ~vagrant/.ssh/authorized_keys) ─▶ the inventory names the key ─▶ Fabric.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def ensure(path: Path) -> None:
    """An ed25519 key pair at `path` (private, 0600) and `path`.pub, unless there already is one."""
    if path.exists() and path.with_suffix(".pub").exists():
        return
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    path.with_suffix(".pub").write_bytes(public + b" kubeclass-lab\n")


def authorize(root: Path, user: str, public_key: str) -> None:
    """Put `public_key` into `user`'s authorized_keys inside the host's root folder."""
    uid, gid, home = _passwd(root, user)
    ssh = root / home.lstrip("/") / ".ssh"
    ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = ssh / "authorized_keys"
    keys.write_text(public_key if public_key.endswith("\n") else public_key + "\n")
    keys.chmod(0o600)
    for p in (ssh, keys):
        os.chown(p, uid, gid)


def _passwd(root: Path, user: str) -> tuple[int, int, str]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3]), fields[5]
    raise KeyError(f"no user {user} in {root}/etc/passwd")
