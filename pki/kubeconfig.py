"""Kubeconfig files: write one for a cluster, and merge it into the user's, as kind and k3d do.

Where it sits: ``kubeclass up`` (and ``kubeclass provision``, with the kubeconfig it
fetched back from a master) writes ``admin.kubeconfig`` in the cluster's data
directory and merges a ``kubeclass`` cluster, user and context into the user's
kubeconfig (the first file of ``$KUBECONFIG``, or ``~/.kube/config``), making it the
current context. Entries of other clusters are left exactly as they were.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import yaml

from pki import write_private


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def build(name: str, server: str, ca_pem: bytes, *, cert_pem: bytes | None = None,
          key_pem: bytes | None = None, token: str | None = None, user: str | None = None,
          namespace: str | None = None) -> dict[str, Any]:
    user = user or f"{name}-admin"
    credentials: dict[str, Any] = {}
    if cert_pem and key_pem:
        credentials = {"client-certificate-data": _b64(cert_pem), "client-key-data": _b64(key_pem)}
    if token:
        credentials["token"] = token
    context: dict[str, Any] = {"cluster": name, "user": user}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
        "preferences": {},
    }


def dump(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)


def write(path: str, config: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_private(path, dump(config).encode())


def user_kubeconfig_path() -> str:
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return first or os.path.join(os.path.expanduser("~"), ".kube", "config")


def _upsert(entries: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("name") != entry["name"]] + [entry]


def merge(into_path: str, config: dict[str, Any]) -> None:
    """Add (or replace) the config's cluster, user and context; make its context current."""
    current: dict[str, Any] = {}
    if os.path.exists(into_path):
        with open(into_path) as f:
            current = yaml.safe_load(f) or {}
    current.setdefault("apiVersion", "v1")
    current.setdefault("kind", "Config")
    current.setdefault("preferences", {})
    for section in ("clusters", "users", "contexts"):
        merged = current.get(section) or []
        for entry in config[section]:
            merged = _upsert(merged, entry)
        current[section] = merged
    current["current-context"] = config["current-context"]
    write(into_path, current)


def remove(from_path: str, name: str, user: str) -> bool:
    """Take a cluster's entries out of a kubeconfig; True if anything was removed."""
    if not os.path.exists(from_path):
        return False
    with open(from_path) as f:
        current = yaml.safe_load(f) or {}
    before = yaml.safe_dump(current)
    for section, key in (("clusters", name), ("users", user), ("contexts", name)):
        current[section] = [e for e in current.get(section) or [] if e.get("name") != key]
    if current.get("current-context") == name:
        current["current-context"] = ""
    if yaml.safe_dump(current) == before:
        return False
    write(from_path, current)
    return True
