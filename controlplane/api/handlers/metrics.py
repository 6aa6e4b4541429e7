"""``metrics.k8s.io/v1beta1``: how much CPU and memory nodes and pods use (``kubectl top``).

Where it sits: upstream, metrics-server scrapes every kubelet and serves this API group
through the API server's aggregation layer. In kubeclass the API server serves it
itself, built when a client asks from the node agents' ``/stats/summary`` (kubelet's
Summary API, see docs/workloads.md):

    kubectl top pods   GET /apis/metrics.k8s.io/v1beta1/namespaces/default/pods
                       -> Pods from storage (label and field selectors apply to them)
                       -> GET /stats/summary on each node that runs one of them, all at once
                       -> one PodMetrics per pod the summaries report

What it promises, as metrics-server does:

* only ``get`` and ``list``, never stored and never watched;
* a node whose agent does not answer within a short timeout is left out (its pods too),
  and so is a pod whose containers have no usage yet; a single object that is left out
  is ``404 NotFound`` (``podmetrics.metrics.k8s.io "default/web" not found``);
* usage is the agent's: ``cpu`` from ``usageNanoCores``, ``memory`` from
  ``workingSetBytes``, printed as ``resource.Quantity`` prints them (``250m``,
  ``123456Ki``); ``window`` is the interval the agent averages CPU over.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Response, current_app, request

from .. import errors, nodeclient
from .. import meta as objmeta
from ..registry import ListOptions, Registry, RESTStore
from ..requestinfo import RequestInfo
from ..validation.quantity import parse as parse_quantity
from .render import Renderer

log = logging.getLogger(__name__)

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
WINDOW = "10s"  # what the node agents average usageNanoCores over
SUMMARY_LIMIT = 16 * 1024 * 1024
MAX_PARALLEL = 16


def serve(registry: Registry, info: RequestInfo) -> Response:
    if info.version != VERSION or info.resource not in ("nodes", "pods") or info.subresource \
            or (info.resource == "nodes" and info.namespace):
        raise errors.path_not_found()
    if info.verb not in ("get", "list"):
        raise errors.method_not_supported(info.resource, GROUP, info.verb)
    render = Renderer(request.headers.get("Accept"))
    opts = ListOptions(label_selector=request.args.get("labelSelector", ""),
                       field_selector=request.args.get("fieldSelector", ""))
    nodes = registry.store("", "v1", "nodes")
    if info.resource == "nodes":
        body = _node_metrics(nodes, info.name, opts)
    else:
        body = _pod_metrics(registry.store("", "v1", "pods"), nodes, info.namespace, info.name, opts)
    if render.as_ == "Table":  # kubectl get podmetrics
        return render.response(table(body.get("items", [body])))
    return render.response(body)


# -- nodes -----------------------------------------------------------------------------------


def _node_metrics(nodes: RESTStore, name: str, opts: ListOptions) -> dict[str, Any]:
    if name:
        try:
            chosen = [nodes.get("", name)]
        except errors.APIError as e:
            if e.code == 404:
                raise errors.not_found("nodemetrics", GROUP, name) from None
            raise
    else:
        chosen = nodes.list("", opts).items
    summaries = scrape(chosen)
    items = []
    for node in chosen:
        stats = (summaries.get(node["metadata"]["name"]) or {}).get("node") or {}
        usage = usage_of(stats)
        if usage is not None:
            items.append({"kind": "NodeMetrics", "apiVersion": API_VERSION,
                          "metadata": _metadata(node), "timestamp": _time(stats), "window": WINDOW,
                          "usage": usage})
    if name:
        if not items:
            raise errors.not_found("nodemetrics", GROUP, name)
        return items[0]
    return {"kind": "NodeMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items}


# -- pods ------------------------------------------------------------------------------------


def _pod_metrics(pods: RESTStore, nodes: RESTStore, namespace: str, name: str,
                 opts: ListOptions) -> dict[str, Any]:
    if name:
        try:
            chosen = [pods.get(namespace, name)]
        except errors.APIError as e:
            if e.code == 404:
                raise errors.not_found("podmetrics", GROUP, f"{namespace}/{name}") from None
            raise
    else:
        chosen = pods.list(namespace, opts).items
    node_names = sorted({(p.get("spec") or {}).get("nodeName") or "" for p in chosen} - {""})
    summaries = scrape([n for n in (_node_or_none(nodes, nn) for nn in node_names) if n is not None])
    reported = {}
    for summary in summaries.values():
        for stats in summary.get("pods") or []:
            ref = stats.get("podRef") or {}
            reported[(ref.get("namespace"), ref.get("name"))] = stats
    items = []
    for pod in chosen:
        meta = pod["metadata"]
        stats = reported.get((meta.get("namespace"), meta["name"]))
        if stats is None or (stats["podRef"].get("uid") not in (None, "", meta.get("uid"))):
            continue  # not running there, or an older pod of the same name
        containers = _containers(stats)
        if containers:
            items.append({"kind": "PodMetrics", "apiVersion": API_VERSION, "metadata": _metadata(pod),
                          "timestamp": _time(stats, containers=True), "window": WINDOW, "containers": containers})
    if name:
        if not items:
            raise errors.not_found("podmetrics", GROUP, f"{namespace}/{name}")
        return items[0]
    return {"kind": "PodMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items}


def _containers(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container's usage, or none: metrics-server leaves out a pod that is half-reported."""
    out = []
    for container in stats.get("containers") or []:
        usage = usage_of(container)
        if usage is None or not container.get("name"):
            return []
        out.append({"name": container["name"], "usage": usage})
    return out


