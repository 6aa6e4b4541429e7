"""The REST client: every request a controller, the scheduler or a node agent sends.

Where it sits: the bottom of the client side of data flow (A). Everything above it
(informers, controllers, leader election) talks to the cluster only through
:class:`Client`; nothing here knows about storage or the API server's code, only
its HTTP interface.

What it promises:

* **failover**: a client holds several endpoints of the same cluster (the masters).
  It sticks to the one that last answered; when a request cannot connect, it tries
  the next one and sticks to that. Only connection errors move it on: an HTTP error
  is an answer. A write whose connection broke mid-way may have happened: it can come
  back as ``AlreadyExists`` or ``Conflict`` from the next server, which callers treat
  as they would any race;
* **TLS and auth** from the kubeconfig: CA verification, a client certificate,
  a bearer token (sent on every request, as the Python client does);
* **errors as Status**: a failed request raises :class:`~controlplane.client.errors.ApiError`
  carrying the server's ``metav1.Status``; no endpoint answering raises
  :class:`~controlplane.client.errors.ServerUnavailable`;
* **objects as dicts**: bodies in and out are the JSON the API defines.

Each thread gets its own ``requests.Session`` (a Session's connection pool is not
meant to be shared between threads that stream watches).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

import requests
import requests.adapters

from . import discovery, watch
from .errors import ApiError, Expired, ServerUnavailable, is_gone
from .kubeconfig import ConnectionConfig, load_kubeconfig
from .resources import Resource

log = logging.getLogger(__name__)

JSON = "application/json"
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
DEFAULT_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0  # short, so a dead master costs seconds before failing over


class Client:
    """A Kubernetes REST client over one or more API server endpoints."""

    def __init__(self, config: ConnectionConfig, *, timeout: float = DEFAULT_TIMEOUT,
                 user_agent: str = "kubeclass", transport: requests.adapters.BaseAdapter | None = None) -> None:
        if not config.servers:
            raise ValueError("a client needs at least one server")
        self.config = config
        self.timeout = timeout
        self.user_agent = user_agent
        self._transport = transport  # tests mount a fake here instead of the network
        self._local = threading.local()
        self._lock = threading.Lock()
        self._current = 0  # index of the endpoint that answered last

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str] | None = None, *, context: str | None = None,
                        extra_servers: tuple[str, ...] | list[str] = (), **kwargs: Any) -> Client:
        return cls(load_kubeconfig(path, context=context, extra_servers=extra_servers), **kwargs)

    @property
    def server(self) -> str:
        """The endpoint requests go to first."""
        return self.config.servers[self._current]

    # -- the raw request ---------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
                content_type: str = JSON, accept: str = JSON, stream: bool = False,
                timeout: float | tuple[float, float] | None = None) -> requests.Response:
        """Send one request, failing over between endpoints; raise ApiError on an error answer.

        ``body`` is encoded as JSON unless it is already ``str``/``bytes``.
        """
        headers = {"Accept": accept, "User-Agent": self.user_agent}
        data: bytes | None = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        resp = self._send(method, path, params=_clean(params), data=data, headers=headers, stream=stream,
                          timeout=timeout if timeout is not None else (CONNECT_TIMEOUT, self.timeout))
        if resp.status_code >= 400:
            try:
                payload: Any = resp.json()
            except ValueError:
                payload = None
            finally:
                resp.close()
            raise ApiError.from_body(resp.status_code, payload, fallback=f"{method} {path}: {resp.reason}")
        return resp

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.verify = self.config.verify
            session.cert = self.config.cert
            session.trust_env = False  # a proxy from the environment must not capture cluster traffic
            if self._transport is not None:
                session.mount("http://", self._transport)
                session.mount("https://", self._transport)
            self._local.session = session
        return session

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        servers = self.config.servers
        start = self._current
        errors: list[str] = []
        for i in range(len(servers)):
            index = (start + i) % len(servers)
            try:
                resp = self._session().request(method, servers[index] + path, **kwargs)
            except requests.ConnectionError as e:  # refused, unreachable, TLS failure, connect timeout
                errors.append(f"{servers[index]}: {e}")
                log.debug("cannot reach %s: %s", servers[index], e)
                continue
            if index != start:
                with self._lock:
                    self._current = index
                log.info("API server %s did not answer; using %s", servers[start], servers[index])
            return resp
        raise ServerUnavailable("no API server answered: " + "; ".join(errors))

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        resp = self.request(method, path, **kwargs)
        try:
            return resp.json()  # type: ignore[no-any-return]
        finally:
            resp.close()

    # -- verbs -------------------------------------------------------------------

    def get(self, res: Resource, name: str, namespace: str | None = None, *, subresource: str | None = None,
            metadata_only: bool = False) -> dict[str, Any]:
        return self._json("GET", res.path(namespace, name, subresource),
                          accept=METADATA_ONLY if metadata_only else JSON)

    def list(self, res: Resource, namespace: str | None = None, *, label_selector: str | None = None,
             field_selector: str | None = None, limit: int | None = 500, resource_version: str | None = None,
             metadata_only: bool = False) -> dict[str, Any]:
        """The whole list as one dict: pages are followed through ``continue``.

        ``metadata.resourceVersion`` is that of the first page, the snapshot every
        page was read at, which is where a watch should start. If a continue token
        expires half-way (410), the list starts over in one unpaged request, as
        client-go's pager does.
        """
        params: dict[str, Any] = {"labelSelector": label_selector, "fieldSelector": field_selector,
                                  "limit": limit, "resourceVersion": resource_version}
        accept = METADATA_LIST if metadata_only else JSON
        path = res.path(namespace)
        first = self._json("GET", path, params=params, accept=accept)
        items = list(first.get("items") or [])
        token = (first.get("metadata") or {}).get("continue")
        while token:
            try:
                page = self._json("GET", path, params={**params, "continue": token, "resourceVersion": None},
                                  accept=accept)
            except ApiError as e:
                if not is_gone(e):
                    raise
                log.info("continue token for %s expired; listing again without pages", res)
                return self._json("GET", path, params={**params, "limit": None}, accept=accept)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
        first["items"] = items
        first.setdefault("metadata", {}).pop("continue", None)
        first["metadata"].pop("remainingItemCount", None)
        return first

    def create(self, res: Resource, body: dict[str, Any], namespace: str | None = None, *,
               field_manager: str | None = None, subresource: str | None = None,
               name: str | None = None) -> dict[str, Any]:
        """POST ``body``; with ``subresource`` (e.g. "binding", "eviction") to ``name``'s subresource."""
        ns = namespace or (body.get("metadata") or {}).get("namespace")
        path = res.path(ns, name, subresource) if subresource else res.path(ns)
        return self._json("POST", path, body=body, params={"fieldManager": field_manager})

    def update(self, res: Resource, body: dict[str, Any], namespace: str | None = None, *,
               subresource: str | None = None, field_manager: str | None = None) -> dict[str, Any]:
        """PUT ``body`` (a ``metadata.resourceVersion`` in it makes the write conditional)."""
        meta = body.get("metadata") or {}
        path = res.path(namespace or meta.get("namespace"), meta["name"], subresource)
        return self._json("PUT", path, body=body, params={"fieldManager": field_manager})

    def patch(self, res: Resource, name: str, patch: Any, namespace: str | None = None, *,
              patch_type: str = "merge", field_manager: str | None = None, force: bool | None = None,
              subresource: str | None = None) -> dict[str, Any]:
        """PATCH with one of "merge", "json", "strategic" or "apply" (server-side apply,
        which needs ``field_manager``)."""
        if patch_type not in PATCH_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}; use one of {', '.join(PATCH_TYPES)}")
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        params = {"fieldManager": field_manager, "force": None if force is None else str(force).lower()}
        return self._json("PATCH", res.path(namespace, name, subresource), body=patch,
                          content_type=PATCH_TYPES[patch_type], params=params)

    def delete(self, res: Resource, name: str, namespace: str | None = None, *,
               propagation_policy: str | None = None, preconditions: dict[str, str] | None = None,
               grace_period_seconds: int | None = None) -> dict[str, Any]:
        """DELETE with a ``DeleteOptions`` body; returns the Status or the (still present) object."""
        return self._json("DELETE", res.path(namespace, name),
                          body=delete_options(propagation_policy, preconditions, grace_period_seconds))

    def delete_collection(self, res: Resource, namespace: str | None = None, *, label_selector: str | None = None,
                          field_selector: str | None = None, propagation_policy: str | None = None) -> dict[str, Any]:
        return self._json("DELETE", res.path(namespace), body=delete_options(propagation_policy, None, None),
                          params={"labelSelector": label_selector, "fieldSelector": field_selector})

    def watch(self, res: Resource, namespace: str | None = None, *, resource_version: str | None = None,
              allow_bookmarks: bool = True, timeout_seconds: int | None = None, label_selector: str | None = None,
              field_selector: str | None = None, metadata_only: bool = False) -> watch.WatchStream:
        """Open a watch; iterate the result for events, ``close()`` it from any thread.

        A 410 answer (the resourceVersion is compacted) raises :class:`Expired`, as does
        the in-stream ERROR event with code 410 while iterating.
        """
        params = {"watch": "true", "resourceVersion": resource_version, "timeoutSeconds": timeout_seconds,
                  "allowWatchBookmarks": "true" if allow_bookmarks else None,
                  "labelSelector": label_selector, "fieldSelector": field_selector}
        # No read timeout beyond the watch's own: an idle watch is silent for a long time.
        read_timeout = (timeout_seconds or 3600) + 30
        try:
            resp = self.request("GET", res.path(namespace), params=params, stream=True,
                                accept=METADATA_ONLY if metadata_only else JSON,
                                timeout=(CONNECT_TIMEOUT, read_timeout))
        except ApiError as e:
            if is_gone(e):
                raise Expired(e.message) from e
            raise
        return watch.WatchStream(resp)

    def discover(self) -> list[Resource]:
        """Every resource the server serves, in every version (subresources left out)."""
        return discovery.discover(self)


def delete_options(propagation_policy: str | None, preconditions: dict[str, str] | None,
                   grace_period_seconds: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if propagation_policy:
        body["propagationPolicy"] = propagation_policy
    if preconditions:
        body["preconditions"] = dict(preconditions)
    if grace_period_seconds is not None:
        body["gracePeriodSeconds"] = grace_period_seconds
    return body


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """Drop unset query parameters, so URLs carry only what was asked for."""
    if not params:
        return None
    return {k: v for k, v in params.items() if v is not None and v != ""} or None
