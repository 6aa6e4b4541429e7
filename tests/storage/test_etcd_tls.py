"""The etcd store over TLS with client certificates, as provisioned masters run it
(etcd --client-cert-auth; the API server's store URL names the CA, its cert and key)."""

from __future__ import annotations

import subprocess
import time

import pytest

import pki
from controlplane.storage import UnavailableError, open_store
from tests.storage.conftest import etcd_binary, free_ports

pytestmark = pytest.mark.slow


@pytest.fixture
def tls_etcd(tmp_path):
    ca, ca_key = pki.new_ca("etcd-ca")
    server, server_key = pki.new_cert(ca, ca_key, "etcd", dns_names=["localhost"], ips=["127.0.0.1"],
                                      server=True, client=True)
    client, client_key = pki.new_cert(ca, ca_key, "kube-apiserver-etcd-client", client=True)
    files = {}
    for name, data in {"ca.crt": ca, "server.crt": server, "server.key": server_key,
                       "client.crt": client, "client.key": client_key}.items():
        files[name] = tmp_path / name
        files[name].write_bytes(data)
    client_port, peer_port = free_ports(2)
    url = f"https://127.0.0.1:{client_port}"
    proc = subprocess.Popen(
        [etcd_binary(), "--name", "m1", "--data-dir", str(tmp_path / "data"),
         "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
         "--initial-cluster", f"m1=http://127.0.0.1:{peer_port}",
         "--cert-file", str(files["server.crt"]), "--key-file", str(files["server.key"]),
         "--trusted-ca-file", str(files["ca.crt"]), "--client-cert-auth"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield client_port, files
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _open(port: int, query: str):
    deadline = time.monotonic() + 20
    while True:
        store = open_store(f"etcd://127.0.0.1:{port}/registry/?{query}")
        try:
            store.list("/registry/configmaps/")
            return store
        except UnavailableError:
            store.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_store_with_the_ca_and_a_client_certificate_reads_and_writes(tls_etcd):
    port, f = tls_etcd
    store = _open(port, f"cacert={f['ca.crt']}&cert={f['client.crt']}&key={f['client.key']}")
    try:
        created = store.create("/registry/configmaps/default/tls", {"kind": "ConfigMap", "metadata": {
            "name": "tls", "namespace": "default"}, "data": {"a": "1"}})
        assert store.get("/registry/configmaps/default/tls")["data"] == {"a": "1"}
        assert int(created["metadata"]["resourceVersion"]) > 0
    finally:
        store.close()


def test_without_a_client_certificate_etcd_refuses_and_the_store_says_so(tls_etcd):
    port, f = tls_etcd
    _open(port, f"cacert={f['ca.crt']}&cert={f['client.crt']}&key={f['client.key']}").close()
    store = open_store(f"etcd://127.0.0.1:{port}/registry/?cacert={f['ca.crt']}")
    try:
        with pytest.raises(UnavailableError):
            store.list("/registry/configmaps/")
    finally:
        store.close()


def test_unknown_url_options_are_a_clear_error():
    with pytest.raises(ValueError, match="unknown etcd store URL option"):
        open_store("etcd://127.0.0.1:2379/?cafile=/x")
