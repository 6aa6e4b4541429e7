"""The cluster client: how controllers, the scheduler and node agents reach the API server.

Everything here speaks HTTP(S) to the API server and nothing else; it never imports
``controlplane.api`` or ``controlplane.storage`` (import-linter checks it). Read it in
the order data flows:

* :mod:`.kubeconfig` - where the cluster is and who we are;
* :mod:`.rest` - :class:`~.rest.Client`: verbs, failover between masters, Status errors;
* :mod:`.resources` - (group, version, resource, namespace) -> URL path;
* :mod:`.discovery` - what the server serves; (apiVersion, kind) -> resource;
* :mod:`.watch` - one open watch stream;
* :mod:`.informer` - list, watch, relist on 410, into a cache (:mod:`.cache`);
* :mod:`.workqueue` - fair, stingy, rate-limited queue of keys for workers;
* :mod:`.fake` - an in-memory client and a scripted HTTP transport for tests.
"""

from .errors import ApiError, Expired, ServerUnavailable, is_already_exists, is_conflict, is_gone, is_not_found
from .informer import Informer, InformerFactory
from .kubeconfig import ConnectionConfig, load_kubeconfig
from .resources import Resource
from .rest import Client
from .workqueue import WorkQueue

__all__ = [
    "ApiError", "Client", "ConnectionConfig", "Expired", "Informer", "InformerFactory", "Resource",
    "ServerUnavailable", "WorkQueue", "is_already_exists", "is_conflict", "is_gone", "is_not_found",
    "load_kubeconfig",
]