def _node_or_none(nodes: RESTStore, name: str) -> dict[str, Any] | None:
    try:
        return nodes.get("", name)
    except errors.APIError:
        return None


# -- scraping --------------------------------------------------------------------------------


def scrape(nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each answering node's summary, by node name, fetched from all nodes at once."""
    if not nodes:
        return {}
    client: nodeclient.NodeClient = current_app.extensions["kubeclass"].nodes
    timeout: float = current_app.extensions["kubeclass"].config.metrics_timeout

    def fetch(node: dict[str, Any]) -> dict[str, Any]:
        response = client.get(nodeclient.endpoint(node), "/stats/summary", timeout)
        try:
            if response.status != 200:
                raise response.error()
            summary = json.loads(response.read_body(timeout, SUMMARY_LIMIT))
        finally:
            response.close()
        if not isinstance(summary, dict):
            raise TypeError("the summary is not a JSON object")
        return summary

    out = {}
    with ThreadPoolExecutor(max_workers=min(len(nodes), MAX_PARALLEL), thread_name_prefix="scrape") as pool:
        futures = {node["metadata"]["name"]: pool.submit(fetch, node) for node in nodes}
        for name, future in futures.items():
            try:
                out[name] = future.result()
            except (errors.APIError, OSError, ValueError, TypeError) as e:
                # As metrics-server: a node that cannot be scraped is left out, not an error.
                log.info("metrics: left out node %s: %s", name, getattr(e, "message", e))
    return out


def usage_of(stats: dict[str, Any]) -> dict[str, str] | None:
    cpu = (stats.get("cpu") or {}).get("usageNanoCores")
    memory = (stats.get("memory") or {}).get("workingSetBytes")
    if not isinstance(cpu, int) or not isinstance(memory, int):
        return None
    return {"cpu": decimal_quantity(cpu, -9), "memory": binary_quantity(memory)}


def _time(stats: dict[str, Any], containers: bool = False) -> str:
    """When the usage was sampled: the (latest) ``cpu.time`` the agent gives, else now."""
    found = [(c.get("cpu") or {}).get("time") for c in stats.get("containers") or []] if containers \
        else [(stats.get("cpu") or {}).get("time")]
    found = [t for t in found if isinstance(t, str) and t]
    return max(found) if found else objmeta.timestamp()


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """As metrics-server: the object's name, namespace and labels; created now."""
    meta = obj["metadata"]
    out: dict[str, Any] = {"name": meta["name"]}
    if meta.get("namespace"):
        out["namespace"] = meta["namespace"]
    out["creationTimestamp"] = objmeta.timestamp()
    if meta.get("labels"):
        out["labels"] = dict(meta["labels"])
    return out


def table(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The Table ``kubectl get podmetrics`` prints, with metrics-server's columns:
    NAME, CPU and MEMORY (a pod's containers added up), WINDOW."""
    columns = [("Name", "name", "Name of the resource"), ("cpu", "quantity", ""), ("memory", "quantity", ""),
               ("Window", "duration", "")]
    rows = []
    for item in items:
        usages = [c["usage"] for c in item["containers"]] if "containers" in item else [item["usage"]]
        cpu = sum(_parse(u["cpu"]) for u in usages)
        memory = sum(_parse(u["memory"]) for u in usages)
        rows.append({"cells": [item["metadata"]["name"], decimal_quantity(cpu, -9), binary_quantity(memory // 10**9),
                               item["window"]],
                     "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                "metadata": item["metadata"]}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": [{"name": n, "type": "string", "format": f, "description": d, "priority": 0}
                                  for n, f, d in columns],
            "rows": rows}


# -- quantities ------------------------------------------------------------------------------

_DECIMAL_SUFFIXES = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def decimal_quantity(value: int, exponent: int = 0) -> str:
    """``value`` x 10^``exponent`` as Go's resource.Quantity prints a DecimalSI amount: the
    largest power-of-1000 suffix that keeps the number whole (250000000n is ``250m``,
    1500000000n is ``1500m``, 2000000000n is ``2``, 137855343n stays ``137855343n``)."""
    if value == 0:
        return "0"
    while value % 10 == 0:
        value //= 10
        exponent += 1
    while exponent % 3:
        value *= 10
        exponent -= 1
    while exponent > 18:
        value *= 1000
        exponent -= 3
    return f"{value}{_DECIMAL_SUFFIXES[exponent]}"


def _parse(quantity: str) -> int:
    """A quantity in billionths (nanocores, nanobytes), whatever suffix it carries."""
    return int(parse_quantity(quantity).value * 10**9)


def binary_quantity(value: int) -> str:
    """Bytes as Go prints a BinarySI amount: ``123456Ki`` when a multiple of 1024, the plain
    number otherwise, and a decimal suffix below 1024 (``1k`` for 1000 bytes, as Go does)."""
    if -1024 < value < 1024:
        return decimal_quantity(value)
    exponent = 0
    while value % 1024 == 0 and exponent < len(_BINARY_SUFFIXES) - 1:
        value //= 1024
        exponent += 1
    return f"{value}{_BINARY_SUFFIXES[exponent]}"
