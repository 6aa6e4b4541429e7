"""Health and version: the only endpoints anyone may call without credentials.

Where it sits: load balancers and ``kubeclass up`` poll ``/readyz``; kubectl (and the
gcloud kubectl dispatcher, which picks its kubectl binary by our minor version)
reads ``/version``. ``/readyz`` checks that storage answers; ``?verbose`` lists the
checks the way the apiserver does.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from ... import GIT_VERSION, KUBERNETES_VERSION
from .render import dumps

bp = Blueprint("health", __name__)

PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")


def is_public(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PUBLIC_PATHS)


def _storage_ok() -> tuple[bool, str]:
    try:
        current_app.extensions["kubeclass"].store.current_revision()
        return True, "ok"
    except Exception as e:  # any failure of the backend means "not ready"; say which
        return False, f"storage: {e}"


def _report(name: str, checks: list[tuple[str, bool, str]]) -> Response:
    healthy = all(ok for _, ok, _ in checks)
    if "verbose" in request.args:
        lines = [f"[{'+' if ok else '-'}]{check} {'ok' if ok else 'failed: ' + why}" for check, ok, why in checks]
        lines.append(f"{name} check {'passed' if healthy else 'failed'}")
        text = "\n".join(lines) + "\n"
    else:
        text = "ok" if healthy else f"[-]{next(c for c, ok, _ in checks if not ok)} failed: reason withheld\n{name} check failed"
    return Response(text, status=200 if healthy else 500, mimetype="text/plain")


@bp.route("/healthz", strict_slashes=False)
@bp.route("/livez", strict_slashes=False)
def live() -> Response:
    return _report(request.path.strip("/"), [("ping", True, "")])


@bp.route("/readyz", strict_slashes=False)
def ready() -> Response:
    ok, why = _storage_ok()
    return _report("readyz", [("ping", True, ""), ("storage", ok, why)])


@bp.route("/version", strict_slashes=False)
def version() -> Response:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    body = {
        "major": major, "minor": minor, "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-11-22T00:00:00Z", "goVersion": "python", "compiler": "cpython",
        "platform": "linux/amd64",
    }
    return Response(dumps(body), mimetype="application/json")
