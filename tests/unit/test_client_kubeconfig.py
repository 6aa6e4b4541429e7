"""Loading kubeconfigs: contexts, servers, certificates as files or data, tokens."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from controlplane.client.kubeconfig import KubeconfigError, load_kubeconfig
from controlplane.client.rest import Client

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def write(tmp_path: Path, doc: dict) -> Path:  # type: ignore[type-arg]
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    return path


def kubeconfig(**overrides: object) -> dict:  # type: ignore[type-arg]
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "admin@kc",
        "clusters": [
            {"name": "kc", "cluster": {"server": "https://127.0.0.1:6443/",
                                       "certificate-authority-data": base64.b64encode(CA).decode()}},
            {"name": "other", "cluster": {"server": "http://10.0.0.9:8080", "insecure-skip-tls-verify": True}},
        ],
        "users": [
            {"name": "admin", "user": {"client-certificate": "pki/admin.crt", "client-key": "pki/admin.key"}},
            {"name": "bob", "user": {"token": "abc"}},
        ],
        "contexts": [
            {"name": "admin@kc", "context": {"cluster": "kc", "user": "admin"}},
            {"name": "bob@other", "context": {"cluster": "other", "user": "bob", "namespace": "dev"}},
        ],
    }
    doc.update(overrides)
    return doc


def test_current_context_with_ca_data_and_client_cert_files(tmp_path: Path) -> None:
    cfg = load_kubeconfig(write(tmp_path, kubeconfig()))
    assert cfg.servers == ("https://127.0.0.1:6443",)
    assert cfg.ca_file is not None and Path(cfg.ca_file).read_bytes() == CA
    assert cfg.verify == cfg.ca_file
    assert cfg.cert == (str(tmp_path / "pki/admin.crt"), str(tmp_path / "pki/admin.key")), \
        "relative paths resolve against the kubeconfig's directory"
    assert cfg.token is None and cfg.namespace == "default"


def test_named_context_with_token_and_insecure_skip_verify(tmp_path: Path) -> None:
    cfg = load_kubeconfig(write(tmp_path, kubeconfig()), context="bob@other")
    assert cfg.servers == ("http://10.0.0.9:8080",)
    assert cfg.token == "abc" and cfg.verify is False and cfg.cert is None
    assert cfg.namespace == "dev"


def test_token_file_and_client_data_fields(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    doc = kubeconfig(users=[{"name": "admin", "user": {
        "tokenFile": "token",
        "client-certificate-data": base64.b64encode(b"CERT").decode(),
        "client-key-data": base64.b64encode(b"KEY").decode()}}])
    cfg = load_kubeconfig(write(tmp_path, doc))
    assert cfg.token == "from-file"
    assert cfg.cert is not None
    assert Path(cfg.cert[0]).read_bytes() == b"CERT" and Path(cfg.cert[1]).read_bytes() == b"KEY"
    assert Path(cfg.cert[1]).stat().st_mode & 0o077 == 0, "key material must be private"


def test_extra_servers_extend_the_failover_list_and_build_a_client(tmp_path: Path) -> None:
    path = write(tmp_path, kubeconfig())
    client = Client.from_kubeconfig(path, extra_servers=["https://127.0.0.2:6443", "https://127.0.0.1:6443"])
    assert client.config.servers == ("https://127.0.0.1:6443", "https://127.0.0.2:6443")


@pytest.mark.parametrize("doc, message", [
    (kubeconfig(**{"current-context": "nope"}), "no context named 'nope'"),
    (kubeconfig(**{"current-context": ""}), "no current-context"),
    (kubeconfig(clusters=[{"name": "kc", "cluster": {}}]), "has no server"),
])
def test_missing_pieces_are_reported(tmp_path: Path, doc: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(KubeconfigError, match=message):
        load_kubeconfig(write(tmp_path, doc))


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="cannot read kubeconfig"):
        load_kubeconfig(tmp_path / "absent")
