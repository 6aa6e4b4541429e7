"""Where the node agent reads ConfigMaps, Secrets and Services from.

Where it sits: environment variables (:mod:`nodeagent.envvars`) and volumes
(:mod:`nodeagent.volumes`) ask an :class:`~nodeagent.envvars.ObjectSource`. The agent
uses :class:`InformerSource`: informer caches, so syncing a hundred pods every few
seconds costs the API server nothing, with a direct GET when the cache has not seen an
object yet (it may have been created a moment before the pod). Tests use
:class:`ClientSource` over a :class:`~controlplane.client.fake.FakeClient`.

Kubelet does the same with its ConfigMap and Secret managers (``watch`` strategy).
"""

from __future__ import annotations

from typing import Any

from controlplane.client import ApiError, Client, Informer, ServerUnavailable, is_not_found
from controlplane.client import resources as r

Obj = dict[str, Any]


class ClientSource:
    """Every read is a GET (or a LIST for services)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def _get(self, res: r.Resource, namespace: str, name: str) -> Obj | None:
        try:
            return self.client.get(res, name, namespace)
        except ApiError as e:
            if is_not_found(e):
                return None
            raise

    def configmap(self, namespace: str, name: str) -> Obj | None:
        return self._get(r.CONFIGMAPS, namespace, name)

    def secret(self, namespace: str, name: str) -> Obj | None:
        return self._get(r.SECRETS, namespace, name)

    def services(self) -> list[Obj]:
        return list(self.client.list(r.SERVICES).get("items") or [])


class InformerSource(ClientSource):
    def __init__(self, client: Client, configmaps: Informer, secrets: Informer, services: Informer) -> None:
        super().__init__(client)
        self.informers = {"configmaps": configmaps, "secrets": secrets, "services": services}

    def _cached(self, kind: str, res: r.Resource, namespace: str, name: str) -> Obj | None:
        obj = self.informers[kind].cache.get(f"{namespace}/{name}")
        if obj is not None:
            return obj
        try:
            return self._get(res, namespace, name)
        except ServerUnavailable:
            return None

    def configmap(self, namespace: str, name: str) -> Obj | None:
        return self._cached("configmaps", r.CONFIGMAPS, namespace, name)

    def secret(self, namespace: str, name: str) -> Obj | None:
        return self._cached("secrets", r.SECRETS, namespace, name)

    def services(self) -> list[Obj]:
        return self.informers["services"].cache.list()
