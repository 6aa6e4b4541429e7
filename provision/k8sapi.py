"""The few Kubernetes API calls provisioning makes from the controller machine.

Data flow (B): k8s modules (`provision/modules/k8s.py`, `k8s_drain`) ─▶ **k8sapi** ─▶ HTTPS
(requests) ─▶ the cluster's API server. `connect(kubeconfig)` reads the current context as
kubectl would (server, CA, client certificate or token), writes the key material into a
private temp dir for as long as the `Api` is used, and removes it afterwards. `provision`
may not import the cluster's own client (`controlplane.client`), so this is its own: a
dozen plain REST calls, every failure a `KubeError` with the server's address or the
Status `message`.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from pki import write_private

REQUEST_TIMEOUT = (5.0, 30.0)  # seconds to connect, to read one answer
POLL_SECONDS = 1.0  # how often drain retries a blocked eviction and k8s re-checks (kubectl: 1 s)
MERGE_PATCH = "application/merge-patch+json"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


class KubeError(Exception):
    """The kubeconfig, the connection or the API server said no; the message says why."""


# -- kubeconfig and connection -------------------------------------------------------------

@dataclass(frozen=True)
class Kubeconfig:
    server: str
    namespace: str
    insecure: bool = False
    ca_pem: bytes | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    token: str | None = None


def _named(doc: dict[str, Any], section: str, name: str, path: str) -> dict[str, Any]:
    """The `cluster`/`user`/`context` body of the entry called `name` in `section`."""
    key = section[:-1]
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry.get(key) or {}
    raise KubeError(f"kubeconfig {path} has no {key} named {name!r}")


def _b64(entry: dict[str, Any], field: str, path: str) -> bytes | None:
    if not entry.get(field):
        return None
    try:
        return base64.b64decode(entry[field], validate=True)
    except (binascii.Error, TypeError):
        raise KubeError(f"kubeconfig {path}: {field} is not valid base64") from None


def load_kubeconfig(path: str) -> Kubeconfig:
    """The current context's server, CA and credentials, as kubectl would pick them."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise KubeError(f"cannot read kubeconfig {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise KubeError(f"kubeconfig {path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not doc.get("current-context"):
        raise KubeError(f"kubeconfig {path} has no current-context")
    context = _named(doc, "contexts", doc["current-context"], path)
    cluster = _named(doc, "clusters", str(context.get("cluster")), path)
    user = _named(doc, "users", str(context.get("user")), path)
    if not cluster.get("server"):
        raise KubeError(f"kubeconfig {path}: cluster {context.get('cluster')!r} has no server")
    return Kubeconfig(
        server=str(cluster["server"]).rstrip("/"),
        namespace=context.get("namespace") or "default",
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        ca_pem=_b64(cluster, "certificate-authority-data", path),
        cert_pem=_b64(user, "client-certificate-data", path),
        key_pem=_b64(user, "client-key-data", path),
        token=user.get("token"),
    )


def _root_cause(exc: BaseException) -> str:
    """The innermost error ('Connection refused'), not urllib3's retry summary around it."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        exc, cause = cause, cause.__cause__ or cause.__context__
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _body(resp: requests.Response) -> dict[str, Any] | None:
    """The JSON object the server answered (an object, a list, a Status), if it is one."""
    try:
        body = resp.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def status_message(resp: requests.Response) -> str:
    """The `message` of the Kubernetes Status the server answered, or the HTTP status."""
    message = (_body(resp) or {}).get("message")
    return str(message) if message else f"HTTP {resp.status_code} {resp.reason}"


class Api:
    """The few REST calls the modules make, on one API server; failures raise `KubeError`."""

    def __init__(self, server: str, namespace: str, session: requests.Session,
                 verify: bool | str = True) -> None:
        self.server = server
        self.namespace = namespace  # the kubeconfig context's, for objects given without one
        self.session = session
        # passed with each request: requests lets REQUESTS_CA_BUNDLE override a Session's verify
        self.verify = verify

    def request(self, method: str, path: str, *, body: Any = None,
                params: dict[str, str] | None = None, content_type: str = "application/json",
                tolerate: tuple[int, ...] = ()) -> requests.Response:
        """Send one request; an error status not in `tolerate` raises with the Status message."""
        headers = {"Content-Type": content_type} if body is not None else {}
        try:
            resp = self.session.request(method, self.server + path, json=body, params=params,
                                        headers=headers, verify=self.verify,
                                        timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            raise KubeError(f"the API server at {self.server} cannot be reached: "
                            f"{_root_cause(exc)}") from None
        if resp.status_code >= 400 and resp.status_code not in tolerate:
            reason = (_body(resp) or {}).get("reason") or resp.status_code
            raise KubeError(f"{method} {path} failed ({reason}): {status_message(resp)}")
        return resp

    def _object(self, resp: requests.Response) -> dict[str, Any]:
        body = _body(resp)
        if body is None:
            raise KubeError(f"{self.server}{resp.request.path_url} answered something that is "
                            "not a Kubernetes object; is it an API server?")
        return body

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at `path`, or None if it does not exist."""
        resp = self.request("GET", path, tolerate=(404,))
        return None if resp.status_code == 404 else self._object(resp)

    def list(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        return self._object(self.request("GET", path, params=params)).get("items") or []

    def merge_patch(self, path: str, patch: dict[str, Any]) -> None:
        self.request("PATCH", path, body=patch, content_type=MERGE_PATCH)

    def delete(self, path: str, options: dict[str, Any] | None = None) -> bool:
        """Delete the object at `path`; False if it was already gone."""
        return self.request("DELETE", path, body=options, tolerate=(404,)).status_code != 404


@contextmanager
def connect(kubeconfig: str) -> Iterator[Api]:
    """An `Api` for the kubeconfig's current context; its key files live only this long."""
    cfg = load_kubeconfig(kubeconfig)
    with tempfile.TemporaryDirectory(prefix="provision-k8s-") as tmp, \
            requests.Session() as session:
        def private_file(name: str, data: bytes) -> str:
            write_private(f"{tmp}/{name}", data)
            return f"{tmp}/{name}"

        verify: bool | str = True
        if cfg.insecure:
            verify = False
        elif cfg.ca_pem:
            verify = private_file("ca.crt", cfg.ca_pem)
        if cfg.cert_pem and cfg.key_pem:
            session.cert = (private_file("client.crt", cfg.cert_pem),
                            private_file("client.key", cfg.key_pem))
        if cfg.token:
            session.headers["Authorization"] = f"Bearer {cfg.token}"
        yield Api(cfg.server, cfg.namespace, session, verify)


def wait_until(done: Callable[[], bool], deadline: float, interval: float) -> bool:
    """Call `done` until it returns True or the monotonic `deadline` passes; whether it did."""
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def is_gone(api: Api, path: str, uid: str | None) -> bool:
    """Deleted: no object at `path`, or a new one (another uid) that a controller made."""
    obj = api.get(path)
    return obj is None or obj.get("metadata", {}).get("uid") != uid
