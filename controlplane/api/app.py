"""The API server's Flask application: ``create_app(config, store)``.

Where it sits: the top of data flow (A) in ARCHITECTURE.md. A request passes
authentication (``auth.py``), then one of the blueprints in ``handlers/``, which call
the registry, which alone talks to ``controlplane.storage``. Every error, raised
anywhere, becomes one ``metav1.Status`` JSON body here; a client never sees an HTML
page or a stack trace.

The app is stateless apart from its storage handle: any number of processes may
serve the same store. ``server.py`` runs it under gunicorn.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from ..storage import Storage, UnavailableError
from . import errors
from .auth import Authenticator
from .config import APIConfig
from .handlers import health, openapi, resources
from .handlers import bodies
from .handlers.bodies import MAX_BODY
from .handlers.render import dumps
from .nodeclient import NodeClient
from .registry import Registry

log = logging.getLogger(__name__)


@dataclasses.dataclass
class State:
    config: APIConfig
    store: Storage
    registry: Registry
    authenticator: Authenticator
    # How pods/log, pods/exec and metrics.k8s.io reach the node agents.
    nodes: NodeClient = dataclasses.field(default_factory=NodeClient)
    stopping: threading.Event = dataclasses.field(default_factory=threading.Event)

    def close(self) -> None:
        """Stop the background threads (the store itself belongs to whoever opened it)."""
        self.stopping.set()
        self.registry.close()


def create_app(config: APIConfig, store: Storage) -> Flask:
    app = Flask("kubeclass")
    registry = Registry(store)
    if config.bootstrap:
        registry.bootstrap(config.advertise_host, config.advertise_port)
    registry.start()
    nodes = NodeClient(config.kubelet_client_certificate, config.kubelet_client_key,
                       config.kubelet_certificate_authority, config.kubelet_timeout)
    state = app.extensions["kubeclass"] = State(config, store, registry, Authenticator(config.tokens), nodes)
    _start_compactor(state)

    app.register_blueprint(health.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(resources.bp)
    app.before_request(_authenticate)
    app.after_request(_drain_body)
    app.register_error_handler(errors.APIError, _status_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(UnavailableError, _store_unavailable)
    app.register_error_handler(Exception, _unexpected)
    return app


def _authenticate() -> None:
    if health.is_public(request.path):
        return
    user = _state().authenticator.authenticate(request.environ, request.headers.get("Authorization"))
    if user is None:
        raise errors.unauthorized()
    request.kubeclass_user = user


def _drain_body(resp: Response) -> Response:
    bodies.drain()
    return resp


def _state() -> State:
    return current_app.extensions["kubeclass"]


def _status_response(e: errors.APIError) -> Response:
    resp = Response(dumps(e.status()), status=e.code, mimetype="application/json")
    for key, value in e.headers.items():
        resp.headers[key] = value
    return resp


def _http_error(e: HTTPException) -> Response:
    if e.code == 404:
        return _status_response(errors.path_not_found())
    if e.code == 405:
        return _status_response(errors.method_not_allowed())
    if e.code == 413:
        return _status_response(errors.request_entity_too_large(MAX_BODY))
    reason = (e.name or "Error").replace(" ", "")
    return _status_response(errors.APIError(e.code or 500, reason, e.description or e.name or "error"))


def _store_unavailable(e: UnavailableError) -> Response:
    # Not a bug: the store said why (etcd: quorum lost, and how many members answer).
    log.warning("store unavailable for %s %s: %s", request.method, request.path, e)
    return _status_response(errors.service_unavailable(str(e)))


def _unexpected(e: Exception) -> Response:
    # A bug of ours, never the user's fault: log the traceback, answer a plain Status.
    log.exception("unexpected error handling %s %s", request.method, request.path)
    return _status_response(errors.internal_error(f"an unexpected error occurred ({type(e).__name__}); "
                                                  "the API server log has the details"))


def _start_compactor(state: State) -> None:
    """Keep a bounded history: every interval, forget revisions older than the last N."""
    store, config = state.store, state.config

    def loop() -> None:
        while not state.stopping.wait(config.compaction_interval):
            try:
                target = store.current_revision() - config.compaction_keep
                if target > 0:
                    store.compact(target)
            except Exception:  # storage hiccups must not kill the loop; the next pass retries
                log.exception("compaction failed")

    threading.Thread(target=loop, name="compactor", daemon=True).start()
