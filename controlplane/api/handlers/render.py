"""Content negotiation: what a response looks like, decided by the request's Accept header.

Where it sits: every resource handler hands its result (an object, a list page, a
watch event) to :class:`Renderer`, which encodes it the way the client asked:

* ``application/json`` (the default; also what protobuf-preferring clients get),
* ``application/yaml``,
* ``application/json;as=Table;v=v1;g=meta.k8s.io``: the server-built table
  ``kubectl get`` prints (see ``controlplane/api/tables``),
* ``application/json;as=PartialObjectMetadata[List];v=v1;g=meta.k8s.io``: metadata only.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import yaml
from flask import Response, request

from ... import codec
from .. import errors
from .. import meta as objmeta
from ..registry import RESTStore
from ..registry.reads import ListPage, WatchEvent
from ..tables import build_table

JSON = "application/json"
YAML = "application/yaml"


def dumps(body: Any) -> bytes:
    return codec.dumps(body)


@dataclasses.dataclass(frozen=True)
class MediaType:
    type: str
    params: dict[str, str]

    @property
    def as_(self) -> str:
        return self.params.get("as", "")


def parse_accept(header: str) -> list[MediaType]:
    types = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";") if p.strip()]
        if not pieces:
            continue
        params = {}
        for p in pieces[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                params[k.strip()] = v.strip()
        types.append(MediaType(pieces[0].lower(), params))
    return types


class Renderer:
    """Picks the response format once per request and encodes results in it."""

    def __init__(self, accept: str | None) -> None:
        self.format = JSON
        self.as_ = ""  # "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
        # Read now: a watch renders its events after the request context has gone.
        self.include_object = request.args.get("includeObject", "Metadata")
        if self.include_object not in ("None", "Metadata", "Object"):
            raise errors.bad_request(f'includeObject: Unsupported value: "{self.include_object}": '
                                     'supported values: "None", "Metadata", "Object"')
        candidates = parse_accept(accept or JSON)
        for media in candidates:
            if media.as_:
                if media.as_ in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList") \
                        and media.params.get("g") == "meta.k8s.io" and media.params.get("v") in ("v1", "v1beta1") \
                        and media.type in (JSON, "application/*", "*/*"):
                    self.as_ = media.as_
                    return
                continue  # a conversion we do not offer: try the next choice
            if media.type in (JSON, "application/*", "*/*", "application/vnd.kubernetes.protobuf"):
                return  # protobuf-preferring clients accept JSON replies
            if media.type == YAML:
                self.format = YAML
                return
        if candidates and not any(m.type in (JSON, YAML) or m.type.endswith("*") for m in candidates):
            raise errors.APIError(406, "NotAcceptable",
                                  f"only the following media types are accepted: {JSON}, {YAML}, "
                                  f"{JSON};as=Table;v=v1;g=meta.k8s.io")

    # -- encoding ------------------------------------------------------------------

    def response(self, body: Any, status: int = 200, warnings: list[str] | None = None) -> Response:
        if self.format == YAML:
            text, mimetype = yaml.safe_dump(body, sort_keys=False, allow_unicode=True), YAML
        else:
            text, mimetype = dumps(body), JSON
        resp = Response(text, status=status, mimetype=mimetype)
        add_warnings(resp, warnings)
        return resp

    def object(self, store: RESTStore, obj: dict[str, Any], status: int = 200,
               warnings: list[str] | None = None) -> Response:
        if obj.get("kind") == "Status":
            return self.response(obj, status, warnings)
        if self.as_ == "Table":
            return self.response(self._table(store, [obj], ListPage([obj], 0)), status, warnings)
        if self.as_.startswith("PartialObjectMetadata"):
            return self.response(partial(obj), status, warnings)
        return self.response(obj, status, warnings)

    def list(self, store: RESTStore, page: ListPage) -> Response:
        if self.as_ == "Table":
            return self.response(self._table(store, page.items, page))
        meta: dict[str, Any] = {"resourceVersion": str(page.revision)}
        if page.continue_token:
            meta["continue"] = page.continue_token
            if page.remaining is not None:
                meta["remainingItemCount"] = page.remaining
        if self.as_.startswith("PartialObjectMetadata"):
            return self.response({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                                  "metadata": meta, "items": [partial(o) for o in page.items]})
        return self.response({"kind": store.info.list_kind, "apiVersion": store.info.api_version,
                              "metadata": meta, "items": page.items})

    def _table(self, store: RESTStore, objects: list[dict[str, Any]], page: ListPage,
               with_headers: bool = True) -> dict[str, Any]:
        return build_table(
            store.info.group, store.info.resource, objects, now=objmeta.now(), include_object=self.include_object,
            printer_columns=store.strategy.printer_columns,
            resource_version=str(page.revision) if page.revision else "",
            continue_token=page.continue_token, remaining_item_count=page.remaining,
            with_headers=with_headers)

    def watch_line(self, store: RESTStore, event: WatchEvent, first: bool) -> bytes:
        """One watch event as a line of JSON (Table events carry one row, headers only first)."""
        obj = event.object
        if self.as_ == "Table" and event.type not in ("ERROR",):
            items = [] if event.type == "BOOKMARK" else [obj]
            page = ListPage(items, int(obj["metadata"].get("resourceVersion") or 0))
            obj = self._table(store, items, page, with_headers=first)
        elif self.as_.startswith("PartialObjectMetadata") and event.type not in ("ERROR", "BOOKMARK"):
            obj = partial(obj)
        return dumps({"type": event.type, "object": obj}) + b"\n"


def partial(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def add_warnings(resp: Response, warnings: list[str] | None) -> None:
    for text in warnings or []:
        # RFC 7234 warn-code 299 with an unused agent "-", as the apiserver sends them.
        resp.headers.add("Warning", "299 - " + json.dumps(text))
