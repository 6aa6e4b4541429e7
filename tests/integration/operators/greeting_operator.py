"""A small kopf operator, as a student would write one: each Greeting gets a ConfigMap.

Where it sits: outside the cluster, a client like kubectl. ``tests/integration/test_kopf.py``
creates the Greeting CRD (group ``kubeclass.example.com``, with a status subresource) and
runs this file with ``python -m kopf run --standalone --namespace NS greeting_operator.py``
and ``KUBECONFIG`` pointing at the test cluster. kopf watches Greetings, keeps its finalizer
on them and patches their status; the handlers below use the official ``kubernetes`` client.

What it promises, for a Greeting ``hi`` with ``spec: {salutation: Hello, to: world}``:

* on create: a ConfigMap ``hi-greeting`` owned by the Greeting (ownerReferences, so the
  garbage collector removes it with its owner) with ``data.message: "Hello, world!"``;
  kopf stores the handler's result in ``status.create_fn``; an Event ``Greeted`` is posted;
* on a change (of spec, labels or annotations): the ConfigMap follows, the result goes
  to ``status.update_fn``;
* on delete (a finalizer handler: the object stays until it returns): a ConfigMap
  ``hi-farewell``, not owned by the Greeting so that it outlives it, records what the
  handler saw (the deletionTimestamp and the finalizers), and the log says ``farewell``.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
import kubernetes
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "kubeclass.example.com", "v1", "greetings"
# A failed handler is retried after this many seconds (kopf's default is a minute, longer
# than the tests wait).
BACKOFF = 2


@kopf.on.startup()
def configure(**_: Any) -> None:
    # The handlers talk to the cluster with the kubernetes client; kopf has its own connection.
    kubernetes.config.load_kube_config()


def greeting_text(spec: kopf.Spec) -> str:
    return f"{spec.get('salutation', 'Hello')}, {spec['to']}!"


def write_configmap(namespace: str, name: str, data: dict[str, str],
                    owner: kopf.Body | None) -> None:
    """Create the ConfigMap, or bring its data up to date if it exists (a retried handler)."""
    cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": name, "namespace": namespace}, "data": data}
    if owner is not None:
        kopf.adopt(cm, owner=owner)  # ownerReferences (controller, blockOwnerDeletion) and labels
    core = kubernetes.client.CoreV1Api()
    try:
        core.create_namespaced_config_map(namespace, cm)
    except ApiException as e:
        if e.status != 409:
            raise  # kopf retries the handler with back-off
        core.patch_namespaced_config_map(name, namespace, {"data": data},
                                         _content_type="application/merge-patch+json")


@kopf.on.create(GROUP, VERSION, PLURAL, backoff=BACKOFF)
def create_fn(spec: kopf.Spec, name: str, namespace: str, body: kopf.Body,
              logger: logging.Logger, **_: Any) -> dict[str, str]:
    message = greeting_text(spec)
    write_configmap(namespace, f"{name}-greeting", {"message": message}, owner=body)
    kopf.info(body, reason="Greeted", message=message)
    logger.info(f"greeted: {message}")
    return {"message": message}


@kopf.on.update(GROUP, VERSION, PLURAL, backoff=BACKOFF)
def update_fn(spec: kopf.Spec, name: str, namespace: str, body: kopf.Body,
              logger: logging.Logger, **_: Any) -> dict[str, str]:
    message = greeting_text(spec)
    write_configmap(namespace, f"{name}-greeting", {"message": message}, owner=body)
    logger.info(f"greeting changed: {message}")
    return {"message": message}


@kopf.on.delete(GROUP, VERSION, PLURAL, backoff=BACKOFF)
def delete_fn(spec: kopf.Spec, meta: kopf.Meta, name: str, namespace: str,
              logger: logging.Logger, **_: Any) -> None:
    # Not owned by the Greeting: the garbage collector would remove it together with its owner.
    write_configmap(namespace, f"{name}-farewell", {
        "message": f"Goodbye, {spec['to']}!",
        "deletionTimestamp": str(meta.get("deletionTimestamp")),
        "finalizers": ",".join(meta.get("finalizers", [])),
    }, owner=None)
    logger.info(f"farewell: {name} is being deleted")
