"""Fixtures shared by every test tier."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from controlplane.api.app import create_app
from controlplane.api.auth import User
from controlplane.api.config import APIConfig
from controlplane.storage import SQLiteStore
from tests.livecluster import cluster  # noqa: F401  (one real cluster per session, for every tier)

TOKEN = "test-admin-token"


class Api:
    """The Flask app, called over its WSGI interface with the admin's bearer token.

    Real routing, real handlers, real SQLite storage: only the socket is missing.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.client = app.test_client()

    def call(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
             headers: dict[str, str] | None = None, raw: bytes | None = None, token: str | None = TOKEN):
        hdrs = {"Authorization": f"Bearer {token}"} if token else {}
        hdrs.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None and content_type:
            hdrs["Content-Type"] = content_type
        return self.client.open(path, method=method, data=data, headers=hdrs)

    def get(self, path: str, **kw):
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw):
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, body: Any, content_type: str = "application/merge-patch+json", **kw):
        return self.call("PATCH", path, body, content_type=content_type, **kw)

    def delete(self, path: str, body: Any = None, **kw):
        return self.call("DELETE", path, body, **kw)


@pytest.fixture
def store(tmp_path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(str(tmp_path / "api.db"))
    yield s
    s.close()


@pytest.fixture
def api(store) -> Iterator[Api]:
    config = APIConfig(tokens={TOKEN: User("admin", ("system:masters",))}, bookmark_interval=0.5,
                       compaction_interval=3600)
    app = create_app(config, store)
    yield Api(app)
    app.extensions["kubeclass"].close()
